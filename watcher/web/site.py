"""What every page of the desk shares: the store and config, templates, the signed-in
state, the query's filters and keys, security headers.

Every response carries a Content-Security-Policy that allows scripts, styles and
connections from this site alone, and no inline script: text from a watched page that
slipped through as markup still could not run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import jinja2
from aiohttp import web

from watcher.config import Config
from watcher.model import Kind
from watcher.store import DeskEvent, EventFilter, Store
from watcher.web.access import Access
from watcher.web.live import Feed
from watcher.web.present import card, since, stamp

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
KINDS = [k.value for k in Kind]
CARDS_KEPT = 500  # rendered cards kept for the streams
logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SITE: web.AppKey[Site] = web.AppKey("site")


@dataclass
class Site:
    """What the pages need: the store, the config as it is now (a reload replaces it),
    and what to tell the daemon after an action (nothing, for `watcher web`)."""

    store: Store
    config: Callable[[], Config]
    kick: Callable[[], None] = lambda: None
    feed: Feed = field(init=False)
    templates: jinja2.Environment = field(init=False)
    _cards: dict[int, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.feed = Feed(self.store)
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("watcher.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["as_text"] = str
        self.templates.globals.update(stamp=stamp, failing_for=since)

    @property
    def access(self) -> Access:
        http = self.config().http
        return Access(http.token if http is not None else None)

    def page(self, request: web.Request, name: str, **values: Any) -> web.Response:
        access = self.access
        signed_in = access.signed_in(request)
        html = self.templates.get_template(f"{name}.html").render(
            page=values.pop("page", name.capitalize()),
            signed_in=signed_in,
            can_sign_in=access.token is not None,
            csrf=access.csrf(request) if signed_in else "",
            **values,
        )
        return web.Response(text=html, content_type="text/html")

    async def filters(self, request: web.Request) -> EventFilter:
        """The filters in a page's query; 400 for a kind, rule or source not known."""
        config = self.config()
        found = EventFilter(
            source=request.query.get("source", ""),
            rule=request.query.get("rule", ""),
            kind=request.query.get("kind", ""),
        )
        if found.kind and found.kind not in KINDS:
            raise web.HTTPBadRequest(text=f"kind: one of {', '.join(KINDS)}\n")
        if found.rule and found.rule not in {r.name for r in config.rules}:
            raise web.HTTPBadRequest(text="rule: no rule of that name\n")
        if found.source and found.source not in await self.source_names():
            raise web.HTTPBadRequest(text="source: no source of that name\n")
        return found

    async def source_names(self) -> list[str]:
        """Configured sources, then the targets under them that the store knows."""
        configured = [s.name for s in self.config().sources]
        known = [s.name for s in await self.store.call(self.store.source_states)]
        return configured + [n for n in known if n not in configured]

    def card_html(self, event: DeskEvent) -> str:
        """An event's card as the stream sends it: rendered once, whatever the number of
        open pages."""
        event_id = event.alert.event_id or 0
        html = self._cards.get(event_id)
        if html is None:
            html = self.templates.get_template("_event.html").render(e=card(event))
            self._cards[event_id] = html
            while len(self._cards) > CARDS_KEPT:
                del self._cards[next(iter(self._cards))]
        return html


def number(text: str) -> int | None:
    """An id or a key as a URL writes it: ASCII digits, at most 18 (`"²".isdigit()` is
    true, and int() refuses it)."""
    return int(text) if re.fullmatch(r"[0-9]{1,18}", text) else None


def key(request: web.Request, name: str = "before") -> int | None:
    """A page key from the query: a positive integer, else 400."""
    value = request.query.get(name)
    if value is None or value == "":
        return None
    found = number(value)
    if found is None:
        raise web.HTTPBadRequest(text=f"{name}: a positive whole number\n")
    return found


def moment(request: web.Request, name: str) -> float | None:
    """A time from a datetime-local field (`2025-02-13T10:00`, UTC), else 400."""
    value = request.query.get(name, "")
    if not value:
        return None
    if not re.fullmatch(r"\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d)?)?", value):
        raise web.HTTPBadRequest(text=f"{name}: a date and time as 2025-02-13T10:00\n")
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: no such date\n") from None


@web.middleware
async def secured(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    except Exception:  # a bug, or the store away: one plain 500, with the same headers
        logger.exception("desk: request failed", extra={"path": request.path})
        raise web.HTTPInternalServerError(
            text="the desk could not answer; the log says why\n", headers=SECURITY_HEADERS
        ) from None
    response.headers.update(SECURITY_HEADERS)
    return response


def static_files() -> Any:
    return files("watcher.web") / "static"
