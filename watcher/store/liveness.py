"""Which instances are alive: each holds a lock on its name for as long as it runs.

A claim (a source being polled, a channel being drained) names the instance that holds
it. Should that instance die, its claims must be free at once, not when some lease runs
out; so claims are tied to a lock that ends with the instance:

- PostgreSQL: a session advisory lock (NAMESPACE, a hash of the schema and the name), held
  on a connection of the instance's own. The server drops it when that connection dies:
  when the process is killed, or when it loses the database for longer than TCP
  keepalives allow.
- SQLite (one host): a POSIX lock on one byte of `<database>.instances`, at an offset made
  from the name. The kernel drops it when the process dies.

Claim statements test `alive(owner)`, compiled for each backend, so that a dead owner's
claim is taken in the same statement, and under the same row lock, as a free one.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import zlib
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from watcher.store.engine import StoreError, open_private

NAMESPACE = 0x77617463  # "watc": the first key of every instance's advisory lock
# The second: the name, within the schema, so that deployments sharing a database in
# schemas of their own (and tests) do not mistake each other's instances for their own.
_KEY = "hashtext(current_schema() || '/' || {name})"


class alive(FunctionElement[bool]):
    """Whether the instance named by the argument holds its liveness lock now."""

    type = sa.Boolean()
    inherit_cache = True
    name = "watcher_alive"


@compiles(alive, "postgresql")
def _alive_postgresql(element: alive, compiler: SQLCompiler, **kw: Any) -> str:
    owner = compiler.process(element.clauses, **kw)
    return (
        "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        f" AND classid = {NAMESPACE} AND objid = {_KEY.format(name=owner)}::oid"
        " AND objsubid = 2)"
    )


@compiles(alive, "sqlite")
def _alive_sqlite(element: alive, compiler: SQLCompiler, **kw: Any) -> str:
    return f"watcher_alive({compiler.process(element.clauses, **kw)})"


def in_use(name: str) -> StoreError:
    return StoreError(
        f"instance name {name!r} is in use by a running watcher: give each instance a name of "
        "its own (--instance, `instance:` in the config, or $WATCHER_INSTANCE)"
    )


class Liveness(ABC):
    """This process's liveness locks on one database."""

    @abstractmethod
    def register(self, name: str) -> None:
        """Takes the lock of `name` for as long as this process (or its session) lives;
        raises StoreError if a running instance holds it."""

    @abstractmethod
    def scalar(self, statement: sa.Executable, params: dict[str, Any]) -> Any:
        """Runs a read where its answer proves this process's locks are held as it is
        read: on the locks' own session (PostgreSQL), or anywhere (SQLite, where the
        process itself holds them)."""

    @abstractmethod
    def renew(self) -> None:
        """Takes the locks again if they were lost with the database (PostgreSQL)."""

    @abstractmethod
    def close(self) -> None:
        """Gives the locks up."""


class FileLiveness(Liveness):
    """SQLite: POSIX locks on `<database>.instances`, which end with the process.

    One descriptor per file for the whole process, never closed: closing any descriptor
    of a file ends every POSIX lock the process holds on it.
    """

    _files: ClassVar[dict[str, int]] = {}
    _held: ClassVar[dict[str, set[int]]] = {}  # path -> offsets this process holds
    _guard = threading.Lock()

    def __init__(self, engine: Engine, database: str) -> None:
        self._engine = engine
        self.path = f"{database}.instances"
        with self._guard:
            if self.path not in self._files:
                self._files[self.path] = open_private(self.path)
                self._held[self.path] = set()
        self._fd = self._files[self.path]
        self._mine: set[int] = set()

    @staticmethod
    def _offset(name: str) -> int:
        return zlib.crc32(name.encode())

    def register(self, name: str) -> None:
        offset = self._offset(name)
        with self._guard:
            if offset in self._held[self.path]:
                raise in_use(name)
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError:
                raise in_use(name) from None
            self._held[self.path].add(offset)
            self._mine.add(offset)

    def alive(self, name: str | None) -> bool:
        """Whether a process holds `name`'s lock; SQLite calls this as watcher_alive()."""
        if name is None:
            return False
        offset = self._offset(name)
        with self._guard:
            if offset in self._held[self.path]:
                return True
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError:
                return True  # another process holds it
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, offset)
            return False

    def install(self) -> None:
        """Makes watcher_alive() known to every SQLite connection of the engine."""

        @sa.event.listens_for(self._engine, "connect")
        def _function(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.create_function("watcher_alive", 1, self.alive)

    def scalar(self, statement: sa.Executable, params: dict[str, Any]) -> Any:
        with self._engine.connect() as conn:
            return conn.execute(statement, params).scalar()

    def renew(self) -> None:
        """Nothing to renew: the kernel keeps the locks for as long as the process lives."""

    def close(self) -> None:
        with self._guard:
            for offset in self._mine:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, offset)
                self._held[self.path].discard(offset)
            self._mine.clear()


class SessionLiveness(Liveness):
    """PostgreSQL: advisory locks held by a connection of this instance's own."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._names: list[str] = []
        self._guard = threading.Lock()

    def _lock(self, conn: Connection, name: str) -> bool:
        taken = conn.execute(
            sa.text(f"SELECT pg_try_advisory_lock(:ns, {_KEY.format(name=':name')})"),
            {"ns": NAMESPACE, "name": name},
        ).scalar()
        return bool(taken)

    def register(self, name: str) -> None:
        with self._guard:
            conn = self._connection()
            if not self._lock(conn, name):
                raise in_use(name)
            self._names.append(name)

    def _connection(self) -> Connection:
        """The session that holds the locks; a new one, with the locks taken again, when
        the last was lost (until then, other instances may have taken over our claims,
        which the claim checks before each send and commit then find)."""
        if self._conn is not None and not self._conn.closed and not self._conn.invalidated:
            return self._conn
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        for name in self._names:
            if not self._lock(conn, name):
                conn.close()
                raise in_use(name)
        self._conn = conn
        return conn

    def scalar(self, statement: sa.Executable, params: dict[str, Any]) -> Any:
        with self._guard:
            conn = self._connection()
            try:
                return conn.execute(statement, params).scalar()
            except sa.exc.DBAPIError:
                conn.invalidate()  # the next use opens a session and locks again
                raise

    def renew(self) -> None:
        self.scalar(sa.select(sa.literal(1)), {})

    def close(self) -> None:
        with self._guard:
            if self._conn is not None:
                # Given back in so many words: a closed session's locks go only once the
                # server has noticed, a moment later, and a restart may be quicker.
                with contextlib.suppress(sa.exc.DBAPIError):
                    self._conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))
                self._conn.close()
                self._conn = None
            self._names.clear()
