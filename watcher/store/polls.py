"""One poll's transaction: read the stored entries, then write the outcome at once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator as _Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from watcher.failpoints import fires
from watcher.model import Comparison, Event, Kind, Slot, StoredEntry, Target
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
            StoredEntry(r.id, r.key, r.title, r.body, r.position, r.url, r.revision, r.digest)
            for r in rows
        ]

    def save(
        self,
        comparison: Comparison,
        alerts: Sequence[Event],
        etag: str | None,
        last_modified: str | None,
        content_hash: str,
        errors_to: Sequence[str] = (),
        title: str = "",
    ) -> list[tuple[Event, int]]:
        """Writes the snapshot's outcome, step by step: the entries and their new
        revisions, the removals, the events and their deliveries, then the source's
        record of a good poll. Returns each event with its id."""
        if fires("store.drop_connection") and self._conn.dialect.name == "postgresql":
            self._conn.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
        now = time.time()
        plan = _Plan(self.source.id, now, self._returning(comparison))
        for position, slot in enumerate(comparison.slots):
            plan.add(slot, position)
        self._write_entries(plan)
        for gone in comparison.removed:
            self._conn.execute(
                entries.update().where(entries.c.id == gone.id).values(removed_at=now)
            )
            plan.ids[gone.key] = (gone.id, gone.revision)
        saved = self._write_events(alerts, plan.ids, now)
        if title:
            self._conn.execute(
                sources.update().where(sources.c.id == self.source.id).values(title=title)
            )
        poll = {
            "source_id": self.source.id,
            "etag": etag,
            "last_modified": last_modified,
            "content_hash": content_hash,
            "changed": bool(plan.revisions or comparison.removed),
        }
        failing = [self.source.id] if self.source.failures else []  # as read, under its lock
        record_success(self._conn, [poll], errors_to, now, failing)
        return saved

    def _returning(self, comparison: Comparison) -> dict[str, tuple[int, int]]:
        """(id, revision) of the stored rows of entries that come back after being
        removed: their rows are reused, keeping their history."""
        fresh = [s.key for s in comparison.slots if s.stored is None]
        if not fresh or not self.source.baselined:
            return {}
        params = {"source_id": self.source.id, "keys": fresh}
        return {row.key: (row.id, row.revision) for row in self._conn.execute(IDS_BY_KEY, params)}

    def _write_entries(self, plan: _Plan) -> None:
        conn = self._conn
        by_id = entries.c.id == sa.bindparam("eid")
        if plan.rewrites:
            conn.execute(
                entries.update().where(by_id).values(removed_at=None, updated_at=plan.now),
                plan.rewrites,
            )
        if plan.moves:
            conn.execute(entries.update().where(by_id), plan.moves)
        if plan.inserts:
            # One INSERT for all, then their ids by key: asking for the ids back in order
            # (RETURNING, sorted) makes SQLAlchemy insert one row a statement on SQLite.
            insert_many(conn, entries, plan.inserts)
            keys = [str(values["key"]) for values in plan.inserts]
            params = {"source_id": plan.source_id, "keys": keys}
            found = {row.key: row.id for row in conn.execute(IDS_BY_KEY, params)}
            for key, text in plan.texts.items():
                plan.revised(key, found[key], 1, text)
        if plan.revisions:
            rows = [{**r, "created_at": plan.now} for r in plan.revisions]
            insert_many(conn, revisions, rows)

    def _write_events(
        self, alerts: Sequence[Event], ids: dict[str, tuple[int, int]], now: float
    ) -> list[tuple[Event, int]]:
        """The events, and a pending delivery for each of their channels."""
        if not alerts:
            return []
        rows = [
            {
                "source_id": self.source.id,
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
        result = self._conn.execute(
            events.insert().returning(events.c.id, events.c.entry_id, events.c.kind), rows
        )
        event_ids = {(row.entry_id, row.kind): row.id for row in result}
        saved = [
            (e, event_ids[(r["entry_id"], r["kind"])]) for e, r in zip(alerts, rows, strict=True)
        ]
        outbox = [pending_row(event_id, c, now) for e, event_id in saved for c in e.channels]
        if outbox:
            self._conn.execute(deliveries.insert(), outbox)
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


@dataclass
class _Plan:
    """What a poll writes to `entries` and `revisions`, worked out slot by slot."""

    source_id: int
    now: float
    returning: dict[str, tuple[int, int]]
    inserts: list[dict[str, Any]] = field(default_factory=list)
    rewrites: list[dict[str, Any]] = field(default_factory=list)  # a new revision
    moves: list[dict[str, Any]] = field(default_factory=list)  # only moved
    revisions: list[dict[str, Any]] = field(default_factory=list)
    ids: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (id, revision)
    texts: dict[str, dict[str, str]] = field(default_factory=dict)  # of inserts, by key

    def add(self, slot: Slot, position: int) -> None:
        entry = slot.entry
        text = {"title": entry.title, "body": entry.body}  # the revision's: stored once
        fields = {
            "url": entry.url,
            "published": entry.published or entry.updated,
            "digest": entry.digest,
        }
        if slot.stored is None and slot.key not in self.returning:
            self.texts[slot.key] = text
            self.inserts.append(
                {
                    **fields,
                    "source_id": self.source_id,
                    "key": slot.key,
                    "position": position,
                    "revision": 1,
                    "first_seen": self.now,
                    "updated_at": self.now,
                }
            )
        elif slot.stored is None or slot.revised:
            entry_id, revision = (
                self.returning[slot.key]
                if slot.stored is None
                else (slot.stored.id, slot.stored.revision)
            )
            self.rewrites.append(
                {**fields, "eid": entry_id, "position": position, "revision": revision + 1}
            )
            self.revised(slot.key, entry_id, revision + 1, text)
        elif slot.stored.position != position or slot.stored.digest != entry.digest:
            # Moved, or its item written otherwise to the same text: the new digest saves
            # reading it again next time.
            self.moves.append({"eid": slot.stored.id, "position": position, "digest": entry.digest})

    def revised(self, key: str, entry_id: int, revision: int, text: dict[str, str]) -> None:
        self.ids[key] = (entry_id, revision)
        self.revisions.append({"entry_id": entry_id, "revision": revision, **text})


class Polling(Database):
    """The poll transaction, under the source's row lock and its claim."""

    def digests(self, source_id: int) -> dict[str, str]:
        """The item digests of a source's current entries, by key (Entry.digest)."""
        query = sa.select(entries.c.key, entries.c.digest).where(
            entries.c.source_id == source_id,
            entries.c.removed_at.is_(None),
            entries.c.digest.is_not(None),
        )
        with self._read() as conn:
            return {row.key: row.digest for row in conn.execute(query)}

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
