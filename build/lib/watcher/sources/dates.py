"""Entry dates as sources write them (RFC 822 or ISO 8601), for ordering entries."""

from __future__ import annotations

import email.utils
from collections.abc import Iterable
from datetime import UTC, datetime

from watcher.model import Entry


def timestamp(value: str | None) -> float | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def newest_first(entries: Iterable[Entry]) -> list[Entry]:
    """Entries by date, newest first, when they run oldest first and every one has a
    readable date; else as given.

    Removal is judged against the window a source shows, so its order has to be right,
    even for feeds that list their oldest item first.
    """
    listed = list(entries)
    if len(listed) < 2:
        return listed
    first, last = (timestamp(e.published or e.updated) for e in (listed[0], listed[-1]))
    if first is None or last is None or first >= last:
        return listed  # newest first already, as nearly every source is; or undated
    stamps = [timestamp(e.published or e.updated) for e in listed]
    if any(s is None for s in stamps):
        return listed
    order = sorted(range(len(listed)), key=lambda i: -(stamps[i] or 0.0))
    return [listed[i] for i in order]
