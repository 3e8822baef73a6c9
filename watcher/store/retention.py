"""Pruning: what is older than the retention period goes, a batch a transaction.

Kept whatever its age: the current revision of every entry that is still shown (it is
what the next poll is compared with), every revision an event still points at, and
every event with a delivery still pending. Batches keep each transaction short, so that
polls are never held up for long behind a large prune.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from watcher.model import DeliveryStatus
from watcher.store.schema import IS_CURRENT, deliveries, entries, events, revisions, sends

IdQuery = sa.Select[Any]


def _ids(column: sa.Column[int], where: sa.ColumnElement[bool], batch: int) -> IdQuery:
    return sa.select(column).where(where).limit(batch)


def prune_batch(conn: Connection, before: float, batch: int) -> int:
    """Deletes up to about `batch` rows of each kind older than `before`; returns how
    many rows went in all (0: nothing is left to prune)."""
    pending = sa.exists().where(
        deliveries.c.event_id == events.c.id, deliveries.c.status == DeliveryStatus.PENDING
    )
    # Events, with their deliveries: old, and nothing of them still to send.
    old_events = [
        row[0]
        for row in conn.execute(
            _ids(events.c.id, sa.and_(events.c.created_at < before, ~pending), batch)
        )
    ]
    gone = 0
    if old_events:
        settled = deliveries.delete().where(deliveries.c.event_id.in_(old_events))
        gone += conn.execute(settled).rowcount
        gone += conn.execute(events.delete().where(events.c.id.in_(old_events))).rowcount

    # Entries removed long ago, when no event points at them any more.
    referenced = sa.exists().where(events.c.entry_id == entries.c.id)
    old_entries = [
        row[0]
        for row in conn.execute(
            _ids(
                entries.c.id,
                sa.and_(entries.c.removed_at < before, ~referenced),
                batch,
            )
        )
    ]
    if old_entries:
        gone += conn.execute(
            revisions.delete().where(revisions.c.entry_id.in_(old_entries))
        ).rowcount
        gone += conn.execute(entries.delete().where(entries.c.id.in_(old_entries))).rowcount

    # Earlier revisions: not an entry's current one, and no event's.
    current = sa.exists().where(IS_CURRENT)
    cited = sa.exists().where(
        events.c.entry_id == revisions.c.entry_id, events.c.revision == revisions.c.revision
    )
    old_revisions = _ids(
        revisions.c.id, sa.and_(revisions.c.created_at < before, ~current, ~cited), batch
    )
    gone += conn.execute(
        revisions.delete().where(revisions.c.id.in_(old_revisions.scalar_subquery()))
    ).rowcount
    gone += conn.execute(
        sends.delete().where(
            sends.c.id.in_(_ids(sends.c.id, sends.c.sent_at < before, batch).scalar_subquery())
        )
    ).rowcount
    return int(gone)
