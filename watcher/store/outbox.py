"""The outbox: deliveries waiting for their channel, and what each channel sent."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from watcher.model import DeliveryStatus
from watcher.store.database import Database
from watcher.store.records import (
    Delivery,
    delivery_of,
)
from watcher.store.schema import (
    DELIVERIES,
    deliveries,
    sends,
)


class Outbox(Database):
    """Deliveries by status: pending, done, failed or dropped."""

    BATCH = 500

    def pending(self, channel: str | None = None, after: int = 0) -> list[Delivery]:
        """Pending deliveries, oldest first, from the first with an id above `after`;
        those of one channel, or of all."""
        query = DELIVERIES.where(
            deliveries.c.status == DeliveryStatus.PENDING, deliveries.c.id > after
        )
        if channel is not None:
            query = query.where(deliveries.c.channel == channel)
        with self._read() as conn:
            rows = conn.execute(query.order_by(deliveries.c.id).limit(self.BATCH)).all()
        return [delivery_of(r) for r in rows]

    def recently_sent(self, channel: str, since: float) -> list[Delivery]:
        """Deliveries the channel sent since `since`, for suppressing copies of them."""
        query = DELIVERIES.where(
            deliveries.c.channel == channel,
            deliveries.c.status == DeliveryStatus.DONE,
            deliveries.c.done_at >= since,
        )
        with self._read() as conn:
            return [delivery_of(r) for r in conn.execute(query.order_by(deliveries.c.id))]

    def send_times(self, channel: str, since: float) -> list[float]:
        """When the channel sent its messages since `since` (for its rate limit)."""
        query = sa.select(sends.c.sent_at).where(
            sends.c.channel == channel, sends.c.sent_at >= since
        )
        with self._read() as conn:
            return [float(t) for t in conn.execute(query).scalars()]

    def sending(self, ids: Sequence[int]) -> None:
        """Notes a send of these deliveries under way (committed before it starts): found
        later by a process that did not make it, it was cut off."""
        with self._write() as conn:
            conn.execute(
                deliveries.update().where(deliveries.c.id.in_(ids)).values(sending_at=time.time())
            )

    def delivered(self, channel: str, ids: Sequence[int]) -> None:
        """Marks the deliveries of one message done, and notes the message."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(ids))
                .values(
                    status=DeliveryStatus.DONE,
                    attempts=deliveries.c.attempts + 1,
                    done_at=now,
                    last_error=None,
                    sending_at=None,
                )
            )
            conn.execute(sends.insert().values(channel=channel, sent_at=now, deliveries=len(ids)))

    def delivery_failed(self, ids: Sequence[int], reason: str, retry_at: float | None) -> None:
        """Records a failed send: pending again at `retry_at`, or failed for good if None."""
        values: dict[str, Any] = {
            "attempts": deliveries.c.attempts + 1,
            "last_error": reason,
            "sending_at": None,
        }
        if retry_at is None:
            values.update(status=DeliveryStatus.FAILED, done_at=time.time())
        else:
            values["next_attempt_at"] = retry_at
        with self._write() as conn:
            conn.execute(deliveries.update().where(deliveries.c.id.in_(ids)).values(values))

    def dropped(self, delivery_id: int, reason: str) -> None:
        """A delivery that is not sent, by the channel's choice; the reason is kept."""
        with self._write() as conn:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery_id)
                .values(status=DeliveryStatus.DROPPED, last_error=reason, done_at=time.time())
            )

    def failed_deliveries(self, limit: int = 20) -> list[tuple[str, str, str | None]]:
        """(channel, status, reason) of the latest deliveries that were not sent."""
        query = (
            sa.select(deliveries.c.channel, deliveries.c.status, deliveries.c.last_error)
            .where(
                deliveries.c.status.in_([DeliveryStatus.FAILED, DeliveryStatus.PENDING]),
                deliveries.c.last_error.is_not(None),
            )
            .order_by(deliveries.c.id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            return [(row.channel, row.status, row.last_error) for row in conn.execute(query)]

    def delivery_counts(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
            ).all()
        return {status: count for status, count in rows}
