"""The outbox: pending deliveries, sent after their poll committed, marked done per message.

Each channel is drained on its own (in the daemon, in a thread of its own, so that a
channel that hangs holds up nothing else). What goes out when is the policy's call
(policy.py); a failed send stays pending and is retried with growing, jittered delays
until the alert is `max_age` old, then it is marked failed, with the reason, in the store
and in the log. Nothing is dropped silently.

A send is noted in the store before it starts, and each try of a message carries its key
(webhooks: the `Idempotency-Key` header), made from the deliveries it holds. A process
killed after the channel took a message and before it noted so leaves the note behind:
the next pass sends the message again under the same key, so that a receiver can drop
the copy, and logs that it did.
That window, from the channel's answer to the commit, is milliseconds; no channel offers
a way to close it.
"""

from __future__ import annotations

import functools
import hashlib
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
from watcher.notify.policy import Message, Pending, Policy, QuietHours, Recent, fingerprint, plan
from watcher.notify.render import clipped, render, render_digest
from watcher.sanitize import Limits
from watcher.store import Delivery, Store

if TYPE_CHECKING:
    from watcher.config import ChannelConfig, Config, DuplicatesConfig
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


def message_key(channel: str, batch: list[Delivery]) -> str:
    """The key of a message: the same for every try of the same deliveries, and another
    for any other set (a digest that gained an alert is another message, and a receiver
    must not drop it as a copy). Their creation times keep two stores' ids apart."""
    made = ";".join(f"{d.id}@{d.created_at!r}" for d in sorted(batch, key=lambda d: d.id))
    return hashlib.blake2b(f"{channel}\x00{made}".encode(), digest_size=16).hexdigest()


class Outbox:
    def __init__(
        self,
        store: Store,
        channels: Mapping[str, ChannelConfig],
        duplicates: DuplicatesConfig,
        clock: Callable[[], float] = time.time,
        alert_chars: int = Limits().alert_chars,
    ) -> None:
        """`alert_chars`: the most of an entry's text (and of its changes) one alert
        carries; the store keeps more."""
        self.store = store
        self.configs = channels
        self.duplicates = duplicates
        self.clock = clock
        self.alert_chars = alert_chars
        self._channels: dict[str, Channel] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, store: Store, config: Config) -> Outbox:
        return cls(store, config.channels, config.duplicates, alert_chars=config.limits.alert_chars)

    def channel(self, name: str) -> Channel | None:
        """The named channel, made on first use: Apprise loads only when there is mail."""
        with self._lock:
            if name not in self._channels and name in self.configs:
                from watcher.notify.channels import Channel

                config = self.configs[name]
                self._channels[name] = Channel(name, config.urls, config.format)
            return self._channels.get(name)

    def drain(self, owner: str, due_only: bool = True) -> None:
        """One pass over every channel with pending deliveries (the `check` command), as
        the registered instance `owner`: a channel that a running daemon drains is left
        to it."""
        for name in sorted({d.channel for d in self.store.pending()}):
            claim = f"channel:{name}"
            if not self.store.claim(claim, owner, due=False):
                logger.info("channel left to the instance that drains it", extra={"channel": name})
                continue
            try:
                self.run_channel(name, functools.partial(self.store.holds, claim, owner), due_only)
            finally:
                self.store.release(claim, owner)

    def run_channel(
        self, name: str, fence: Callable[[], bool], due_only: bool = True
    ) -> float | None:
        """Sends what the channel's policy allows now; returns when to look again.

        `fence` is asked before each message: whether this process still holds the
        channel. A no ends the pass, and the message stays pending for the holder.
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
                Recent(d.alert.created_at, d.alert.source, fingerprint(d.alert))
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
            if not fence():
                logger.warning("channel no longer held; pass ended", extra={"channel": name})
                return None
            self._send(name, message, [by_id[p.id] for p in message.deliveries], config.max_age)
        return decided.wake_at

    def _send(self, name: str, message: Message, batch: list[Delivery], max_age: float) -> None:
        fields = {"channel": name, "events": ",".join(str(d.alert.event_id) for d in batch)}
        key = message_key(name, batch)
        if any(d.sending_at is not None for d in batch):  # the channel may have taken it
            logger.warning(
                "alert sent again after a send cut off by a crash; the channel may show it"
                " twice, under the same key",
                extra={**fields, "key": key},
            )
        self.store.sending([d.id for d in batch])
        try:
            channel = self.channel(name)
            if channel is None:  # not in the config since the delivery was queued
                raise LookupError(f"no channel named {name!r} in the config")
            config = self.configs[name]
            groups = [[clipped(p.alert, self.alert_chars) for p in g] for g in message.groups]
            if message.digest:
                title, body = render_digest(groups, channel.format)
            else:
                (group,) = groups
                sources = list(dict.fromkeys(alert.source for alert in group))
                title, body = render(group[0], channel.format, config.title, config.body, sources)
            result = channel.send(title, body, key)
            ok, detail = result.ok, result.detail
        except Exception as exc:  # one broken alert must not stop the others
            logger.exception("alert could not be sent", extra=fields)
            ok, detail = False, redact(f"{type(exc).__name__}: {exc}")
        now = self.clock()
        if ok:
            failpoint("outbox.before_mark")  # the window: the channel took it, not yet noted
            self.store.delivered(name, [d.id for d in batch])
            # On the console the alert itself is the news: its log line would interleave.
            console = all(u.startswith("console://") for u in self.configs[name].urls)
            level = logging.DEBUG if console else logging.INFO
            logger.log(level, "digest sent" if message.digest else "alert sent", extra=fields)
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


class ChannelWorkers:
    """One thread a channel in the daemon: a channel that hangs holds up nothing else.

    Instances sharing a database take turns on a channel through a claim: one drains it
    at a time, so that each alert is sent once and the channel's digests and limits hold.
    The claim is the instance's until it stops or dies (store/liveness.py), and is
    checked before every message, however long a pass takes.
    """

    def __init__(self, outbox: Outbox, instance: str) -> None:
        self.outbox = outbox
        self.instance = instance
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

    def halt(self) -> None:
        """No message starts from now on; sends in flight end as they will."""
        self._stop.set()
        self.kick()

    def stop(self, deadline: float) -> list[str]:
        """Stops the workers; returns the channels still busy sending after `deadline`
        seconds (their threads are left behind, and their alerts stay pending)."""
        self.halt()
        end = time.monotonic() + deadline
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(max(0.0, end - time.monotonic()))
        return self.busy()

    def busy(self) -> list[str]:
        """The channels whose threads have not ended yet."""
        return [t.name.removeprefix("channel-") for t in self._threads if t.is_alive()]

    def _run(self, name: str) -> None:
        kick = self._kicks[name]
        store, claim = self.outbox.store, f"channel:{name}"

        def fence() -> bool:  # not stopping (a reload's new workers take over), and ours
            return not self._stop.is_set() and store.holds(claim, self.instance)

        held = False
        while not self._stop.is_set():
            wake_at = None
            try:
                held = store.claim(claim, self.instance, due=False)
                if held:
                    wake_at = self.outbox.run_channel(name, fence)
            except Exception:
                logger.exception("delivery pass failed; will try again", extra={"channel": name})
            wait = IDLE if wake_at is None else min(max(wake_at - self.outbox.clock(), 0.05), IDLE)
            kick.wait(wait)
            kick.clear()
        if held:
            try:
                store.release(claim, self.instance)
            except Exception:  # kept: this instance takes it again when it starts
                logger.exception("cannot release channel", extra={"channel": name})
