"""The daemon: one scheduled job per source, and a sending thread per channel.

Polling runs on the event loop; each channel sends from a thread of its own, so a slow
channel holds up neither polling nor the other channels. A failing source is polled less
and less often (its interval doubling up to an hour) and a `Retry-After` it sends is
honoured.

Signals: SIGHUP reloads the config (a broken one is refused and the running one kept);
SIGINT and SIGTERM stop it: no new polls, polls and sends in flight get a deadline, and
whatever is undelivered stays in the outbox for the next start. Under systemd it speaks
the notify protocol: READY, WATCHDOG pings from the event loop, STATUS.

Size: one object's life, from start to stop, whose parts (jobs, reload, health, the
background loops) share its state; the policies it applies are pure, in schedule.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from watcher.config import Config, load
from watcher.configfile import ConfigError
from watcher.metrics import Listener, Metrics
from watcher.model import DeliveryStatus
from watcher.notify.outbox import ChannelWorkers, Outbox
from watcher.pipeline import Pipeline, PollResult
from watcher.schedule import LATE_GRACE, claimable, late, next_due
from watcher.sdnotify import Notifier
from watcher.sources.workers import ParserPool
from watcher.store import ClaimRow, Store, StoreError
from watcher.text import counted
from watcher.web import Site, install

logger = logging.getLogger(__name__)
STOP_DEADLINE = 8.0  # seconds in-flight work may take once a stop is asked for
FLUSH_TICK = 5.0  # how often unchanged polls are noted in the store
STATUS_TICK = 10.0  # how often the status systemd shows is refreshed
CLAIMS_TICK = 5.0  # on a shared database, how old the claims this instance has read may be
PRUNE_TICK = 3600.0  # how often history past the retention period is pruned


def open_store(config: Config) -> Store | None:
    """The store; while its database cannot be reached, tries again, waiting longer each
    time (1 s doubling to a minute) rather than exiting into a restart loop. None if a
    stop was asked for meanwhile."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        wait = 1.0
        while True:
            try:
                return Store(config.state_url, config.lock_timeout)
            except StoreError as exc:
                if not exc.retryable:
                    raise
                logger.error(
                    "state database unavailable; retrying",
                    extra={"reason": str(exc), "in": f"{wait:g}s"},
                )
            if stop.wait(wait):
                return None
            wait = min(wait * 2, 60.0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Daemon:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.instance = config.instance_name
        self.parsers = ParserPool(config.limits, os.cpu_count() or 1)
        self.pipeline = Pipeline(config, store, self.parsers, owner=self.instance)
        self.outbox = Outbox.of(store, config)
        self.workers = ChannelWorkers(self.outbox, self.instance)
        self.metrics = Metrics(store, lambda: {s.name for s in self.config.sources})
        self._listener: Listener | None = None
        self._chores: set[asyncio.Task[None]] = set()  # a reload's work still running
        self.notifier = Notifier()
        self.stopping = asyncio.Event()
        self.scheduler: AsyncIOScheduler | None = None
        self._wake = asyncio.Event()  # set on stop, to end the background loops' waits
        self._polls: set[asyncio.Task[list[PollResult]]] = set()
        self._failures: dict[str, int] = {}
        self._last_started: dict[str, float] = {}  # when each job last fired
        self._claims: dict[str, ClaimRow] = {}  # as read at _claims_read (shared store)
        self._claims_read = float("-inf")
        self._claims_lock = asyncio.Lock()
        self._started = time.monotonic()
        self._sources = {s.name: s for s in config.sources}

    # Polling ----------------------------------------------------------------------------

    async def _poll(self, name: str) -> None:
        """A job fired: poll the source, if this instance gets the claim on it.

        Every instance on a database has a job for every source; the claim (due, and no
        other live instance holding it) makes one of them poll it, once an interval.
        """
        if self.stopping.is_set():
            return
        self._last_started[name] = time.monotonic()
        started = time.time()
        try:
            if not await self._may_claim(name, started):
                return
            pipeline = self.pipeline
            targets = pipeline.targets(name)
            rows = await self.store.call(
                self.store.claim_source,
                name,
                self.instance,
                started,
                [target.name for target in targets],
            )
            if rows is None:
                return
        except StoreError as exc:
            logger.error("cannot claim source", extra={"source": name, "reason": str(exc)})
            return
        task = asyncio.ensure_future(pipeline.poll_source(name, targets, rows))
        self._polls.add(task)
        results: list[PollResult] = []
        try:
            results = await task
        finally:
            self._polls.discard(task)
            try:
                next_due = self._next_due(name, results, started)
                await self.store.call(self.store.release, name, self.instance, next_due)
            except StoreError as exc:  # kept: this instance's next poll takes it again
                logger.error("cannot release source", extra={"source": name, "reason": str(exc)})
        self.metrics.observe(results)
        if any(r.alerts for r in results):
            self.workers.kick()

    async def _may_claim(self, name: str, now: float) -> bool:
        """Whether a claim on the source could succeed, by the claims as read a few seconds
        ago. On a shared database every instance's job fires for every source and all but
        one lose the claim; this spares the losers the round trip. The claim itself stays
        the judge: a stale read costs one failed claim, never a missed or a double poll."""
        if not self.store.concurrent:
            return True
        claims = await self._read_claims(CLAIMS_TICK)
        return claimable(claims.get(name), self.instance, now)

    async def _read_claims(self, fresh: float) -> dict[str, ClaimRow]:
        """The claims, as read within the last `fresh` seconds: one read serves the jobs
        that fire together, and the requests' check refreshes it for them."""
        async with self._claims_lock:
            if time.monotonic() - self._claims_read > fresh:
                rows = await self.store.call(self.store.claim_rows)
                self._claims = {row.name: row for row in rows}
                self._claims_read = time.monotonic()
            return self._claims

    def _next_due(self, name: str, results: list[PollResult], started: float) -> float:
        """When the source is due again (schedule.next_due), counting its failures."""
        if results and all(r.error for r in results):
            failures = self._failures[name] = self._failures.get(name, 0) + 1
        else:
            self._failures.pop(name, None)
            failures = 0
        job = self.scheduler.get_job(name) if self.scheduler is not None else None
        source = self._sources.get(name)
        return next_due(
            started,
            self.config.interval_of(source) if source is not None else self.config.interval,
            failures=failures,
            cap=self.config.max_backoff,
            retry_after=max((r.retry_after or 0.0 for r in results), default=0.0),
            next_fire=job.next_run_time.timestamp() if job and job.next_run_time else None,
        )

    def _schedule(self, scheduler: AsyncIOScheduler, first_run: datetime | None) -> None:
        """One job per source of the current config; jobs of other sources are removed."""
        wanted = {s.name for s in self.config.sources}
        self.store.ensure_claims(sorted(wanted))
        for job in scheduler.get_jobs():
            if job.id not in wanted:
                job.remove()
        for source in self.config.sources:
            interval = self.config.interval_of(source)
            trigger = IntervalTrigger(seconds=interval, jitter=self.config.jitter_of(source))
            job = scheduler.get_job(source.name)
            if job is None:
                scheduler.add_job(
                    self._poll,
                    trigger,
                    args=[source.name],
                    id=source.name,
                    # Spread over the jitter: polite to the sites at start, and instances
                    # sharing a database then share the first round too.
                    next_run_time=(first_run or datetime.now(UTC))
                    + timedelta(seconds=random.uniform(0, self.config.jitter_of(source))),
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=max(1, int(interval)),
                )
            elif (
                job.trigger.interval.total_seconds() != interval
                or job.trigger.jitter != trigger.jitter
            ):
                job.reschedule(trigger)

    # Reload -------------------------------------------------------------------------------

    def reload(self) -> bool:
        """Applies the config file as it is now; a broken one is refused, the old kept."""
        self.notifier.send("RELOADING=1")
        try:
            try:
                config = load(self.config.path)
            except ConfigError as exc:
                for problem in exc.problems:
                    logger.error("config not reloaded", extra={"problem": problem})
                return False
            if config.state_url != self.config.state_url:
                logger.error(
                    "config not reloaded", extra={"problem": "state: changes need a restart"}
                )
                return False
            self._apply(config)
            logger.info(
                "config reloaded",
                extra={"sources": len(config.sources), "rules": len(config.rules)},
            )
            return True
        finally:
            self.notifier.send("READY=1", self._status())

    def _apply(self, config: Config) -> None:
        old_pipeline, old_workers = self.pipeline, self.workers
        # A source whose config changed is polled again at once, its backoff forgotten:
        # the change may well be the fix.
        changed = [s.name for s in config.sources if self._sources.get(s.name, s) != s]
        if changed:
            self.store.request(changed, "poll")
        self.config = config
        self._sources = {s.name: s for s in config.sources}
        self.parsers.limits = config.limits
        self.pipeline = Pipeline(config, self.store, self.parsers, owner=self.instance)
        self.outbox = Outbox.of(self.store, config)
        self.workers = ChannelWorkers(self.outbox, self.instance)
        gone = set(self._failures) - {s.name for s in config.sources}
        for name in gone:
            self._failures.pop(name, None)
            self._last_started.pop(name, None)
        if self.scheduler is not None:
            self._schedule(self.scheduler, None)
        self.metrics.forget({s.name for s in config.sources})
        old_workers.halt()
        # The old workers end their sends, and only then do the new ones start: both send
        # as this instance, and one message must not go out from both. The old pipeline
        # finishes the polls it has in flight; then its client closes.
        for chore in (self._retire(old_pipeline, old_workers, self.workers), self._listen()):
            task = asyncio.get_running_loop().create_task(chore)
            self._chores.add(task)  # held, or the loop may collect it half done
            task.add_done_callback(self._chores.discard)

    async def _listen(self) -> None:
        """The HTTP listener as the config has it: started, moved or stopped (at reload)."""
        wanted = self.config.http.listen if self.config.http is not None else None
        current = self._listener
        if current is not None and current.address == wanted:
            return
        if current is not None:
            await current.stop()
            self._listener = None
        if wanted is not None and not self.stopping.is_set():
            # Late bound: a reload replaces the config and the channel workers.
            site = Site(self.store, lambda: self.config, lambda: self.workers.kick())  # noqa: PLW0108
            listener = Listener(wanted, self.metrics, self.health, lambda app: install(app, site))
            try:
                await listener.start()
            except OSError as exc:
                logger.error("cannot listen", extra={"address": wanted, "reason": str(exc)})
                return
            self._listener = listener

    async def _retire(self, pipeline: Pipeline, old: ChannelWorkers, new: ChannelWorkers) -> None:
        while await asyncio.to_thread(old.stop, STOP_DEADLINE):
            logger.warning("waiting for sends in flight before reloading channels")
        if not self.stopping.is_set() and new is self.workers:
            new.start()
        while self._polls:
            await asyncio.wait(set(self._polls), timeout=STOP_DEADLINE)
        await pipeline.aclose()

    # Health and status ------------------------------------------------------------------

    def health(self) -> list[str]:
        """What is wrong, if anything: the scheduler stopped, or a source's job has not fired
        on time (a poll stuck past its interval holds its job up)."""
        if self.scheduler is None or not self.scheduler.running:
            return ["the scheduler is not running"]
        allowed = [
            (s.name, 2 * self.config.interval_of(s) + self.config.jitter_of(s) + LATE_GRACE)
            for s in self.config.sources
        ]
        return late(time.monotonic(), allowed, self._last_started, self._started)

    def _status(self) -> str:
        try:
            pending = self.store.delivery_counts().get(DeliveryStatus.PENDING, 0)
        except StoreError:
            pending = -1
        failing = sum(1 for n in self._failures.values() if n)
        return (
            f"STATUS=watching {counted(len(self.config.sources), 'source')}, {failing} failing; "
            f"{counted(pending, 'alert')} pending; instance {self.instance}"
        )

    # Running ------------------------------------------------------------------------------

    async def _every(self, seconds: float, work: Callable[[], Awaitable[None] | None]) -> None:
        """Runs `work` every `seconds` until the stop."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=seconds)
            if self.stopping.is_set():
                return
            try:
                done = work()
                if done is not None:
                    await done
            except Exception:
                logger.exception("background work failed; will try again")

    async def _flush(self) -> None:
        self.pipeline.flush()
        await self.store.call(self.store.keep_alive)
        await self._take_requests()

    async def _take_requests(self) -> None:
        """Polls asked for by `watcher poll` or `resume` (due at 0): now, backoff forgotten."""
        for row in (await self._read_claims(fresh=0.0)).values():  # a request is news
            job = self.scheduler.get_job(row.name) if self.scheduler is not None else None
            if row.next_due == 0.0 and row.owner is None and job is not None:
                self._failures.pop(row.name, None)
                job.modify(next_run_time=datetime.now(UTC))

    def _summary(self) -> None:
        """Unchanged polls log nothing each; this says, once a minute, that they ran."""
        if (fields := self.metrics.summary()) is not None:
            logger.info("poll summary", extra=fields)

    async def _prune(self) -> None:
        if self.config.retention > 0:
            before = time.time() - self.config.retention
            gone = await asyncio.to_thread(self.store.prune, before)
            if gone:
                logger.info("pruned history", extra={"rows": gone})

    def stop(self) -> None:
        if not self.stopping.is_set():
            logger.info("stopping")
            self.notifier.send("STOPPING=1")
            self.stopping.set()
            self._wake.set()

    async def run(self) -> None:
        self.store.register(self.instance)
        if self.config.lease is not None:
            logger.warning("lease: is no longer used; claims end with their instance")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
        self._schedule(self.scheduler, datetime.now(UTC))
        self.scheduler.start()
        self.workers.start()
        await self._listen()
        background = [
            asyncio.create_task(self._every(FLUSH_TICK, self._flush)),
            asyncio.create_task(self._every(PRUNE_TICK, self._prune)),
        ]
        if self.config.poll_summary > 0:
            summary = self._every(self.config.poll_summary, self._summary)
            background.append(asyncio.create_task(summary))
        ping = self.notifier.watchdog_interval()
        if ping is not None:
            background.append(
                asyncio.create_task(self._every(ping, lambda: self.notifier.send("WATCHDOG=1")))
            )
        background.append(
            asyncio.create_task(
                self._every(STATUS_TICK, lambda: self.notifier.send(self._status()))
            )
        )
        self.notifier.send("READY=1", self._status())
        logger.info("watching", extra={"sources": len(self.config.sources)})
        try:
            await self.stopping.wait()
        finally:
            self.scheduler.shutdown(wait=False)
            _, late = await asyncio.wait([*self._polls, *background], timeout=STOP_DEADLINE / 2)
            for task in late:
                task.cancel()
            await self.pipeline.aclose()
            await asyncio.to_thread(self.parsers.close)
            # Sends in flight get what is left of the deadline; what is unsent stays pending.
            busy = await asyncio.to_thread(self.workers.stop, STOP_DEADLINE / 2)
            if busy:
                logger.warning("channels still sending at stop", extra={"channels": ",".join(busy)})
            if self._listener is not None:
                await self._listener.stop()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            self.notifier.close()
        logger.info("stopped")
