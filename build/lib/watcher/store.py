"""The store: sources, entries, every revision, events and the delivery outbox.

SQLAlchemy Core over SQLite (WAL) by default. A poll's snapshot, its events and their
pending deliveries are written in one transaction: a crash before the commit loses
nothing (the next poll sees the same change again), and a crash after it makes no second
event (the change is already stored). Deliveries are sent after the commit, from the
outbox, and marked done one by one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from watcher.diff import Comparison
from watcher.model import Event, Kind, Match, StoredEntry, document
from watcher.sources.base import Target

SCHEMA_VERSION = 1

metadata = sa.MetaData()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(512), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("baselined", sa.Boolean, nullable=False, default=False),
    sa.Column("last_poll_at", sa.Float),
    sa.Column("last_success_at", sa.Float),
    sa.Column("last_change_at", sa.Float),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_at", sa.Float),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    # A poll that would have removed most entries, held until the next poll confirms it.
    sa.Column("held_since", sa.Float),
)

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source_id", sa.ForeignKey("sources.id"), nullable=False),
    sa.Column("key", sa.String(512), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("removed_at", sa.Float),
    sa.UniqueConstraint("source_id", "key"),
)
sa.Index("entries_active", entries.c.source_id, entries.c.removed_at)

revisions = sa.Table(
    "revisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entry_id", sa.ForeignKey("entries.id"), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("entry_id", "revision"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source_id", sa.ForeignKey("sources.id"), nullable=False),
    # Entry events point at the entry and its revision; a source's down/up events do not.
    sa.Column("entry_id", sa.ForeignKey("entries.id")),
    sa.Column("revision", sa.Integer),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("matches", sa.Text, nullable=False),
    sa.Column("diff", sa.Text),
    sa.Column("detail", sa.Text),  # why a source went down
    sa.Column("priority", sa.Boolean, nullable=False, default=False),
)
sa.Index("events_source", events.c.source_id, events.c.created_at)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("event_id", sa.ForeignKey("events.id"), nullable=False),
    sa.Column("channel", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending, done, failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float),
    sa.UniqueConstraint("event_id", "channel"),
)
sa.Index("deliveries_due", deliveries.c.status, deliveries.c.channel)

# One row a message sent, for rate limits.
sends = sa.Table(
    "sends",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(128), nullable=False),
    sa.Column("sent_at", sa.Float, nullable=False),
    sa.Column("deliveries", sa.Integer, nullable=False),
)
sa.Index("sends_channel", sends.c.channel, sends.c.sent_at)


class StoreError(Exception):
    """The store cannot be used; the message says why, in words an operator can act on."""


class TurnLock:
    """An exclusive lock on a file, shared by every process that writes one database.

    Waiting polls the lock at first every 0.1 ms, backing off to 5 ms, for at most
    `timeout` seconds: a handoff takes well under a millisecond.
    """

    def __init__(self, path: str, timeout: float, label: str) -> None:
        self.path = path
        self.timeout = timeout
        self.label = label
        self._fd: int | None = None

    def __enter__(self) -> TurnLock:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"state database {self.label} is locked by another process "
                        f"(waited {self.timeout:g}s)"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.005)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


@dataclass(frozen=True, slots=True)
class SourceRow:
    id: int
    name: str
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    baselined: bool
    failures: int = 0
    held_since: float | None = None


@dataclass(frozen=True, slots=True)
class SourceState:
    name: str
    kind: str
    last_poll_at: float | None
    last_success_at: float | None
    last_change_at: float | None
    last_error: str | None
    last_error_at: float | None
    failures: int


@dataclass(frozen=True, slots=True)
class EntryRow:
    key: str
    title: str
    revision: int
    first_seen: float
    updated_at: float
    removed_at: float | None


@dataclass(frozen=True, slots=True)
class RevisionRow:
    revision: int
    title: str
    body: str
    created_at: float


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One revision of an entry (kind NEW), or its removal (kind REMOVED)."""

    source: str
    entry_id: int
    key: str
    url: str | None
    revision: int
    title: str
    body: str
    at: float
    kind: Kind


@dataclass(frozen=True, slots=True)
class Touch:
    """A poll of a known source that found nothing new, noted later with others."""

    source_id: int
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True, slots=True)
class Alert:
    """An event as channels render it, built from a fresh Event or from the store."""

    source: str
    kind: Kind
    key: str
    title: str
    body: str
    url: str | None
    tags: tuple[str, ...]
    matches: tuple[Match, ...]
    diff: tuple[tuple[int, str], ...]
    created_at: float
    event_id: int | None = None

    @property
    def document(self) -> str:
        return document(self.title, self.body)

    @classmethod
    def of(cls, event: Event, source: str, created_at: float, event_id: int | None) -> Alert:
        change = event.change
        return cls(
            source=source,
            kind=change.kind,
            key=change.key,
            title=change.entry.title,
            body=change.entry.body,
            url=change.entry.url,
            tags=event.tags,
            matches=event.matches,
            diff=change.diff,
            created_at=created_at,
            event_id=event_id,
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    channel: str
    attempts: int
    next_attempt_at: float
    created_at: float
    priority: bool
    alert: Alert


class Store:
    def __init__(self, url: str, busy_timeout: float = 10.0) -> None:
        self.url = url
        parsed = sa.engine.make_url(url)
        self._label = (
            parsed.database or url
            if parsed.get_backend_name() == "sqlite"
            else parsed.render_as_string(hide_password=True)
        )
        self.engine = self._connect(url, busy_timeout)
        self._busy_timeout = busy_timeout
        database = parsed.database if parsed.get_backend_name() == "sqlite" else None
        self._turn: contextlib.AbstractContextManager[object] = (
            TurnLock(f"{database}.lock", busy_timeout, self._label)
            if database and database != ":memory:" and not database.startswith("file:")
            else contextlib.nullcontext()
        )
        with self._guard():
            self._migrate()

    def _connect(self, url: str, busy_timeout: float) -> Engine:
        if not url.startswith("sqlite"):
            return sa.create_engine(url, pool_pre_ping=True)
        database = sa.engine.make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": busy_timeout})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Transactions are begun explicitly below; pysqlite's own would begin late.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            mode = cursor.execute("PRAGMA journal_mode").fetchone()
            if mode and mode[0] not in ("wal", "memory"):
                # A read-only database keeps its mode; its first write will say why.
                with contextlib.suppress(sqlite3.OperationalError):
                    cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock at once, so a poll reads and writes the same state.
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine

    def _migrate(self) -> None:
        with self.engine.begin() as conn:
            metadata.create_all(conn)
            found = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema")).scalar()
            if found is None:
                conn.execute(meta.insert().values(key="schema", value=str(SCHEMA_VERSION)))
            else:
                # A write at start, so that a database we cannot write to is found now.
                conn.execute(meta.update().where(meta.c.key == "schema").values(value=found))
            if found is not None and int(found) > SCHEMA_VERSION:
                raise StoreError(
                    f"state database {self._label} has schema version {found}, newer than this "
                    f"watcher understands ({SCHEMA_VERSION}); upgrade watcher"
                )

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turns driver errors into StoreErrors that say what is wrong with the database."""
        try:
            yield
        except sa.exc.OperationalError as exc:
            raise StoreError(self._explain(exc)) from None
        except sa.exc.DatabaseError as exc:
            raise StoreError(f"state database {self._label}: {exc.orig}") from None

    def _explain(self, exc: sa.exc.OperationalError) -> str:
        text = str(exc.orig)
        if "locked" in text:
            return (
                f"state database {self._label} is locked by another process "
                f"(waited {self._busy_timeout:g}s)"
            )
        if "readonly" in text or "read-only" in text:
            return f"state database {self._label} is read-only"
        if "unable to open" in text:
            return f"cannot open state database {self._label}"
        return f"state database {self._label}: {text}"

    def close(self) -> None:
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
            row = conn.execute(sa.select(sources).where(sources.c.name == name)).first()
        return _source_row(row) if row is not None else None

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
            return {r.name: _source_row(r) for r in conn.execute(sa.select(sources))}

    def record_unchanged(self, touches: Sequence[Touch], errors_to: Sequence[str] = ()) -> None:
        """Notes polls that found nothing new, many in one transaction and one statement."""
        if not touches:
            return
        now = time.time()
        update = (
            sources.update()
            .where(sources.c.id == sa.bindparam("source_id"))
            .values(
                etag=sa.bindparam("new_etag"),
                last_modified=sa.bindparam("new_last_modified"),
                last_poll_at=now,
                last_success_at=now,
                last_error=None,
                failures=0,
            )
        )
        rows = [
            {"source_id": t.source_id, "new_etag": t.etag, "new_last_modified": t.last_modified}
            for t in touches
        ]
        with self._write() as conn:
            # Sources that were failing and are back: read inside the transaction, so that
            # exactly one poll tells the errors channel.
            ids = [t.source_id for t in touches]
            recovered = (
                conn.execute(
                    sa.select(sources.c.id).where(sources.c.id.in_(ids), sources.c.failures > 0)
                )
                .scalars()
                .all()
            )
            conn.execute(update, rows)
            for source_id in recovered:
                _source_event(conn, source_id, Kind.UP, None, errors_to, now)

    def record_failure(
        self, target: Target, kind: str, reason: str, errors_to: Sequence[str] = ()
    ) -> None:
        """Notes a failed poll; entries, revisions and validators stay as they were.

        The first failure after a success is an event for the `errors_to` channels; the
        ones after it are not, so a source that stays down alerts once.
        """
        now = time.time()
        with self._write() as conn:
            source = _source(conn, target, kind)
            conn.execute(
                sources.update()
                .where(sources.c.id == source.id)
                .values(
                    last_poll_at=now,
                    last_error=reason,
                    last_error_at=now,
                    failures=sources.c.failures + 1,
                )
            )
            if not source.failures:
                _source_event(conn, source.id, Kind.DOWN, reason, errors_to, now)

    # Polls ------------------------------------------------------------------------------

    @contextmanager
    def poll(self, target: Target, kind: str) -> Iterator[PollTransaction]:
        """One transaction for one poll: read the stored entries, then save the outcome."""
        with self._write() as conn:
            yield PollTransaction(conn, _source(conn, target, kind))

    # Outbox -----------------------------------------------------------------------------

    BATCH = 500

    def pending(self, channel: str | None = None, after: int = 0) -> list[Delivery]:
        """Pending deliveries, oldest first, from the first with an id above `after`;
        those of one channel, or of all."""
        query = _DELIVERIES.where(deliveries.c.status == "pending", deliveries.c.id > after)
        if channel is not None:
            query = query.where(deliveries.c.channel == channel)
        with self._read() as conn:
            rows = conn.execute(query.order_by(deliveries.c.id).limit(self.BATCH)).all()
        return [_delivery(r) for r in rows]

    def recently_sent(self, channel: str, since: float) -> list[Delivery]:
        """Deliveries the channel sent since `since`, for suppressing copies of them."""
        query = _DELIVERIES.where(
            deliveries.c.channel == channel,
            deliveries.c.status == "done",
            deliveries.c.done_at >= since,
        )
        with self._read() as conn:
            return [_delivery(r) for r in conn.execute(query.order_by(deliveries.c.id))]

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
                yield HistoryRow(
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
                if row.removed_at is not None and row.revision == row.current:
                    yield HistoryRow(
                        row.source,
                        row.entry_id,
                        row.key,
                        row.url,
                        row.revision,
                        row.title,
                        row.body,
                        row.removed_at,
                        Kind.REMOVED,
                    )

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


class PollTransaction:
    """The open transaction of one poll (see Store.poll)."""

    def __init__(self, conn: Connection, source: SourceRow) -> None:
        self._conn = conn
        self.source = source

    def entries(self) -> list[StoredEntry]:
        rows = self._conn.execute(_ACTIVE_ENTRIES, {"source_id": self.source.id}).all()
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
        conn, now, source_id = self._conn, time.time(), self.source.id
        ids: dict[str, tuple[int, int]] = {}  # key -> (entry id, revision)
        new_revisions: list[dict[str, Any]] = []

        # Rows of entries that come back after being removed are reused, keeping history.
        fresh = [s for s in comparison.slots if s.stored is None]
        returning: dict[str, tuple[int, int]] = {}
        if fresh:
            for row in conn.execute(
                sa.select(entries.c.id, entries.c.key, entries.c.revision).where(
                    entries.c.source_id == source_id, entries.c.key.in_([s.key for s in fresh])
                )
            ):
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
            _insert_many(conn, entries, inserts)
            keys = [str(values["key"]) for values in inserts]
            found = {
                row.key: row.id
                for row in conn.execute(_IDS_BY_KEY, {"source_id": source_id, "keys": keys})
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
            _insert_many(conn, revisions, [{**r, "created_at": now} for r in new_revisions])
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
                    "matches": json.dumps([list(_match_tuple(m)) for m in e.matches]),
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
            outbox = [_pending(event_id, c, now) for e, event_id in saved for c in e.channels]
            if outbox:
                conn.execute(deliveries.insert(), outbox)

        changed = bool(new_revisions or comparison.removed)
        conn.execute(
            _SAVE_SOURCE,
            {
                "source_id": source_id,
                "etag": etag,
                "last_modified": last_modified,
                "content_hash": content_hash,
                "now": now,
                "changed": changed,
            },
        )
        if self.source.failures:
            _source_event(conn, source_id, Kind.UP, None, errors_to, now)
        return saved

    def hold(self) -> None:
        """Holds a suspect poll back: nothing of it is saved but the time it was seen."""
        self._conn.execute(
            sources.update()
            .where(sources.c.id == self.source.id)
            .values(held_since=time.time(), last_poll_at=time.time())
        )


# Statements of every poll, built once: building them per call costs more than running them.
_SOURCE_BY_NAME = sa.select(sources).where(sources.c.name == sa.bindparam("name"))
_ACTIVE_ENTRIES = (
    sa.select(
        entries.c.id,
        entries.c.key,
        entries.c.title,
        entries.c.body,
        entries.c.position,
        entries.c.url,
        entries.c.revision,
    )
    .where(entries.c.source_id == sa.bindparam("source_id"), entries.c.removed_at.is_(None))
    .order_by(entries.c.position)
)
_SAVE_SOURCE = (
    sources.update()
    .where(sources.c.id == sa.bindparam("source_id"))
    .values(
        etag=sa.bindparam("etag"),
        last_modified=sa.bindparam("last_modified"),
        content_hash=sa.bindparam("content_hash"),
        baselined=True,
        last_poll_at=sa.bindparam("now"),
        last_success_at=sa.bindparam("now"),
        last_error=None,
        failures=0,
        held_since=None,
        last_change_at=sa.case(
            (sa.bindparam("changed", type_=sa.Boolean), sa.bindparam("now")),
            else_=sources.c.last_change_at,
        ),
    )
)
_IDS_BY_KEY = sa.select(entries.c.key, entries.c.id).where(
    entries.c.source_id == sa.bindparam("source_id"),
    entries.c.key.in_(sa.bindparam("keys", expanding=True)),
)
_INSERTS: dict[tuple[str, str, tuple[str, ...]], tuple[str, tuple[str, ...] | None]] = {}


def _insert_many(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Inserts rows (all with the same keys) straight through the driver.

    SQLAlchemy's per-row parameter handling costs more than the database's own work for
    the dozens of small rows of a poll; the statement is compiled once per dialect.
    """
    columns = tuple(rows[0])
    cache_key = (conn.dialect.name, table.name, columns)
    if cache_key not in _INSERTS:
        compiled = (
            table.insert()
            .values({c: sa.bindparam(c) for c in columns})
            .compile(dialect=conn.dialect)
        )
        order = (
            tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        )
        _INSERTS[cache_key] = (str(compiled), order)
    sql, order = _INSERTS[cache_key]
    if order is None:
        conn.exec_driver_sql(sql, rows)
    else:
        conn.exec_driver_sql(sql, [tuple(row[c] for c in order) for row in rows])


_DELIVERIES = sa.select(
    deliveries.c.id,
    deliveries.c.channel,
    deliveries.c.attempts,
    deliveries.c.next_attempt_at,
    deliveries.c.created_at.label("delivery_created_at"),
    events.c.id.label("event_id"),
    events.c.kind,
    events.c.tags,
    events.c.matches,
    events.c.diff,
    events.c.created_at,
    events.c.detail,
    events.c.priority,
    sources.c.name.label("source"),
    entries.c.key,
    entries.c.url,
    revisions.c.title,
    revisions.c.body,
).select_from(
    deliveries.join(events, deliveries.c.event_id == events.c.id)
    .join(sources, events.c.source_id == sources.c.id)
    .outerjoin(entries, events.c.entry_id == entries.c.id)
    .outerjoin(
        revisions,
        sa.and_(
            revisions.c.entry_id == events.c.entry_id,
            revisions.c.revision == events.c.revision,
        ),
    )
)


def _delivery(r: Any) -> Delivery:
    return Delivery(
        id=r.id,
        channel=r.channel,
        attempts=r.attempts,
        next_attempt_at=r.next_attempt_at,
        created_at=r.delivery_created_at,
        priority=bool(r.priority),
        alert=Alert(
            source=r.source,
            kind=Kind(r.kind),
            key=r.key or "",
            title=r.title or "",
            body=r.body if r.body is not None else (r.detail or ""),
            url=r.url,
            tags=tuple(json.loads(r.tags)),
            matches=tuple(Match(*m) for m in json.loads(r.matches)),
            diff=tuple((op, text) for op, text in json.loads(r.diff or "[]")),
            created_at=r.created_at,
            event_id=r.event_id,
        ),
    )


def _match_tuple(m: Match) -> tuple[str, int, int, str, bool]:
    return (m.rule, m.start, m.end, m.text, m.old)


def _source(conn: Connection, target: Target, kind: str) -> SourceRow:
    """The source's row, made if it has none."""
    found = conn.execute(_SOURCE_BY_NAME, {"name": target.name}).first()
    if found is None:
        found = conn.execute(
            sources.insert()
            .values(
                name=target.name,
                kind=kind,
                location=target.location,
                baselined=False,
                failures=0,
            )
            .returning(*sources.c)
        ).one()
    return _source_row(found)


def _source_event(
    conn: Connection,
    source_id: int,
    kind: Kind,
    detail: str | None,
    channels: Sequence[str],
    now: float,
) -> None:
    """A source went down or came back: an event, with deliveries to `channels`."""
    if not channels:
        return
    event_id = conn.execute(
        events.insert()
        .values(
            source_id=source_id,
            kind=kind.value,
            created_at=now,
            tags="[]",
            matches="[]",
            detail=detail,
            priority=False,
        )
        .returning(events.c.id)
    ).scalar_one()
    conn.execute(deliveries.insert(), [_pending(event_id, c, now) for c in channels])


def _pending(event_id: int, channel: str, now: float) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "channel": channel,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _source_row(row: Any) -> SourceRow:
    return SourceRow(
        id=row.id,
        name=row.name,
        etag=row.etag,
        last_modified=row.last_modified,
        content_hash=row.content_hash,
        baselined=bool(row.baselined),
        failures=row.failures,
        held_since=row.held_since,
    )
