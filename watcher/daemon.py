"""The daemon: one scheduled job per source, and a sending thread per channel.

Polling runs on the event loop; each channel sends from a thread of its own, so a slow
channel holds up neither polling nor the other channels. A failing source is polled less
and less often (its interval doubling up to an hour) and a `Retry-After` it sends is
honoured. SIGINT and SIGTERM stop it cleanly: no new polls, polls in flight get a deadline
to finish, and whatever is undelivered stays in the outbox for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from watcher.config import Config
from watcher.notify.outbox import ChannelWorkers, Outbox
from watcher.pipeline import Pipeline, PollResult
from watcher.store import Store

logger = logging.getLogger(__name__)
STOP_DEADLINE = 8.0  # seconds in-flight work may take once a stop is asked for
FLUSH_TICK = 5.0  # how often unchanged polls are noted in the store
BACKOFF_CAP = (
    3600.0  # the longest a failing source waits between polls, unless its interval is longer
)


def backoff(interval: float, failures: int) -> float:
    """Seconds from a failed poll to the next: the interval, doubling with each failure."""
    return float(min(interval * 2 ** max(failures - 1, 0), max(BACKOFF_CAP, interval)))


class Daemon:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.pipeline = Pipeline(config, store)
        self.outbox = Outbox(store, config.channels, config.duplicates)
        self.workers = ChannelWorkers(self.outbox)
        self.stopping = asyncio.Event()
        self._wake = asyncio.Event()  # set on stop, to end the flush loop's wait
        self._polls: set[asyncio.Task[list[PollResult]]] = set()
        self._failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}

    async def _poll(self, name: str) -> None:
        now = time.monotonic()
        if self.stopping.is_set() or now < self._not_before.get(name, 0.0):
            return
        task = asyncio.ensure_future(self.pipeline.poll_source(name))
        self._polls.add(task)
        try:
            results = await task
        finally:
            self._polls.discard(task)
        if any(r.alerts for r in results):
            self.workers.kick()
        self._pace(name, results, now)

    def _pace(self, name: str, results: list[PollResult], started: float) -> None:
        """Backs a failing source off, and honours the Retry-After it sent."""
        interval = self.config.interval_of(self.config.source(name))
        not_before = 0.0
        if results and all(r.error for r in results):
            failures = self._failures[name] = self._failures.get(name, 0) + 1
            # Half an interval early, so that the job firing at the right time is not skipped.
            not_before = started + backoff(interval, failures) - interval / 2
        else:
            self._failures.pop(name, None)
        retry_after = max((r.retry_after or 0.0 for r in results), default=0.0)
        not_before = max(not_before, started + retry_after)
        if not_before > started:
            self._not_before[name] = not_before
        else:
            self._not_before.pop(name, None)

    async def _every(
        self, seconds: float, wake: asyncio.Event, work: Callable[[], Awaitable[None]]
    ) -> None:
        """Runs `work` every `seconds`, or sooner when `wake` is set, until the stop."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=seconds)
            wake.clear()
            try:
                await work()
            except Exception:
                logger.exception("background work failed; will try again")

    async def _flush(self) -> None:
        self.pipeline.flush()

    def stop(self) -> None:
        if not self.stopping.is_set():
            logger.info("stopping")
            self.stopping.set()
            self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
        now = datetime.now(UTC)
        for source in self.config.sources:
            interval = self.config.interval_of(source)
            scheduler.add_job(
                self._poll,
                IntervalTrigger(seconds=interval, jitter=self.config.jitter_of(source)),
                args=[source.name],
                id=source.name,
                next_run_time=now,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval)),
            )
        scheduler.start()
        self.workers.start()
        background = [asyncio.create_task(self._every(FLUSH_TICK, self._wake, self._flush))]
        logger.info("watching", extra={"sources": len(self.config.sources)})
        try:
            await self.stopping.wait()
        finally:
            scheduler.shutdown(wait=False)
            _, late = await asyncio.wait([*self._polls, *background], timeout=STOP_DEADLINE)
            for task in late:
                task.cancel()
            await self.pipeline.aclose()
            # Sends in flight get what is left of the deadline; what is unsent stays pending.
            busy = await asyncio.to_thread(self.workers.stop, STOP_DEADLINE / 2)
            if busy:
                logger.warning("channels still sending at stop", extra={"channels": ",".join(busy)})
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        logger.info("stopped")
