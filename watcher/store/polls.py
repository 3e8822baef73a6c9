"""One poll's transaction: read the stored entries, then write the outcome at once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator as _Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from watcher.diff import Comparison
from watcher.failpoints import fires
from watcher.model import Event, Kind, StoredEntry, Target
from watcher.store.claiming import ClaimLost
from watcher.store.database import Database
from watcher.store.records import SourceRow
from watcher.store.schema import (
    ACTIVE_ENTRIES,
    HOLDER_LOCKED,
    IDS_BY_KEY,
    deliveries,
    entries,
    events,
    revisions,
    sources,
)
from watcher.store.writes import (
    insert_many,
    match_tuple,
    pending_row,
    record_success,
    source_event,
    source_of,
)


class PollTransaction:
    """The open transaction of one poll (see Store.poll)."""

    def __init__(self, conn: Connection, source: SourceRow) -> None:
        self._conn = conn
        self.source = source

    def entries(self) -> list[StoredEntry]:
        if not self.source.baselined:  # entries are only ever saved with the baseline
            return []
        rows = self._conn.execute(ACTIVE_ENTRIES, {"source_id": self.source.id}).all()
        return [
            StoredEntry(r.id, r.key, r.title, r.body, r.position, r.url, r.revision) for r in rows
        ]

    def save(
        self,
        comparison: Comparison,
        alerts: Sequence[Event],
        etag: str | None,
        last_modified: str | None,
        content_hash: str,
        errors_to: Sequence[str] = (),
    ) -> list[tuple[Event, int]]:
        """Writes the snapshot's outcome; returns each event with its id."""
        if fires("store.drop_connection") and self._conn.dialect.name == "postgresql":
            self._conn.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
        conn, now, source_id = self._conn, time.time(), self.source.id
        ids: dict[str, tuple[int, int]] = {}  # key -> (entry id, revision)
        new_revisions: list[dict[str, Any]] = []

        # Rows of entries that come back after being removed are reused, keeping history.
        fresh = [s for s in comparison.slots if s.stored is None]
        returning: dict[str, tuple[int, int]] = {}
        if fresh and self.source.baselined:
            keys = [s.key for s in fresh]
            for row in conn.execute(IDS_BY_KEY, {"source_id": source_id, "keys": keys}):
                returning[row.key] = (row.id, row.revision)
        inserts: list[dict[str, Any]] = []
        rewrites: list[dict[str, Any]] = []  # entries with a new revision
        moves: list[dict[str, Any]] = []  # entries that only moved
        for position, slot in enumerate(comparison.slots):
            entry = slot.entry
            fields = {"title": entry.title, "body": entry.body, "url": entry.url}
            if slot.stored is None and slot.key not in returning:
                inserts.append(
                    {
                        **fields,
                        "source_id": source_id,
                        "key": slot.key,
                        "position": position,
                        "revision": 1,
                        "first_seen": now,
                        "updated_at": now,
                    }
                )
            elif slot.stored is None or slot.revised:
                entry_id, revision = (
                    returning[slot.key]
                    if slot.stored is None
                    else (slot.stored.id, slot.stored.revision)
                )
                rewrites.append(
                    {**fields, "eid": entry_id, "position": position, "revision": revision + 1}
                )
                ids[slot.key] = (entry_id, revision + 1)
                new_revisions.append(
                    {
                        "entry_id": entry_id,
                        "revision": revision + 1,
                        "title": entry.title,
                        "body": entry.body,
                    }
                )
            elif slot.stored.position != position:
                moves.append({"eid": slot.stored.id, "position": position})
        by_id = entries.c.id == sa.bindparam("eid")
        if rewrites:
            conn.execute(
                entries.update().where(by_id).values(removed_at=None, updated_at=now), rewrites
            )
        if moves:
            conn.execute(entries.update().where(by_id), moves)
        if inserts:
            # One INSERT for all, then their ids by key: asking for the ids back in order
            # (RETURNING, sorted) makes SQLAlchemy insert one row a statement on SQLite.
            insert_many(conn, entries, inserts)
            keys = [str(values["key"]) for values in inserts]
            found = {
                row.key: row.id
                for row in conn.execute(IDS_BY_KEY, {"source_id": source_id, "keys": keys})
            }
            for values in inserts:
                entry_id = found[str(values["key"])]
                ids[str(values["key"])] = (entry_id, 1)
                new_revisions.append(
                    {
                        "entry_id": entry_id,
                        "revision": 1,
                        "title": values["title"],
                        "body": values["body"],
                    }
                )
        if new_revisions:
            insert_many(conn, revisions, [{**r, "created_at": now} for r in new_revisions])
        for gone in comparison.removed:
            conn.execute(entries.update().where(entries.c.id == gone.id).values(removed_at=now))
            ids[gone.key] = (gone.id, gone.revision)

        saved: list[tuple[Event, int]] = []
        if alerts:
            rows = [
                {
                    "source_id": source_id,
                    "entry_id": ids[e.change.key][0],
                    "revision": ids[e.change.key][1],
                    "kind": e.change.kind.value,
                    "created_at": now,
                    "tags": json.dumps(e.tags),
                    "matches": json.dumps([list(match_tuple(m)) for m in e.matches]),
                    "diff": json.dumps(e.change.diff) if e.change.diff else None,
                    "priority": e.priority,
                }
                for e in alerts
            ]
            # Unsorted RETURNING is one statement; each row says which event it is.
            result = conn.execute(
                events.insert().returning(events.c.id, events.c.entry_id, events.c.kind), rows
            )
            event_ids = {(row.entry_id, row.kind): row.id for row in result}
            saved = [
                (e, event_ids[(r["entry_id"], r["kind"])])
                for e, r in zip(alerts, rows, strict=True)
            ]
            outbox = [pending_row(event_id, c, now) for e, event_id in saved for c in e.channels]
            if outbox:
                conn.execute(deliveries.insert(), outbox)

        poll = {
            "source_id": source_id,
            "etag": etag,
            "last_modified": last_modified,
            "content_hash": content_hash,
            "changed": bool(new_revisions or comparison.removed),
        }
        record_success(conn, [poll], errors_to, now)
        return saved

    def hold(self, signature: str) -> None:
        """Holds a suspect poll back: nothing of it is saved but when it was first seen and
        `signature`, what it would have done, which the next poll must repeat to confirm
        it."""
        now = time.time()
        self._conn.execute(
            sources.update()
            .where(sources.c.id == self.source.id)
            .values(
                held_since=sa.func.coalesce(sources.c.held_since, now),
                held=signature,
                last_poll_at=now,
            )
        )

    def tell(self, kind: Kind, detail: str, channels: Sequence[str]) -> None:
        """An event about the source itself (not one of its entries) for `channels`."""
        source_event(self._conn, self.source.id, kind, detail, channels, time.time())


class Polling(Database):
    """The poll transaction, under the source's row lock and its claim."""

    @contextmanager
    def poll(
        self, target: Target, kind: str, owner: str | None = None
    ) -> _Iterator[PollTransaction]:
        """One transaction for one poll: read the stored entries, then save the outcome.

        The source's row is locked first, so that two polls of one source (a daemon's and
        a `check`'s) take turns, the second diffing against what the first saved. With
        `owner`, the poll was made under that instance's claim on the source, which must
        still be its own: else nothing is saved (ClaimLost), the new holder polls again.
        """
        with self._write() as conn:
            source = source_of(conn, target, kind, lock=True)
            if owner is not None:
                holder = conn.execute(HOLDER_LOCKED, {"claim_name": target.source}).scalar()
                if holder != owner:
                    raise ClaimLost(target.source)
            yield PollTransaction(conn, source)
