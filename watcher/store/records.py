"""Rows of the store as plain typed data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from watcher.model import Alert, Kind, Match


@dataclass(frozen=True, slots=True)
class SourceRow:
    id: int
    name: str
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    baselined: bool
    failures: int = 0
    held_since: float | None = None
    held: str | None = None
    bad_hash: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class SourceState:
    name: str  # the target's
    source: str  # the configured source's
    kind: str
    last_poll_at: float | None
    last_success_at: float | None
    last_change_at: float | None
    last_error: str | None
    last_error_at: float | None
    failures: int
    title: str | None = None  # the live blog's, as it last gave it
    held: str | None = None  # why its last poll is held back, until the next confirms it


@dataclass(frozen=True, slots=True)
class ClaimRow:
    name: str
    next_due: float
    owner: str | None
    alive: bool  # whether the owner holds its liveness lock (as the row was read)
    last_owner: str | None
    last_done_at: float | None


@dataclass(frozen=True, slots=True)
class EntryRow:
    key: str
    title: str
    revision: int
    first_seen: float
    updated_at: float
    removed_at: float | None


@dataclass(frozen=True, slots=True)
class RevisionRow:
    revision: int
    title: str
    body: str
    created_at: float


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One revision of an entry (kind NEW), or its removal (kind REMOVED)."""

    source: str  # the target's name
    configured: str  # the configured source's name
    entry_id: int
    key: str
    url: str | None
    revision: int
    title: str
    body: str
    at: float
    kind: Kind


@dataclass(frozen=True, slots=True)
class Touch:
    """A poll of a known source that found nothing new, noted later with others."""

    source_id: int
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    channel: str
    attempts: int
    next_attempt_at: float
    created_at: float
    priority: bool
    alert: Alert
    sending_at: float | None = None  # a send under way, or cut off, since then


def alert_of(r: Any) -> Alert:
    """The alert of a row read with EVENT_COLUMNS."""
    return Alert(
        source=r.source,
        kind=Kind(r.kind),
        key=r.key or "",
        title=r.title or "",
        body=r.body if r.body is not None else (r.detail or ""),
        url=r.url,
        tags=tuple(json.loads(r.tags)),
        matches=tuple(Match(*m) for m in json.loads(r.matches)),
        diff=tuple((op, text) for op, text in json.loads(r.diff or "[]")),
        created_at=r.created_at,
        event_id=r.event_id,
        blog=r.blog or "",
        published=r.published,
    )


def delivery_of(r: Any) -> Delivery:
    return Delivery(
        id=r.id,
        channel=r.channel,
        attempts=r.attempts,
        next_attempt_at=r.next_attempt_at,
        created_at=r.delivery_created_at,
        priority=bool(r.priority),
        alert=alert_of(r),
        sending_at=r.sending_at,
    )


@dataclass(frozen=True, slots=True)
class DeskEvent:
    """An event as the desk shows it: the alert, and the entry it is about (if any)."""

    alert: Alert
    entry_id: int | None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """A delivery as the desk's Alerts page shows it."""

    id: int
    channel: str
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    done_at: float | None
    event: DeskEvent


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A revision whose text matched a search."""

    id: int  # the revision's row: the key the pages go by
    entry_id: int
    source: str
    blog: str
    key: str
    url: str | None
    revision: int
    title: str
    body: str
    created_at: float


def source_row(row: Any) -> SourceRow:
    return SourceRow(
        id=row.id,
        name=row.name,
        etag=row.etag,
        last_modified=row.last_modified,
        content_hash=row.content_hash,
        baselined=bool(row.baselined),
        failures=row.failures,
        held_since=row.held_since,
        held=row.held,
        bad_hash=row.bad_hash,
        last_error=row.last_error,
    )
