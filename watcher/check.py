"""`watcher check`: every source polled once, on every core.

Polling is CPU-bound once responses arrive (parsing, diffing, storing), and one Python
process uses one core. So the sources are split into shards, one per worker process,
forked after the config is read; each worker polls its shard with its own event loop,
HTTP client and store connection, and reports its events back through a pipe.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

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
    sources: list[str] = field(default_factory=list)  # each event's configured source


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


def check_shard(config: Config, names: list[str]) -> CheckOutcome:
    store = Store(config.state_url, config.lock_timeout)
    parsers = ParserPool(config.limits)  # one parser process beside each shard's process
    try:
        results = asyncio.run(Pipeline(config, store, parsers, names).poll_all())
    finally:
        parsers.close()
        store.close()
    outcome = CheckOutcome()
    for result in results:
        lines = event_line(result)
        outcome.events.extend(lines)
        outcome.sources.extend(result.target.source for _ in lines)
        outcome.failed += result.error is not None
    return outcome


def check(config: Config, workers: int) -> CheckOutcome:
    """Polls every source once; with `workers` > 1, in that many processes."""
    names = [s.name for s in config.sources]
    shards = [names[i::workers] for i in range(workers)] if workers > 1 else [names]
    children: list[tuple[int, int]] = []  # (pid, read end of its pipe)
    sys.stdout.flush()
    sys.stderr.flush()
    for shard in shards[1:]:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: poll its shard, report, leave without cleanup
            os.close(read)
            code = 1
            try:
                with os.fdopen(write, "w") as out:
                    try:
                        outcome = check_shard(config, shard)
                        done = {
                            "events": outcome.events,
                            "failed": outcome.failed,
                            "sources": outcome.sources,
                        }
                    except StoreError as exc:
                        done = {"store_error": str(exc)}
                    json.dump(done, out)
                code = 0
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(write)
        children.append((pid, read))

    total = check_shard(config, shards[0])
    for pid, read in children:
        with os.fdopen(read) as pipe:
            report = pipe.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or not report:
            raise RuntimeError(f"check worker {pid} failed (status {status})")
        part = json.loads(report)
        if "store_error" in part:
            raise StoreError(part["store_error"])
        total.events.extend(part["events"])
        total.sources.extend(part["sources"])
        total.failed += part["failed"]
    # Events in the order of the sources in the config, as one process would give them.
    order = {name: i for i, name in enumerate(names)}
    ranked = sorted(zip(total.sources, total.events, strict=True), key=lambda p: order[p[0]])
    total.events = [event for _, event in ranked]
    total.sources = [source for source, _ in ranked]
    return total
