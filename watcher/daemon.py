"""The daemon: one scheduled job per source, and a delivery loop beside them.

Polling runs on the event loop; sending runs in a worker thread, so a slow channel never
holds up a poll. SIGINT and SIGTERM stop it cleanly: no new polls, polls in flight get a
deadline to finish, and whatever is undelivered stays in the outbox for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from watcher.config import Config
from watcher.notify.channels import Channel
from watcher.notify.outbox import Outbox
from watcher.pipeline import Pipeline, PollResult
from watcher.store import Store

logger = logging.getLogger(__name__)
STOP_DEADLINE = 8.0  # seconds in-flight work may take once a stop is asked for
RETRY_TICK = 5.0  # how often the delivery loop looks for deliveries due for a retry


def build_channels(config: Config) -> dict[str, Channel]:
    return {name: Channel(name, c.urls) for name, c in config.channels.items()}


class Daemon:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.pipeline = Pipeline(config, store)
        self.outbox = Outbox(store, build_channels(config))
        self.stopping = asyncio.Event()
        self._kick = asyncio.Event()
        self._polls: set[asyncio.Task[list[PollResult]]] = set()

    async def _poll(self, name: str) -> None:
        if self.stopping.is_set():
            return
        task = asyncio.ensure_future(self.pipeline.poll_source(name))
        self._polls.add(task)
        try:
            results = await task
        finally:
            self._polls.discard(task)
        if any(r.alerts for r in results):
            self._kick.set()

    async def _deliver(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout=RETRY_TICK)
            self._kick.clear()
            try:
                await asyncio.to_thread(self.outbox.drain)
            except Exception:
                logger.exception("delivery pass failed; will try again")

    def stop(self) -> None:
        if not self.stopping.is_set():
            logger.info("stopping")
            self.stopping.set()
            self._kick.set()

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
        deliver = asyncio.create_task(self._deliver())
        logger.info("watching", extra={"sources": len(self.config.sources)})
        try:
            await self.stopping.wait()
        finally:
            scheduler.shutdown(wait=False)
            pending = [*self._polls, deliver]
            _, late = await asyncio.wait(pending, timeout=STOP_DEADLINE)
            for task in late:
                task.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        logger.info("stopped")
