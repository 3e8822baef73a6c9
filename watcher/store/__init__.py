"""The store: sources, entries, every revision, events and the delivery outbox.

SQLAlchemy Core over SQLite (WAL) by default. A poll's snapshot, its events and their
pending deliveries are written in one transaction: a crash before the commit loses
nothing (the next poll sees the same change again), and a crash after it makes no second
event (the change is already stored). Deliveries are sent after the commit, from the
outbox, and marked done one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from watcher.model import Alert, Kind
from watcher.sources.base import Target
from watcher.store.engine import (
    StoreError,
    TurnLock,
    connect,
    explain,
    label,
    normalize_url,
    sqlite_file,
)
from watcher.store.liveness import FileLiveness, Liveness, SessionLiveness
from watcher.store.migrations import SCHEMA_VERSION, migrate
from watcher.store.polls import PollTransaction
from watcher.store.records import (
    ClaimRow,
    Delivery,
    EntryRow,
    HistoryRow,
    RevisionRow,
    SourceRow,
    SourceState,
    Touch,
    delivery_of,
    source_row,
)
from watcher.store.retention import prune_batch
from watcher.store.schema import (
    CLAIM_ANY,
    CLAIM_DUE,
    CLAIMS,
    DELIVERIES,
    HOLDER,
    HOLDER_LOCKED,
    RELEASE,
    SOURCE_BY_NAME,
    SOURCES_BY_NAMES,
    claims,
    deliveries,
    entries,
    events,
    meta,
    revisions,
    sends,
    sources,
)
from watcher.store.writes import record_success, source_event, source_of


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


T = TypeVar("T")
STORE_THREADS = 8  # transactions in flight at once against a server database

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "ClaimLost",
    "Delivery",
    "PollTransaction",
    "SourceRow",
    "Store",
    "StoreError",
    "Touch",
    "claims",
    "deliveries",
    "entries",
    "events",
    "meta",
    "revisions",
    "sends",
    "sources",
]


class Store:
    def __init__(self, url: str, busy_timeout: float = 10.0) -> None:
        self.url = normalize_url(url)
        self.label = label(self.url)
        self._busy_timeout = busy_timeout
        database = sqlite_file(self.url)
        self._turn: contextlib.AbstractContextManager[object] = (
            TurnLock(f"{database}.lock", busy_timeout, self.label)
            if database
            else contextlib.nullcontext()
        )
        self.engine = connect(self.url, busy_timeout)
        # A server database takes writers in parallel, and each statement waits on the
        # network: its work is worth moving off the event loop. SQLite's is not.
        self.concurrent = not self.url.startswith("sqlite")
        self._threads = ThreadPoolExecutor(STORE_THREADS, "store") if self.concurrent else None
        self.liveness: Liveness
        if self.concurrent:
            self.liveness = SessionLiveness(self.engine)
        else:
            local = database or os.path.join(tempfile.gettempdir(), f"watcher-{os.getpid()}")
            files = FileLiveness(self.engine, local)
            files.install()
            self.liveness = files
        with self._guard():
            migrate(self.engine, self.label)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turns driver errors into StoreErrors that say what is wrong with the database."""
        try:
            yield
        except sa.exc.DBAPIError as exc:
            raise explain(exc, self.label, self._busy_timeout) from None

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
        self.liveness.close()
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction. With SQLite, processes take turns through a file lock
        first: SQLite's own busy wait sleeps up to 100 ms a try, which would leave
        check's workers idle while the lock they wait for was long free."""
        with self._guard(), self._turn, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._guard(), self.engine.connect() as conn:
            yield conn.execution_options(sqlite_begin="DEFERRED")

    # Sources ----------------------------------------------------------------------------

    def source(self, name: str) -> SourceRow | None:
        with self._read() as conn:
            row = conn.execute(SOURCE_BY_NAME, {"name": name}).first()
        return source_row(row) if row is not None else None

    def source_states(self) -> list[SourceState]:
        """Every source's polling record, for `watcher status` and the metrics."""
        query = sa.select(
            sources.c.name,
            sources.c.kind,
            sources.c.last_poll_at,
            sources.c.last_success_at,
            sources.c.last_change_at,
            sources.c.last_error,
            sources.c.last_error_at,
            sources.c.failures,
        ).order_by(sources.c.name)
        with self._read() as conn:
            return [SourceState(*row) for row in conn.execute(query)]

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

    # Claims -----------------------------------------------------------------------------

    async def call(self, work: Callable[..., T], *args: Any) -> T:
        """Runs store work from the event loop: in a thread for a server database, whose
        waits on the network then overlap; inline for SQLite."""
        if self._threads is None:
            return work(*args)
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, functools.partial(work, *args)
        )

    def register(self, instance: str) -> None:
        """Makes this process `instance` for as long as it runs: claims are taken and
        kept under that name, and end when the process (or its database session) does.
        Raises StoreError if a running instance has the name."""
        with self._guard():
            self.liveness.register(instance)

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

    def keep_alive(self) -> None:
        """Renews this process's liveness session if the database dropped it, so that
        other instances do not take it for dead for long."""
        with self._guard():
            self.liveness.renew()

    def release(self, name: str, owner: str, next_due: float | None = None) -> None:
        """Gives a claim back; `next_due` is when the work is due again."""
        params = {"claim_name": name, "me": owner, "at": time.time(), "due_at": next_due}
        with self._write() as conn:
            conn.execute(RELEASE, params)

    def claim_rows(self) -> list[ClaimRow]:
        with self._read() as conn:
            return [ClaimRow(*row) for row in conn.execute(CLAIMS)]

    # Polls ------------------------------------------------------------------------------

    @contextmanager
    def poll(
        self, target: Target, kind: str, owner: str | None = None
    ) -> Iterator[PollTransaction]:
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

    # Outbox -----------------------------------------------------------------------------

    BATCH = 500

    def pending(self, channel: str | None = None, after: int = 0) -> list[Delivery]:
        """Pending deliveries, oldest first, from the first with an id above `after`;
        those of one channel, or of all."""
        query = DELIVERIES.where(deliveries.c.status == "pending", deliveries.c.id > after)
        if channel is not None:
            query = query.where(deliveries.c.channel == channel)
        with self._read() as conn:
            rows = conn.execute(query.order_by(deliveries.c.id).limit(self.BATCH)).all()
        return [delivery_of(r) for r in rows]

    def recently_sent(self, channel: str, since: float) -> list[Delivery]:
        """Deliveries the channel sent since `since`, for suppressing copies of them."""
        query = DELIVERIES.where(
            deliveries.c.channel == channel,
            deliveries.c.status == "done",
            deliveries.c.done_at >= since,
        )
        with self._read() as conn:
            return [delivery_of(r) for r in conn.execute(query.order_by(deliveries.c.id))]

    def send_times(self, channel: str, since: float) -> list[float]:
        """When the channel sent its messages since `since` (for its rate limit)."""
        query = sa.select(sends.c.sent_at).where(
            sends.c.channel == channel, sends.c.sent_at >= since
        )
        with self._read() as conn:
            return [float(t) for t in conn.execute(query).scalars()]

    def delivered(self, channel: str, ids: Sequence[int]) -> None:
        """Marks the deliveries of one message done, and notes the message."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(ids))
                .values(
                    status="done", attempts=deliveries.c.attempts + 1, done_at=now, last_error=None
                )
            )
            conn.execute(sends.insert().values(channel=channel, sent_at=now, deliveries=len(ids)))

    def delivery_failed(self, ids: Sequence[int], reason: str, retry_at: float | None) -> None:
        """Records a failed send: pending again at `retry_at`, or failed for good if None."""
        values: dict[str, Any] = {"attempts": deliveries.c.attempts + 1, "last_error": reason}
        if retry_at is None:
            values.update(status="failed", done_at=time.time())
        else:
            values["next_attempt_at"] = retry_at
        with self._write() as conn:
            conn.execute(deliveries.update().where(deliveries.c.id.in_(ids)).values(values))

    def dropped(self, delivery_id: int, reason: str) -> None:
        """A delivery that is not sent, by the channel's choice; the reason is kept."""
        with self._write() as conn:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery_id)
                .values(status="dropped", last_error=reason, done_at=time.time())
            )

    def history(
        self, source: str | None = None, since: float | None = None
    ) -> Iterator[HistoryRow]:
        """Every revision of every entry (and each removal), entry by entry, streamed.

        `source` is a stored name or a configured one (which covers `name/...`). Revisions
        before `since` still come, so that the first after it has its predecessor.
        """
        query = (
            sa.select(
                sources.c.name.label("source"),
                entries.c.id.label("entry_id"),
                entries.c.key,
                entries.c.url,
                entries.c.removed_at,
                entries.c.revision.label("current"),
                revisions.c.revision,
                revisions.c.title,
                revisions.c.body,
                revisions.c.created_at,
            )
            .select_from(
                revisions.join(entries, revisions.c.entry_id == entries.c.id).join(
                    sources, entries.c.source_id == sources.c.id
                )
            )
            .order_by(entries.c.id, revisions.c.revision)
        )
        if source is not None:
            query = query.where(
                sa.or_(sources.c.name == source, sources.c.name.startswith(f"{source}/"))
            )
        if since is not None:
            touched = sa.select(revisions.c.entry_id).where(revisions.c.created_at >= since)
            query = query.where(sa.or_(entries.c.id.in_(touched), entries.c.removed_at >= since))
        with self._read() as conn:
            for row in conn.execution_options(yield_per=500).execute(query):
                revision = HistoryRow(
                    row.source,
                    row.entry_id,
                    row.key,
                    row.url,
                    row.revision,
                    row.title,
                    row.body,
                    row.created_at,
                    Kind.NEW,
                )
                yield revision
                if row.removed_at is not None and row.revision == row.current:
                    yield dataclasses.replace(revision, at=row.removed_at, kind=Kind.REMOVED)

    def resolve(self, name: str) -> str | None:
        """A stored source's full name from its name or from the only one under a
        configured name (`seeds` for `seeds/000_….txt`)."""
        query = sa.select(sources.c.name).where(
            sa.or_(sources.c.name == name, sources.c.name.startswith(f"{name}/"))
        )
        with self._read() as conn:
            found = list(conn.execute(query).scalars())
        if name in found:
            return name
        return found[0] if len(found) == 1 else None

    def entries_of(self, source: str) -> list[EntryRow]:
        """A source's entries, newest first, removed ones last."""
        query = (
            sa.select(
                entries.c.key,
                entries.c.title,
                entries.c.revision,
                entries.c.first_seen,
                entries.c.updated_at,
                entries.c.removed_at,
            )
            .select_from(entries.join(sources, entries.c.source_id == sources.c.id))
            .where(sources.c.name == source)
            .order_by(entries.c.removed_at.is_not(None), entries.c.position)
        )
        with self._read() as conn:
            return [EntryRow(*row) for row in conn.execute(query)]

    def revisions_of(self, source: str, key: str) -> list[RevisionRow]:
        query = (
            sa.select(
                revisions.c.revision, revisions.c.title, revisions.c.body, revisions.c.created_at
            )
            .select_from(
                revisions.join(entries, revisions.c.entry_id == entries.c.id).join(
                    sources, entries.c.source_id == sources.c.id
                )
            )
            .where(sources.c.name == source, entries.c.key == key)
            .order_by(revisions.c.revision)
        )
        with self._read() as conn:
            return [RevisionRow(*row) for row in conn.execute(query)]

    def failed_deliveries(self, limit: int = 20) -> list[tuple[str, str, str | None]]:
        """(channel, status, reason) of the latest deliveries that were not sent."""
        query = (
            sa.select(deliveries.c.channel, deliveries.c.status, deliveries.c.last_error)
            .where(
                deliveries.c.status.in_(["failed", "pending"]), deliveries.c.last_error.is_not(None)
            )
            .order_by(deliveries.c.id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            return [(row.channel, row.status, row.last_error) for row in conn.execute(query)]

    def active_entries(self, name: str) -> int:
        """How many entries the named source shows now."""
        query = (
            sa.select(sa.func.count())
            .select_from(entries.join(sources, entries.c.source_id == sources.c.id))
            .where(sources.c.name == name, entries.c.removed_at.is_(None))
        )
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def delivery_counts(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
            ).all()
        return {status: count for status, count in rows}
