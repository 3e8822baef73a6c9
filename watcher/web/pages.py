"""The desk's pages: Desk (events, live), Sources, Entry, Search and Alerts; and the
stream of new events that keeps an open Desk current."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import quote, urlencode

from aiohttp import web
from markupsafe import Markup

from watcher.lookback import source_views
from watcher.model import DeliveryStatus
from watcher.notify.escape import http_url
from watcher.store import DeliveryView, DeskEvent, EventFilter, RevisionRow
from watcher.web.live import BATCH, wanted
from watcher.web.present import card, revision_diff
from watcher.web.site import KINDS, SITE, Site, key, moment, number

PAGE = 50
HEARTBEAT = 15.0  # seconds between keep-alive comments on a quiet stream
WRITE_TIMEOUT = 10.0  # a page that takes longer to take an event is let go


def _query(filters: EventFilter, **more: object) -> str:
    pairs = {"rule": filters.rule, "source": filters.source, "kind": filters.kind, **more}
    return urlencode({k: v for k, v in pairs.items() if v not in ("", None)})


async def desk(request: web.Request) -> web.Response:
    site = request.app[SITE]
    filters = await site.filters(request)
    before = key(request)
    events = await site.store.call(site.store.desk_events, filters, before, None, PAGE)
    more = f"/?{_query(filters, before=events[-1].alert.event_id)}" if len(events) == PAGE else ""
    # The first page stays current: the stream sends what came after its newest event.
    stream = ""
    if before is None:
        newest = (
            events[0].alert.event_id if events else await site.store.call(site.store.last_event_id)
        )
        stream = f"/stream?{_query(filters, after=newest)}"
    return site.page(
        request,
        "desk",
        events=[card(e) for e in events],
        filters=filters,
        rules=[r.name for r in site.config().rules],
        sources=await site.source_names(),
        kinds=KINDS,
        more=more,
        stream=stream,
        feeds=_feeds(filters),
    )


def _feeds(filters: EventFilter) -> list[tuple[str, str]]:
    """(label, href) of the Atom feeds of the filtered rule and source."""
    return [
        (f"Atom feed of {name}", f"/feeds/{what}/{quote(name, safe='')}.atom")
        for what, name in (("rule", filters.rule), ("source", filters.source))
        if name
    ]


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: each new event the filters let through, as the HTML of its
    card, which the page puts on top. From `?after=ID` (the page's newest) or the
    Last-Event-ID a reconnecting browser sends, what came since is sent first."""
    site = request.app[SITE]
    filters = await site.filters(request)
    test = wanted(filters)
    after = key(request, "after")
    resumed = number(request.headers.get("Last-Event-ID", ""))
    after = resumed if resumed is not None else after
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    queue = site.feed.subscribe()  # before the backlog is read: nothing falls between
    sent = 0
    try:
        if after is not None:
            backlog = await site.store.call(site.store.desk_events, filters, None, after, BATCH)
            for missed in backlog:
                sent = await _send(site, response, missed)
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except TimeoutError:
                await asyncio.wait_for(response.write(b": keep-alive\n\n"), WRITE_TIMEOUT)
                continue
            if event is None:  # the site stops, or this page fell too far behind
                break
            if test(event) and (event.alert.event_id or 0) > sent:
                await _send(site, response, event)
    except (ConnectionResetError, TimeoutError):
        pass  # the page went away, or stopped reading
    finally:
        site.feed.unsubscribe(queue)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


async def _send(site: Site, response: web.StreamResponse, event: DeskEvent) -> int:
    data = "".join(f"data: {line}\n" for line in site.card_html(event).splitlines())
    message = f"id: {event.alert.event_id}\nevent: event\n{data}\n"
    await asyncio.wait_for(response.write(message.encode()), WRITE_TIMEOUT)
    return event.alert.event_id or 0


async def sources(request: web.Request) -> web.Response:
    site = request.app[SITE]
    config = site.config()
    views = await site.store.call(source_views, config, site.store, time.time())
    activity = await site.store.call(site.store.activity, time.time() - 86400)
    return site.page(
        request,
        "sources",
        views=views,
        activity=activity,
        configured={s.name for s in config.sources},
    )


async def entry(request: web.Request) -> web.Response:
    site = request.app[SITE]
    entry_id = number(request.match_info["entry"])
    if entry_id is None:
        raise web.HTTPNotFound(text="no such entry\n")
    view = await site.store.call(site.store.entry_view, entry_id)
    if view is None or not view.revisions:
        raise web.HTTPNotFound(text="no such entry\n")
    numbers = {r.revision: r for r in view.revisions}
    b = key(request, "b") or max(numbers)
    a = key(request, "a") or max((n for n in numbers if n < b), default=b)
    if a not in numbers or b not in numbers:
        raise web.HTTPBadRequest(text=f"a, b: revisions {min(numbers)} to {max(numbers)}\n")
    return site.page(
        request,
        "entry",
        page="Entry",
        source=view.source,
        blog=view.blog,
        key=view.key,
        url=http_url(view.url),
        removed=view.removed_at and time.strftime("%Y-%m-%d %H:%M", time.gmtime(view.removed_at)),
        revisions=view.revisions,
        latest=numbers[b],
        a=a,
        b=b,
        diff=await _diff(numbers[a], numbers[b]),
    )


_DIFFING = asyncio.Semaphore(2)  # word diffs of long revisions, off the loop, two at once


async def _diff(old: RevisionRow, new: RevisionRow) -> Markup:
    """A diff of two long revisions takes up to a second: never on the daemon's loop."""
    async with _DIFFING:
        return await asyncio.to_thread(revision_diff, old, new)


async def search(request: web.Request) -> web.Response:
    site = request.app[SITE]
    filters = await site.filters(request)
    text = request.query.get("q", "").strip()[:500]
    since, until, before = moment(request, "since"), moment(request, "until"), key(request)
    hits = []
    if text:
        # In a thread on either backend: on SQLite a search first indexes what the desk's
        # feed has not yet (store/desk.py: index_search), which may take a while.
        hits = await asyncio.to_thread(site.store.search, text, filters, since, until, before, PAGE)
    more = ""
    if len(hits) == PAGE:
        rest = {"q": text, "since": request.query.get("since", ""), "before": hits[-1].id}
        more = f"/search?{_query(filters, **rest, until=request.query.get('until', ''))}"
    return site.page(
        request,
        "search",
        q=text,
        hits=hits,
        more=more,
        filters=filters,
        since=request.query.get("since", ""),
        until=request.query.get("until", ""),
        rules=[r.name for r in site.config().rules],
        sources=await site.source_names(),
    )


async def alerts(request: web.Request) -> web.Response:
    site = request.app[SITE]
    status = request.query.get("status", "")
    if status and status not in set(DeliveryStatus):
        raise web.HTTPBadRequest(text=f"status: one of {', '.join(DeliveryStatus)}\n")
    before = key(request)
    found = await site.store.call(site.store.desk_deliveries, status, before, PAGE)
    more = ""
    if len(found) == PAGE:
        more = "/alerts?" + urlencode({"status": status, "before": found[-1].id})
    return site.page(
        request,
        "alerts",
        deliveries=found,
        status=status,
        statuses=list(DeliveryStatus),
        more=more,
        now=time.time(),
        label=_label,
    )


def _label(delivery: DeliveryView) -> str:
    shown = card(delivery.event)
    return f"{shown.label}: {shown.headline}"


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", desk)
    router.add_get("/stream", stream)
    router.add_get("/sources", sources)
    router.add_get("/entries/{entry}", entry)
    router.add_get("/search", search)
    router.add_get("/alerts", alerts)
