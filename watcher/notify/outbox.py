"""The outbox: pending deliveries, sent after their poll committed, marked done one by one.

A failed send stays pending and is tried again later, with growing delays; nothing is
dropped silently.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from watcher.failpoints import failpoint
from watcher.log import redact
from watcher.notify.render import render
from watcher.store import Delivery, Store

if TYPE_CHECKING:
    from watcher.config import ChannelConfig
    from watcher.notify.channels import Channel

logger = logging.getLogger(__name__)
RETRY_BASE = 15.0
RETRY_CAP = 900.0


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failures: doubling, capped, jittered."""
    delay = min(RETRY_BASE * 2 ** max(attempts - 1, 0), RETRY_CAP)
    return float(delay * random.uniform(0.8, 1.2))


@dataclass
class DrainStats:
    sent: int = 0
    failed: int = 0


class Outbox:
    def __init__(
        self,
        store: Store,
        channels: Mapping[str, ChannelConfig],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.configs = channels
        self.clock = clock
        self._channels: dict[str, Channel] = {}

    def channel(self, name: str) -> Channel | None:
        """The named channel, made on first use: Apprise loads only when there is mail."""
        if name not in self._channels and name in self.configs:
            from watcher.notify.channels import Channel

            self._channels[name] = Channel(name, self.configs[name].urls)
        return self._channels.get(name)

    def _send(self, delivery: Delivery) -> tuple[bool, str]:
        try:
            channel = self.channel(delivery.channel)
            if channel is None:
                return False, f"channel '{delivery.channel}' is not configured"
            title, body = render(delivery.alert, channel.format)
            result = channel.send(title, body)
        except Exception as exc:  # one broken alert must not stop the others
            logger.exception("alert could not be sent", extra={"channel": delivery.channel})
            return False, redact(f"{type(exc).__name__}: {exc}")
        return result.ok, result.detail

    def drain(self, due_only: bool = True) -> DrainStats:
        """Sends pending deliveries; with `due_only` False, retries those waiting too."""
        stats = DrainStats()
        after = 0
        while True:
            batch = self.store.due_deliveries(self.clock() if due_only else None, after=after)
            for delivery in batch:
                after = delivery.id
                sent_ok, detail = self._send(delivery)
                fields = {"channel": delivery.channel, "event": delivery.alert.event_id}
                if sent_ok:
                    self.store.delivered(delivery.id)
                    stats.sent += 1
                    logger.info("alert sent", extra=fields)
                else:
                    delay = retry_delay(delivery.attempts + 1)
                    self.store.delivery_failed(delivery.id, detail, self.clock() + delay)
                    stats.failed += 1
                    logger.warning(
                        "alert not sent; will retry",
                        extra={**fields, "reason": detail, "retry_in": f"{delay:.0f}s"},
                    )
                failpoint("outbox.after_send")
            if len(batch) < self.store.BATCH:
                return stats
