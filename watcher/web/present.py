"""Stored events, revisions and deliveries as the desk's templates show them. Pure.

Everything here came from someone else's page or feed: it reaches the template either
as plain text (which Jinja escapes) or as Markup made by render.py, which escapes the
text and adds only our own `<p>`, `<mark>`, `<ins>` and `<del>`. Links are http(s) only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup

from watcher.diff import word_diff
from watcher.model import Kind, document
from watcher.notify.escape import http_url
from watcher.notify.render import LABELS, WEB, body_text, clipped, headline, render_diff, when
from watcher.sanitize import Limits
from watcher.store import DeskEvent, RevisionRow
from watcher.text import printable

TEXT_LIMIT = Limits().alert_chars  # characters of an update's changes on the desk
PREVIEW = 600  # characters of a new or removed entry's text: its first lines, the rest on
# its own page (the stylesheet shows about five lines)


@dataclass(frozen=True, slots=True)
class EventCard:
    id: int
    kind: str  # new, updated, removed, down, up, flood
    label: str
    at: str  # ISO 8601, UTC: the page shows it in the reader's time zone
    at_text: str
    source: str
    blog: str
    tags: tuple[str, ...]
    headline: str
    text: Markup
    url: str  # "" unless http(s)
    entry_id: int | None
    published: str


def stamp(seconds: float | None) -> tuple[str, str]:
    """(ISO 8601, `2025-02-13 10:42 UTC`) of a time, or ("", "-")."""
    if not seconds:
        return "", "-"
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="seconds"), moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def card(event: DeskEvent) -> EventCard:
    updated = event.alert.kind is Kind.UPDATED and event.alert.diff
    alert = clipped(event.alert, TEXT_LIMIT if updated else PREVIEW)
    if alert.kind is Kind.UPDATED and alert.diff:
        text = render_diff(alert.diff, alert.matches, "html", style=WEB)
    else:
        text = body_text(alert, "html", style=WEB)
    at, at_text = stamp(alert.created_at)
    return EventCard(
        id=alert.event_id or 0,
        kind=alert.kind.value,
        label=LABELS[alert.kind],
        at=at,
        at_text=at_text,
        source=printable(alert.source),
        blog=printable(alert.blog),
        tags=tuple(printable(t) for t in alert.tags),
        headline=printable(headline(alert)),
        text=Markup(text),
        url=http_url(alert.url),
        entry_id=event.entry_id,
        published=when(alert.published),
    )


def revision_diff(old: RevisionRow, new: RevisionRow) -> Markup:
    """One revision against another, every word kept, the changes marked."""
    ops = word_diff(document(old.title, old.body), document(new.title, new.body))
    return Markup(render_diff(ops, fmt="html", cut=False, style=WEB))


def since(seconds: float | None, now: float | None = None) -> str:
    """`3 min`, `2 h`: how long ago, for a failing source."""
    if not seconds:
        return ""
    gone = max(0.0, (now or time.time()) - seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if gone >= size:
            return f"{gone // size:.0f} {unit}"
    return f"{gone:.0f} s"
