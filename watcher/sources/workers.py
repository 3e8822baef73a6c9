"""Parsing in worker processes, each document under a deadline and a memory cap.

A page or feed is written by someone else, and parsers have worst cases: a tree builder
that is quadratic in nesting depth, a decoder that allocates what the document asks for.
In the daemon's own process such a document would stop the event loop, and with it every
other source, `/healthz` and the watchdog. In a worker, a parse that outlasts its
deadline is killed and fails its own source alone; a memory cap turns a bomb into that
source's error rather than the OOM killer's choice of victim. The snapshot is bounded
(sanitize.py) before it leaves the worker, so that what crosses back is small.

Workers are forked from the process itself while it has a single thread (milliseconds,
and nothing to import), else from multiprocessing's fork server, which has the parsers
imported already: a worker killed at its deadline is replaced without delaying the
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import resource
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, ForkServerContext
from multiprocessing.process import BaseProcess
from typing import Any

from watcher.model import Snapshot, Target
from watcher.sanitize import Limits, bound
from watcher.sources.base import Fetched, Parser, SourceError

PRELOAD = [
    "watcher.sources.workers",
    "watcher.sources.feed",
    "watcher.sources.page",
    "watcher.sources.file",
]
MB = 1024 * 1024


def _serve(conn: Connection, memory: int, parents_end: Connection | None) -> None:
    """A worker's loop: a job in, a snapshot or an error out, until the pool says stop or
    the pipe closes. A forked worker closes its copy of the pool's end first: else, were
    the pool's process killed, the pipe would never close and the worker never end."""
    if parents_end is not None:
        parents_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    _cap_memory(memory)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:  # the pool is closing
            return
        parser, fetched, target, limits = job
        outcome: tuple[str, Any]
        try:
            outcome = ("ok", bound(parser(fetched, target), limits))
        except SourceError as exc:
            outcome = ("error", str(exc))
        except RecursionError:
            outcome = ("error", "the document is nested too deeply to parse")
        except MemoryError:
            outcome = ("error", f"parsing needed more than {memory // MB} MB")
        except ValueError as exc:  # the parsers' own word for a document they refuse
            outcome = ("error", str(exc))
        except Exception as exc:  # a parser's bug must not end the worker
            outcome = ("error", f"cannot parse: {type(exc).__name__}: {exc}")
        conn.send(outcome)


def _cap_memory(budget: int) -> None:
    """Address space: what the worker has now, plus `budget` bytes."""
    try:
        with open("/proc/self/statm") as statm:
            now = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = now + budget
    resource.setrlimit(resource.RLIMIT_AS, (soft if hard < 0 else min(soft, hard), hard))


class _Worker:
    def __init__(self, memory: int) -> None:
        # A fork of this process, while it has one thread: at once, with the parsers
        # imported already. Once it has more (forking those is not safe), a fork of the
        # fork server, which is started on first use.
        forked = threading.active_count() == 1
        context: ForkContext | ForkServerContext = (
            multiprocessing.get_context("fork")
            if forked
            else multiprocessing.get_context("forkserver")
        )
        ours, theirs = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve,
            args=(theirs, memory, ours if forked else None),
            name="watcher-parser",
            daemon=True,
        )
        self.process.start()
        theirs.close()
        self.conn = ours

    def run(self, job: tuple[Any, ...], seconds: float) -> tuple[str, Any]:
        """The worker's answer; ("timeout", None) when it gave none in `seconds`, and
        ("died", exit status) when it ended without one."""
        try:
            self.conn.send(job)
            if not self.conn.poll(seconds):
                return "timeout", None
            answer: tuple[str, Any] = self.conn.recv()
            return answer
        except (EOFError, OSError):
            self.process.join(5)
            return "died", self.process.exitcode

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()

    def close(self) -> None:
        # Told, not left to read EOF: a forked worker holds a copy of this end too.
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.conn.close()
        self.process.join(1)
        if self.process.is_alive():
            self.kill()


class ParserPool:
    """`size` worker processes shared by every source of the process: forked as the pool
    is made, when that is before the process starts threads (as the daemon and `check`
    make it), else on first use; replaced when one is killed."""

    def __init__(self, limits: Limits, size: int = 1) -> None:
        self.limits = limits
        self.size = max(1, size)
        multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
        self._idle: list[_Worker] = []
        if threading.active_count() == 1:
            self._idle = [_Worker(limits.parse_memory * MB) for _ in range(self.size)]
        self._slots: asyncio.Semaphore | None = None
        self._threads = ThreadPoolExecutor(self.size, "parse")

    async def parse(self, parser: Parser, fetched: Fetched, target: Target) -> Snapshot:
        """The snapshot `parser` makes of `fetched`, bounded; raises SourceError when the
        document is refused, takes longer than the deadline, or kills its worker."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        async with self._slots:
            worker = self._idle.pop() if self._idle else None
            job = (parser, fetched, target, self.limits)
            worker, answer = await asyncio.get_running_loop().run_in_executor(
                self._threads, self._run, worker, job
            )
            if worker is not None:
                self._idle.append(worker)
        status, value = answer
        if status != "ok":
            raise SourceError(str(value))
        snapshot: Snapshot = value
        return snapshot

    def _run(
        self, worker: _Worker | None, job: tuple[Any, ...]
    ) -> tuple[_Worker | None, tuple[str, Any]]:
        """In a thread: the job run by `worker` (started if None); a worker that timed
        out or died is killed and not given back."""
        seconds = self.limits.parse_timeout
        if worker is None:
            worker = _Worker(self.limits.parse_memory * MB)
        status, value = worker.run(job, seconds)
        if status in ("ok", "error"):
            return worker, (status, value)
        worker.kill()
        if status == "timeout":
            return None, ("error", f"parsing took longer than {seconds:g}s; gave up")
        how = f"signal {-value}" if isinstance(value, int) and value < 0 else f"status {value}"
        return None, ("error", f"the parser died ({how})")

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()
        self._threads.shutdown(wait=False, cancel_futures=True)
