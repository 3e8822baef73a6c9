"""Each source's polling record: what was last fetched, when, and how it failed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from watcher.model import Kind, Target
from watcher.store.database import Database
from watcher.store.records import (
    SourceRow,
    SourceState,
    Touch,
    source_row,
)
from watcher.store.retention import prune_batch
from watcher.store.schema import (
    SOURCE_BY_NAME,
    sources,
)
from watcher.store.writes import record_success, source_event, source_of


class SourceRecords(Database):
    """The `sources` table: one row a target, its validators, its failures."""

    def source(self, name: str) -> SourceRow | None:
        with self._read() as conn:
            row = conn.execute(SOURCE_BY_NAME, {"name": name}).first()
        return source_row(row) if row is not None else None

    def source_states(self) -> list[SourceState]:
        """Every source's polling record, for `watcher status` and the metrics."""
        query = sa.select(
            sources.c.name,
            sources.c.source,
            sources.c.kind,
            sources.c.last_poll_at,
            sources.c.last_success_at,
            sources.c.last_change_at,
            sources.c.last_error,
            sources.c.last_error_at,
            sources.c.failures,
            sources.c.title,
            sources.c.held,
        ).order_by(sources.c.name)
        with self._read() as conn:
            return [SourceState(*tuple(row)) for row in conn.execute(query)]

    def sources_by_name(self) -> dict[str, SourceRow]:
        """Every source's row, read at once: a pass over many sources needs them all."""
        with self._read() as conn:
            return {r.name: source_row(r) for r in conn.execute(sa.select(sources))}

    def record_unchanged(self, touches: Sequence[Touch], errors_to: Sequence[str] = ()) -> None:
        """Notes polls that found nothing new, many in one transaction and one statement."""
        if not touches:
            return
        polls = [
            {
                "source_id": t.source_id,
                "etag": t.etag,
                "last_modified": t.last_modified,
                "content_hash": None,
                "changed": False,
            }
            for t in touches
        ]
        with self._write() as conn:
            record_success(conn, polls, errors_to, time.time())

    def record_failure(
        self,
        target: Target,
        kind: str,
        reason: str,
        errors_to: Sequence[str] = (),
        bad_hash: str | None = None,
    ) -> None:
        """Notes a failed poll; entries, revisions and validators stay as they were.

        The first failure after a success is an event for the `errors_to` channels; the
        ones after it are not, so a source that stays down alerts once. `bad_hash` is the
        hash of the body this failure was about, if it was one that could not be read.
        """
        now = time.time()
        values: dict[str, Any] = {
            "last_poll_at": now,
            "last_error": reason,
            "last_error_at": now,
            "failures": sources.c.failures + 1,
            "bad_hash": bad_hash,
        }
        with self._write() as conn:
            source = source_of(conn, target, kind)
            conn.execute(sources.update().where(sources.c.id == source.id).values(values))
            if not source.failures:
                source_event(conn, source.id, Kind.DOWN, reason, errors_to, now)

    def prune(self, before: float, batch: int = 2000) -> int:
        """Deletes the history older than `before` that nothing needs (see retention.py),
        a batch a transaction; returns how many rows went."""
        total = 0
        while True:
            with self._write() as conn:
                gone = prune_batch(conn, before, batch)
            total += gone
            if gone == 0:
                return total
