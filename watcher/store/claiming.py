"""Claims: which instance polls a source or drains a channel, and until when it is due.

A claim is held while its owner lives (liveness.py); each is one row of `claims`, taken
with one statement that skips rows another instance has locked."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from watcher.store.database import Database
from watcher.store.engine import (
    StoreError,
)
from watcher.store.records import (
    ClaimRow,
    SourceRow,
    source_row,
)
from watcher.store.schema import (
    CLAIM_ANY,
    CLAIM_DUE,
    CLAIMS,
    HOLDER,
    PAUSED,
    RELEASE,
    SOURCES_BY_NAMES,
    claims,
)


def _insert_new(conn: Connection, table: sa.Table) -> Any:
    """An INSERT that does nothing when the row is there already (both dialects)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def _claim(conn: Connection, name: str, owner: str, now: float, due: bool) -> bool:
    params = {"claim_name": name, "me": owner, "at": now}
    if conn.execute(CLAIM_DUE if due else CLAIM_ANY, params).first() is not None:
        return True
    if conn.execute(sa.select(claims.c.name).where(claims.c.name == name)).first():
        return False  # due later, or another live instance's
    # A name never claimed before (a channel, or a source added since the start).
    inserted = conn.execute(
        _insert_new(conn, claims)
        .values(name=name, next_due=now, owner=owner)
        .returning(claims.c.name)
    ).first()
    return inserted is not None  # None: another instance inserted it first


class ClaimLost(StoreError):
    """Another instance holds the claim this work was done under: it is not saved."""

    def __init__(self, name: str) -> None:
        super().__init__(f"lost the claim on {name} to another instance", retryable=True)


class Claims(Database):
    """Taking, checking and giving back claims."""

    def ensure_claims(self, names: Sequence[str]) -> None:
        """Rows in `claims` for these names, due at once if they are new."""
        if not names:
            return
        now = time.time()
        with self._write() as conn:
            conn.execute(
                _insert_new(conn, claims),
                [{"name": name, "next_due": now} for name in names],
            )

    def claim(self, name: str, owner: str, now: float | None = None, due: bool = True) -> bool:
        """Takes `name` (a source, or `channel:<name>`) for `owner`, a registered
        instance, if it is due (unless `due` is False) and free, `owner`'s already, or
        held by an instance that is no longer alive.

        One statement: the row is picked FOR UPDATE SKIP LOCKED on PostgreSQL, so an
        instance never waits on another's claim, it moves on; SQLite serialises writers,
        which does the same.
        """
        with self._write() as conn:
            return _claim(conn, name, owner, time.time() if now is None else now, due)

    def claim_source(
        self, name: str, owner: str, now: float, targets: Sequence[str]
    ) -> dict[str, SourceRow] | None:
        """Claims a due source as `claim` does and, in the same transaction, reads the rows
        of its targets (their validators and content hashes) for the poll: one round of
        the database before a poll, not two. None if the claim was not had."""
        with self._write() as conn:
            if not _claim(conn, name, owner, now, due=True):
                return None
            found = conn.execute(SOURCES_BY_NAMES, {"names": list(targets)})
            return {row.name: source_row(row) for row in found}

    def holds(self, name: str, owner: str) -> bool:
        """Whether `owner` (this process) holds the claim `name` now: asked on the session
        whose liveness lock keeps the claim ours, so that a yes is proof, not a memory.
        Asked before each send; a database out of reach is a no."""
        try:
            with self._guard():
                return bool(self.liveness.scalar(HOLDER, {"claim_name": name}) == owner)
        except StoreError:
            return False

    def release(self, name: str, owner: str, next_due: float | None = None) -> None:
        """Gives a claim back; `next_due` is when the work is due again."""
        params = {"claim_name": name, "me": owner, "at": time.time(), "due_at": next_due}
        with self._write() as conn:
            conn.execute(RELEASE, params)

    def request(self, names: Sequence[str], what: str) -> set[str]:
        """For `watcher poll`, `pause` and `resume`, which a running daemon picks up:
        `poll` makes the sources due now (and their backoff is forgotten), `pause` never
        due until `resume` makes them due now. Returns the names it changed: a paused
        source is not polled, and one that is not paused is not resumed."""
        self.ensure_claims(names)
        due = claims.c.next_due
        where = {"poll": due < PAUSED, "pause": sa.true(), "resume": due >= PAUSED}[what]
        value = PAUSED if what == "pause" else 0.0
        update = claims.update().where(claims.c.name.in_(names), where).values(next_due=value)
        with self._write() as conn:
            return set(conn.execute(update.returning(claims.c.name)).scalars())

    def claim_rows(self) -> list[ClaimRow]:
        with self._read() as conn:
            return [ClaimRow(*row) for row in conn.execute(CLAIMS)]
