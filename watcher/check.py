"""`watcher check`: every source polled once, on every core.

Polling is CPU-bound once responses arrive (parsing, diffing, storing), and one Python
process uses one core. So the sources are split into shards, one per worker process,
forked after the config is read (a ProcessPoolExecutor on the fork context); each worker
polls its shard with its own event loop, HTTP client and store connection, and returns
its events. On a terminal, a live count shows how far it got, from counters the workers
share with this process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import sys
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, TextIO

from watcher.config import Config
from watcher.notify.render import render_diff
from watcher.pipeline import Pipeline, PollResult
from watcher.sources.workers import ParserPool
from watcher.store import Store, StoreError

SOURCES_PER_WORKER = 200  # fewer than this per process, and forking costs more than it saves


@dataclass
class CheckOutcome:
    events: list[dict[str, Any]] = field(default_factory=list)  # as `check --json` prints them
    failed: int = 0  # targets that could not be polled
    polled: int = 0  # targets polled, failed or not
    sources: list[str] = field(default_factory=list)  # each event's configured source


class Progress:
    """`watcher: 120/2000 sources polled, 3 failed, 14 events`, redrawn in place on a
    terminal as each source is done, or four times a second while forked workers poll;
    nothing elsewhere. The counts live in shared memory, so that the workers add to them
    and this process draws them."""

    EVERY = 0.25

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.live = stream.isatty()
        self._counts = multiprocessing.get_context("fork").Array("q", 3)  # sources, failed, events
        self._drawer = os.getpid()
        self._drawn = False
        if self.live:  # a log line starts on a line of its own, not after the count
            for handler in logging.getLogger().handlers:
                handler.addFilter(self._erase)

    def _erase(self, record: logging.LogRecord) -> bool:
        self.stream.write("\r\x1b[K")  # in a worker too: the terminal is the same
        return True

    def add(self, results: list[PollResult]) -> None:
        with self._counts.get_lock():
            self._counts[0] += 1
            self._counts[1] += sum(r.error is not None for r in results)
            self._counts[2] += sum(len(r.alerts) for r in results)
        if os.getpid() == self._drawer:
            self.draw()

    def draw(self) -> None:
        if not self.live:
            return
        self._drawn = True
        polled, failed, events = self._counts[:]
        self.stream.write(
            f"\rwatcher: {polled}/{self.total} sources polled, {failed} failed, {events} events"
        )
        self.stream.flush()

    def clear(self) -> None:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(self._erase)
        if self.live and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def default_workers(sources: int) -> int:
    return max(1, min(os.cpu_count() or 1, sources // SOURCES_PER_WORKER))


def event_line(result: PollResult) -> list[dict[str, Any]]:
    return [
        {
            "kind": alert.kind.value,
            "source": alert.source,
            "entry": alert.key,
            "title": alert.title,
            "tags": list(alert.tags),
            "diff": render_diff(alert.diff) if alert.diff else None,
        }
        for alert in result.alerts
    ]


def check_shard(config: Config, names: list[str], progress: Progress) -> CheckOutcome:
    store = Store(config.state_url, config.lock_timeout)
    parsers = ParserPool(config.limits)  # one parser process beside each shard's process
    try:
        pipeline = Pipeline(config, store, parsers, names)
        results = asyncio.run(pipeline.poll_all(progress.add))
    finally:
        parsers.close()
        store.close()
    outcome = CheckOutcome()
    for result in results:
        lines = event_line(result)
        outcome.events.extend(lines)
        outcome.sources.extend(result.target.source for _ in lines)
        outcome.failed += result.error is not None
        outcome.polled += 1
    return outcome


# The config and the progress counters, as the forked workers inherit them: passed as
# arguments, they would be pickled to each (0.1 s and 10 MB a worker at 2,000 sources)
# though the fork already has them.
_FORKED: list[tuple[Config, Progress]] = []


def _shard(names: list[str]) -> CheckOutcome | str:
    """A worker's shard polled; a store error comes back as its message (pickled
    exceptions lose their arguments)."""
    try:
        config, progress = _FORKED[0]
        return check_shard(config, names, progress)
    except StoreError as exc:
        return str(exc)


def check(config: Config, workers: int, stream: TextIO | None = None) -> CheckOutcome:
    """Polls every source once; with `workers` > 1, in that many processes, forked while
    this one has a single thread (the pool starts its own thread only after)."""
    progress = Progress(len(config.sources), stream or sys.stderr)
    try:
        return _check(config, workers, progress)
    finally:
        progress.clear()


def _check(config: Config, workers: int, progress: Progress) -> CheckOutcome:
    names = [s.name for s in config.sources]
    shards = [names[i::workers] for i in range(workers)] if workers > 1 else [names]
    if len(shards) == 1:
        return check_shard(config, names, progress)
    sys.stdout.flush()
    sys.stderr.flush()
    # Every shard in a worker, this process only waiting: a shard polled here would start
    # its parser process while the pool's thread runs, from the fork server (a fresh
    # interpreter: 20 MB more, and slower to start) rather than as a fork.
    fork = multiprocessing.get_context("fork")
    total = CheckOutcome()
    _FORKED[:] = [(config, progress)]
    with ProcessPoolExecutor(len(shards), mp_context=fork) as pool:
        futures = [pool.submit(_shard, shard) for shard in shards]
        while wait(futures, Progress.EVERY, FIRST_EXCEPTION).not_done:
            progress.draw()
        for future in futures:
            try:
                part = future.result()
            except BrokenProcessPool as exc:
                raise RuntimeError(f"a check worker died: {exc}") from None
            if isinstance(part, str):
                raise StoreError(part)
            total.events += part.events
            total.sources += part.sources
            total.failed += part.failed
            total.polled += part.polled
    # Events in the order of the sources in the config, as one process would give them.
    order = {name: i for i, name in enumerate(names)}
    ranked = sorted(zip(total.sources, total.events, strict=True), key=lambda p: order[p[0]])
    total.events = [event for _, event in ranked]
    total.sources = [source for source, _ in ranked]
    return total
