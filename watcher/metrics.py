"""Prometheus metrics and the health check, served by the optional HTTP listener.

Counters of polls come from the daemon as it polls; what the store knows (deliveries by
status, the outbox's depth, each source's last successful poll) is read at scrape time,
so that it is right whichever process wrote it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from watcher.model import DeliveryStatus, PollOutcome
from watcher.pipeline import PollResult
from watcher.store import Store

logger = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _StoreCollector(Collector):
    def __init__(self, store: Store, configured: Callable[[], set[str]]) -> None:
        self.store = store
        self.configured = configured

    def collect(self) -> Iterator[Metric]:
        deliveries = GaugeMetricFamily(
            "watcher_deliveries", "Deliveries in the store, by status", labels=["status"]
        )
        counts = self.store.delivery_counts()
        for status in DeliveryStatus:
            deliveries.add_metric([status], counts.get(status, 0))
        yield deliveries
        yield GaugeMetricFamily(
            "watcher_outbox_depth",
            "Alerts waiting to be sent",
            value=counts.get(DeliveryStatus.PENDING, 0),
        )
        last = GaugeMetricFamily(
            "watcher_last_success_timestamp_seconds",
            "When each source was last polled successfully",
            labels=["source"],
        )
        failing = GaugeMetricFamily(
            "watcher_source_failures", "Failed polls in a row, by source", labels=["source"]
        )
        configured = self.configured()
        for row in self.store.source_states():
            if row.source not in configured:  # removed from the config: no series
                continue
            if row.last_success_at is not None:
                last.add_metric([row.name], row.last_success_at)
            failing.add_metric([row.name], row.failures)
        yield last
        yield failing


class Metrics:
    """The daemon's metrics; `configured` names the sources of the current config, whose
    series alone are kept (a reload that removes a source removes its series)."""

    def __init__(self, store: Store, configured: Callable[[], set[str]]) -> None:
        self.registry = CollectorRegistry()
        self._sources: dict[str, str] = {}  # target name -> its configured source
        self.polls = Counter(
            "watcher_polls",
            "Polls, by source and outcome",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "watcher_poll_duration_seconds",
            "How long polls take, fetch included",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.last_latency = Gauge(
            "watcher_poll_last_duration_seconds",
            "How long the last poll of each source took",
            ["source"],
            registry=self.registry,
        )
        self.events = Counter(
            "watcher_events", "Events found, by kind", ["kind"], registry=self.registry
        )
        self.registry.register(_StoreCollector(store, configured))
        self._tally: collections.Counter[str] = collections.Counter()  # since the summary
        self._failing: set[str] = set()

    def summary(self) -> dict[str, int | str] | None:
        """The polls since the last summary, by outcome, with the events they found and
        the targets that failed (the daemon's once-a-minute log line); None if none."""
        if not self._tally:
            return None
        fields: dict[str, int | str] = {o.value: self._tally[o] for o in PollOutcome}
        fields["events"] = self._tally["events"]
        if self._failing:
            fields["failing"] = ",".join(sorted(self._failing)[:10])
        self._tally.clear()
        self._failing.clear()
        return fields

    def observe(self, results: Sequence[PollResult]) -> None:
        for result in results:
            name = result.target.name
            self._sources[name] = result.target.source
            self.polls.labels(name, result.outcome).inc()
            self._tally[result.outcome] += 1
            self._tally["events"] += len(result.alerts)
            if result.error is not None:
                self._failing.add(name)
            self.latency.observe(result.seconds)
            self.last_latency.labels(name).set(result.seconds)
            for alert in result.alerts:
                self.events.labels(alert.kind.value).inc()

    def forget(self, configured: set[str]) -> None:
        """Drops the series of targets whose source is no longer configured."""
        for name, source in list(self._sources.items()):
            if source in configured:
                continue
            del self._sources[name]
            with contextlib.suppress(KeyError):
                self.last_latency.remove(name)
            for outcome in PollOutcome:
                with contextlib.suppress(KeyError):
                    self.polls.remove(name, outcome)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class Listener:
    """`/metrics` and `/healthz` on the configured address, and what `more` adds."""

    def __init__(
        self,
        address: str,
        metrics: Metrics,
        health: Callable[[], list[str]],
        more: Callable[[web.Application], None] = lambda app: None,
    ) -> None:
        self.address = address
        host, _, port = address.rpartition(":")
        self.host, self.port = host.strip("[]") or "127.0.0.1", int(port)
        self.metrics = metrics
        self.health = health
        self.more = more  # the desk's routes (web/), beside these
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        self.more(app)
        # Open desk pages hold streams: at a stop they get a moment to end, not a minute.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        logger.info("listening", extra={"address": f"{self.host}:{self.port}"})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        body = self.metrics.exposition()
        logger.debug("scraped", extra={"ms": round((time.monotonic() - started) * 1000)})
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, request: web.Request) -> web.Response:
        problems = self.health()
        if problems:
            return web.Response(status=503, text="unhealthy\n" + "\n".join(problems) + "\n")
        return web.Response(text="ok\n")
