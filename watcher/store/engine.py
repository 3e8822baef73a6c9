"""Connecting to the store's database, and saying plainly what is wrong with it.

SQLite: WAL, foreign keys, and transactions that take the write lock as they begin
(BEGIN IMMEDIATE), so that a poll reads and writes one state; processes take turns
through a file lock first. PostgreSQL (psycopg 3): a pool of connections; one
found dead fails only the transaction it was in, and the pool is renewed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine


class StoreError(Exception):
    """The store cannot be used; the message says why, in words an operator can act on.

    `retryable`: the database could not be reached, and may be reachable later.
    """

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here; SQLAlchemy would pick psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# What the store is written and tested for: SQLite, and PostgreSQL through psycopg 3.
SUPPORTED = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")


def parse_url(url: str) -> sa.URL:
    """`url` parsed, or a StoreError saying why the store cannot use it. The message
    names the scheme only: SQLAlchemy's own would quote the password."""
    scheme = url.split("://", 1)[0]
    try:
        parsed = sa.engine.make_url(normalize_url(url))
    except (sa.exc.ArgumentError, ValueError):
        raise StoreError(f"not a database URL that SQLAlchemy can read ({scheme}://…)") from None
    if parsed.drivername not in SUPPORTED:
        raise StoreError(
            f"unsupported database '{scheme}' (use a SQLite path or a postgresql:// URL)"
        )
    return parsed


def label(url: str) -> str:
    """The database as log lines and errors name it: a path, or a URL without password."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or url
    return parsed.render_as_string(hide_password=True)


def sqlite_file(url: str) -> str | None:
    parsed = parse_url(url)
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def check_url(url: str) -> None:
    """Raises StoreError unless the store can use `url`: a URL it reads, of a database it
    supports, and for SQLite a file that exists or can be made. Creates nothing, so that
    `watcher validate` leaves no trace (a folder it made would belong to whoever ran it)."""
    database = sqlite_file(url)
    if database is not None and not os.path.lexists(database):
        _check_creatable(database)


def _check_creatable(database: str) -> None:
    folder = Path(database).parent
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise _cannot_create(database, f"{existing} is not a folder")
    try:  # a file without a name (O_TMPFILE) where possible: the one sure test, root or not
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as exc:
        raise _cannot_create(database, f"{existing} is not writable ({exc.strerror})") from None


def _cannot_create(database: str, reason: str) -> StoreError:
    return StoreError(f"cannot create state database {database}: {reason}")


def open_private(path: str, flags: int = os.O_RDWR) -> int:
    """Opens `path`, creating it 0600. Created by root (`sudo watcher status`) in a folder
    another user owns (the service's state directory), the file is given to that user,
    as SQLite does with the -wal and -shm files it creates: else the service could not
    open it."""
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    if os.geteuid() == 0:
        folder = os.stat(os.path.dirname(os.path.abspath(path)))
        if folder.st_uid != 0 and os.fstat(fd).st_uid == 0:
            os.fchown(fd, folder.st_uid, folder.st_gid)
    return fd


def _create_sqlite_file(database: str) -> None:
    """Creates the database file 0600 (a umask can only take bits off) before SQLite
    would create it 0644: it holds entry text, channel errors and source URLs, which may
    carry tokens. SQLite gives its -wal and -shm files the database file's mode. An
    existing file keeps its mode."""
    if os.path.lexists(database):
        return
    _check_creatable(database)
    try:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        os.close(open_private(database, os.O_WRONLY | os.O_EXCL))
    except FileExistsError:  # another process made it first
        pass
    except OSError as exc:
        raise _cannot_create(database, exc.strerror or str(exc)) from None


def connect(url: str, busy_timeout: float) -> Engine:
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No ping before each use (a round trip a transaction): a connection found dead
        # fails its transaction, which is redone, and SQLAlchemy then renews the pool.
        return sa.create_engine(
            parsed,
            pool_size=10,
            connect_args={"connect_timeout": max(1, int(busy_timeout))},
        )
    database = sqlite_file(url)
    if database:
        _create_sqlite_file(database)
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


def explain(exc: sa.exc.DBAPIError, where: str, busy_timeout: float) -> StoreError:
    """A StoreError that says what went wrong with the database, in its own words too."""
    text = " ".join(str(exc.orig).split())
    lowered = text.lower()
    if "database is locked" in lowered:
        return StoreError(
            f"state database {where} is locked by another process (waited {busy_timeout:g}s)"
        )
    if "readonly" in lowered or "read-only" in lowered:
        return StoreError(f"state database {where} is read-only")
    if "unable to open" in lowered:
        return StoreError(f"cannot open state database {where}")
    if any(s in lowered for s in ("connection refused", "could not connect", "timeout expired")):
        return StoreError(f"cannot connect to state database {where}: {text}", retryable=True)
    if any(
        s in lowered for s in ("terminat", "server closed the connection", "connection is closed")
    ):
        return StoreError(f"lost the connection to state database {where}: {text}", retryable=True)
    return StoreError(f"state database {where}: {text}")


class TurnLock:
    """An exclusive lock on a file, shared by every process and thread writing one SQLite
    database.

    Waiting polls the lock at first every 0.1 ms, backing off to 0.5 ms, for at most
    `timeout` seconds: a poll holds it for a millisecond or two, so a waiter that slept
    longer would leave its worker idle after the lock was free (SQLite's own busy wait
    sleeps up to 100 ms a try).
    """

    def __init__(self, path: str, timeout: float, where: str) -> None:
        self.path = path
        self.timeout = timeout
        self.where = where
        self._fd: int | None = None
        self._threads = threading.Lock()  # flock is per process: threads take turns here

    def __enter__(self) -> TurnLock:
        if not self._threads.acquire(timeout=self.timeout):
            raise self._locked()
        try:
            if self._fd is None:
                self._fd = open_private(self.path)
            deadline = time.monotonic() + self.timeout
            pause = 0.0001
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return self
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise self._locked() from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.0005)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def _locked(self) -> StoreError:
        return StoreError(
            f"state database {self.where} is locked by another process (waited {self.timeout:g}s)"
        )
