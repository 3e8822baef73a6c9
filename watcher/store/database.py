"""The database under every part of the store: its engine, its transactions, and the
thread that server round trips wait in."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from watcher.store.engine import (
    TurnLock,
    connect,
    explain,
    label,
    normalize_url,
    sqlite_file,
)
from watcher.store.liveness import FileLiveness, Liveness, SessionLiveness
from watcher.store.migrations import migrate

T = TypeVar("T")
STORE_THREADS = 8  # transactions in flight at once against a server database


class Database:
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

    def keep_alive(self) -> None:
        """Renews this process's liveness session if the database dropped it, so that
        other instances do not take it for dead for long."""
        with self._guard():
            self.liveness.renew()
