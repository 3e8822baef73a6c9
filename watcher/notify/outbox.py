"""The outbox: pending deliveries, sent after their poll committed, marked done per message.

Each channel is drained on its own (in the daemon, in a thread of its own, so that a
channel that hangs holds up nothing else). What goes out when is the policy's call
(policy.py); a failed send stays pending and is retried with growing, jittered delays
until the alert is `max_age` old, then it is marked failed, with the reason, in the store
and in the log. Nothing is dropped silently.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import time as clock_time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from watcher.failpoints import failpoint
from watcher.log import redact
from watcher.notify.policy import Message, Pending, Policy, QuietHours, Sent, fingerprint, plan
from watcher.notify.render import render, render_digest
from watcher.store import Delivery, Store

if TYPE_CHECKING:
    from watcher.config import ChannelConfig, DuplicatesConfig
    from watcher.notify.channels import Channel

logger = logging.getLogger(__name__)
RETRY_BASE = 15.0
RETRY_CAP = 900.0
IDLE = 5.0  # how long a channel's worker sleeps when nothing is scheduled


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failures: doubling, capped, jittered."""
    delay = min(RETRY_BASE * 2 ** max(attempts - 1, 0), RETRY_CAP)
    return float(delay * random.uniform(0.8, 1.2))


def policy_of(config: ChannelConfig, duplicates: DuplicatesConfig) -> Policy:
    quiet = None
    if config.quiet_hours is not None:
        q = config.quiet_hours
        quiet = QuietHours(
            clock_time.fromisoformat(q.start.zfill(5)),
            clock_time.fromisoformat(q.end.zfill(5)),
            ZoneInfo(q.timezone),
            q.drop,
        )
    return Policy(
        digest=config.digest,
        rate_limit=config.rate_limit,
        quiet=quiet,
        duplicate_window=duplicates.window,
        similarity=duplicates.similarity,
    )


class Outbox:
    def __init__(
        self,
        store: Store,
        channels: Mapping[str, ChannelConfig],
        duplicates: DuplicatesConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.configs = channels
        self.duplicates = duplicates
        self.clock = clock
        self._channels: dict[str, Channel] = {}
        self._lock = threading.Lock()

    def channel(self, name: str) -> Channel | None:
        """The named channel, made on first use: Apprise loads only when there is mail."""
        with self._lock:
            if name not in self._channels and name in self.configs:
                from watcher.notify.channels import Channel

                config = self.configs[name]
                self._channels[name] = Channel(name, config.urls, config.format)
            return self._channels.get(name)

    def drain(self, due_only: bool = True) -> None:
        """One pass over every channel with pending deliveries (the `check` command)."""
        for name in sorted({d.channel for d in self.store.pending()}):
            self.run_channel(name, due_only)

    def run_channel(self, name: str, due_only: bool = True) -> float | None:
        """Sends what the channel's policy allows now; returns when to look again.

        With `due_only` False, deliveries waiting for a retry are tried at once.
        """
        now = self.clock()
        pending = self.store.pending(name)
        config = self.configs.get(name)
        if config is None:
            for delivery in pending:
                self._failed([delivery], f"channel '{name}' is not configured", now, final=True)
            return None
        policy = policy_of(config, self.duplicates)
        window = policy.duplicate_window
        items = [
            Pending(
                d.id,
                d.alert,
                priority=d.priority,
                due=d.next_attempt_at if due_only else 0.0,
                fingerprint=fingerprint(d.alert) if window else frozenset(),
            )
            for d in pending
        ]
        recent = (
            [
                Sent(d.alert.created_at, d.alert.source, fingerprint(d.alert))
                for d in self.store.recently_sent(name, now - window)
            ]
            if window
            else []
        )
        sends = self.store.send_times(name, now - 60) if policy.rate_limit else []
        decided = plan(items, policy, now, sends, recent)
        for item, reason in decided.drop:
            self.store.dropped(item.id, reason)
            logger.info("alert not sent", extra={"channel": name, "reason": reason})
        by_id = {d.id: d for d in pending}
        for message in decided.send:
            self._send(name, message, [by_id[p.id] for p in message.deliveries], config.max_age)
        return decided.wake_at

    def _send(self, name: str, message: Message, batch: list[Delivery], max_age: float) -> None:
        fields = {"channel": name, "events": ",".join(str(d.alert.event_id) for d in batch)}
        try:
            channel = self.channel(name)
            assert channel is not None
            config = self.configs[name]
            if message.digest:
                groups = [[p.alert for p in group] for group in message.groups]
                title, body = render_digest(groups, channel.format)
            else:
                (group,) = message.groups
                sources = list(dict.fromkeys(p.alert.source for p in group))
                title, body = render(
                    group[0].alert, channel.format, config.title, config.body, sources
                )
            result = channel.send(title, body)
            ok, detail = result.ok, result.detail
        except Exception as exc:  # one broken alert must not stop the others
            logger.exception("alert could not be sent", extra=fields)
            ok, detail = False, redact(f"{type(exc).__name__}: {exc}")
        now = self.clock()
        if ok:
            self.store.delivered(name, [d.id for d in batch])
            logger.info("digest sent" if message.digest else "alert sent", extra=fields)
        else:
            oldest = min(d.created_at for d in batch)
            self._failed(batch, detail, now, final=now - oldest >= max_age)
        failpoint("outbox.after_send")

    def _failed(self, batch: list[Delivery], reason: str, now: float, final: bool) -> None:
        ids = [d.id for d in batch]
        fields = {"channel": batch[0].channel, "deliveries": len(ids), "reason": reason}
        if final:
            self.store.delivery_failed(ids, reason, None)
            logger.error("alert failed for good", extra=fields)
            return
        delay = retry_delay(max(d.attempts for d in batch) + 1)
        self.store.delivery_failed(ids, reason, now + delay)
        logger.warning("alert not sent; will retry", extra={**fields, "retry_in": f"{delay:.0f}s"})


CHANNEL_LEASE = 30.0  # how long an instance holds a channel it drains, renewed each pass


class ChannelWorkers:
    """One thread a channel in the daemon: a channel that hangs holds up nothing else.

    Instances sharing a database take turns on a channel through a claim: one drains it
    at a time, so that each alert is sent once and the channel's digests and limits hold.
    """

    def __init__(self, outbox: Outbox, instance: str, lease: float = CHANNEL_LEASE) -> None:
        self.outbox = outbox
        self.instance = instance
        self.lease = lease
        self._stop = threading.Event()
        self._kicks = {name: threading.Event() for name in outbox.configs}
        self._threads = [
            threading.Thread(target=self._run, args=(name,), name=f"channel-{name}", daemon=True)
            for name in outbox.configs
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def kick(self) -> None:
        """There may be new deliveries: every channel looks now."""
        for event in self._kicks.values():
            event.set()

    def stop(self, deadline: float) -> list[str]:
        """Stops the workers; returns the channels still busy sending after `deadline`
        seconds (their threads are left behind, and their alerts stay pending)."""
        self._stop.set()
        self.kick()
        end = time.monotonic() + deadline
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        return [t.name.removeprefix("channel-") for t in self._threads if t.is_alive()]

    def _run(self, name: str) -> None:
        kick = self._kicks[name]
        store, claim = self.outbox.store, f"channel:{name}"
        held = False
        while not self._stop.is_set():
            wake_at = None
            try:
                held = store.claim(claim, self.instance, self.lease, due=False)
                if held:
                    wake_at = self.outbox.run_channel(name)
            except Exception:
                logger.exception("delivery pass failed; will try again", extra={"channel": name})
            idle = min(IDLE, self.lease / 3)  # back before the claim runs out
            wait = idle if wake_at is None else min(max(wake_at - self.outbox.clock(), 0.05), idle)
            kick.wait(wait)
            kick.clear()
        if held:
            try:
                store.release(claim, self.instance)
            except Exception:  # the lease runs out on its own
                logger.exception("cannot release channel", extra={"channel": name})
