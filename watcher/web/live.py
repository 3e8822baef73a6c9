"""New events to open pages, as they are stored: server-sent events.

One task per site looks at the store twice a second for events past the last it saw
(which sees the polls of every instance on the database, and of a daemon elsewhere when
the desk runs alone) and hands them to each open page's queue; each look also adds a
batch to SQLite's search index, in a thread. A page that does not read is dropped once
its queue is full: it cannot hold the daemon's memory or stall the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from watcher.store import DeskEvent, EventFilter, Store

logger = logging.getLogger(__name__)
TICK = 0.5  # seconds between looks at the store
BATCH = 200  # events read at one look
QUEUE = 500  # events a page may lag behind before it is dropped: more than one look gives
# Ids below the highest seen that are read again at each look: on PostgreSQL, with several
# writers, a lower id may commit after a higher one.
LOOKBACK = 50


class Feed:
    """The events after `last`, fanned out to subscribers."""

    def __init__(self, store: Store, tick: float = TICK) -> None:
        self.store = store
        self.tick = tick
        self.first = self.last = 0  # the newest id at the start; the newest since
        self._seen: set[int] = set()  # ids in the window read again
        self._pages: set[asyncio.Queue[DeskEvent | None]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.first = self.last = await self.store.call(self.store.last_event_id)
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for queue in list(self._pages):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    def subscribe(self) -> asyncio.Queue[DeskEvent | None]:
        queue: asyncio.Queue[DeskEvent | None] = asyncio.Queue(QUEUE)
        self._pages.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[DeskEvent | None]) -> None:
        self._pages.discard(queue)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.look()
            except Exception:  # the store may be away for a while: the next look retries
                logger.warning("desk: cannot read new events", exc_info=True)

    async def look(self) -> None:
        # SQLite's search index follows the polls a batch a look, off the loop.
        await asyncio.to_thread(self.store.index_search)
        since = max(0, self.last - LOOKBACK)
        fresh = await self.store.call(self.store.desk_events, EventFilter(), None, since, BATCH)
        for event in fresh:
            event_id = event.alert.event_id or 0
            if event_id <= self.first or event_id in self._seen:
                continue  # there before the start, or told already
            self._seen.add(event_id)
            self.last = max(self.last, event_id)
            for queue in list(self._pages):
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:  # a page that does not read: let it go
                    self._pages.discard(queue)
                    queue.get_nowait()
                    queue.put_nowait(None)
        self._seen = {i for i in self._seen if i > self.last - LOOKBACK}


def wanted(filters: EventFilter) -> Callable[[DeskEvent], bool]:
    """Whether an event belongs on a page with these filters."""

    def test(event: DeskEvent) -> bool:
        alert = event.alert
        if filters.rule and filters.rule not in alert.tags:
            return False
        if filters.kind and alert.kind.value != filters.kind:
            return False
        source = alert.source
        return not filters.source or filters.source in (source, source.split("/", 1)[0])

    return test
