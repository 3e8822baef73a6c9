"""The store: sources, entries, every revision, events and the delivery outbox.

SQLAlchemy Core over SQLite (WAL) by default. A poll's snapshot, its events and their
pending deliveries are written in one transaction: a crash before the commit loses
nothing (the next poll sees the same change again), and a crash after it makes no second
event (the change is already stored). Deliveries are sent after the commit, from the
outbox, and marked done one by one.

`Store` is the face; each part lives in a module of its own, over one `Database`:
source_records.py (each source's polling record), claiming.py (which instance does
what), polls.py (the poll transaction), outbox.py (deliveries), lookback.py (history),
desk.py (the web desk's reads and search).
"""

from __future__ import annotations

from watcher.model import Alert
from watcher.store.claiming import ClaimLost, Claims
from watcher.store.desk import Desk, EntryView, EventFilter
from watcher.store.engine import StoreError, check_url
from watcher.store.lookback import Lookback
from watcher.store.migrations import SCHEMA_VERSION
from watcher.store.outbox import Outbox
from watcher.store.polls import Polling, PollTransaction
from watcher.store.records import (
    ClaimRow,
    Delivery,
    DeliveryView,
    DeskEvent,
    RevisionRow,
    SearchHit,
    SourceRow,
    SourceState,
    Touch,
)
from watcher.store.schema import (
    PAUSED,
    claims,
    current,
    deliveries,
    entries,
    events,
    meta,
    revisions,
    sends,
    sources,
)
from watcher.store.source_records import SourceRecords

__all__ = [
    "PAUSED",
    "SCHEMA_VERSION",
    "Alert",
    "ClaimLost",
    "ClaimRow",
    "Delivery",
    "DeliveryView",
    "DeskEvent",
    "EntryView",
    "EventFilter",
    "PollTransaction",
    "RevisionRow",
    "SearchHit",
    "SourceRow",
    "SourceState",
    "Store",
    "StoreError",
    "Touch",
    "check_url",
    "claims",
    "current",
    "deliveries",
    "entries",
    "events",
    "meta",
    "revisions",
    "sends",
    "sources",
]


class Store(SourceRecords, Claims, Polling, Outbox, Lookback, Desk):
    """One database, every part of the store."""
