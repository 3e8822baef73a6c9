"""The desk's pages: Desk (events, live), Sources, Entry, Search and Alerts; and the
stream of new events that keeps an open Desk current."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlencode

from aiohttp import web

from watcher.lookback import source_views
from watcher.model import DeliveryStatus
from watcher.notify.escape import http_url
from watcher.store import DeliveryView, EventFilter
from watcher.web.live import wanted
from watcher.web.present import card, revision_diff
from watcher.web.site import KINDS, SITE, key, moment

PAGE = 50
HEARTBEAT = 15.0  # seconds between keep-alive comments on a quiet stream
WRITE_TIMEOUT = 10.0  # a page that takes longer to take an event is let go


def _query(filters: EventFilter, **more: object) -> str:
    pairs = {"rule": filters.rule, "source": filters.source, "kind": filters.kind, **more}
    return urlencode({k: v for k, v in pairs.items() if v not in ("", None)})


async def desk(request: web.Request) -> web.Response:
    site = request.app[SITE]
    filters = site.filters(request)
    before = key(request)
    events = await site.store.call(site.store.desk_events, filters, before, None, PAGE)
    more = f"/?{_query(filters, before=events[-1].alert.event_id)}" if len(events) == PAGE else ""
    return site.page(
        request,
        "desk",
        events=[card(e) for e in events],
        filters=filters,
        rules=[r.name for r in site.config().rules],
        sources=site.source_names(),
        kinds=KINDS,
        more=more,
        stream=f"/stream?{_query(filters)}",
    )


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: each new event the filters let through, as the HTML of its
    card, which the page puts on top."""
    site = request.app[SITE]
    filters = site.filters(request)
    test = wanted(filters)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    queue = site.feed.subscribe()
    template = site.templates.get_template("_event.html")
    try:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except TimeoutError:
                await asyncio.wait_for(response.write(b": keep-alive\n\n"), WRITE_TIMEOUT)
                continue
            if event is None:  # the site stops, or this page fell too far behind
                break
            if not test(event):
                continue
            html = template.render(e=card(event))
            data = "".join(f"data: {line}\n" for line in html.splitlines())
            message = f"id: {event.alert.event_id}\nevent: event\n{data}\n"
            await asyncio.wait_for(response.write(message.encode()), WRITE_TIMEOUT)
    except (ConnectionResetError, TimeoutError):
        pass  # the page went away, or stopped reading
    finally:
        site.feed.unsubscribe(queue)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


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
    entry_id = request.match_info["entry"]
    if not entry_id.isdigit() or len(entry_id) > 18:
        raise web.HTTPNotFound(text="no such entry\n")
    view = await site.store.call(site.store.entry_view, int(entry_id))
    if view is None or not view.revisions:
        raise web.HTTPNotFound(text="no such entry\n")
    numbers = {r.revision: r for r in view.revisions}
    b = key(request, "b") or max(numbers)
    a = key(request, "a") or max(min(numbers), b - 1)
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
        diff=revision_diff(numbers[a], numbers[b]),
    )


async def search(request: web.Request) -> web.Response:
    site = request.app[SITE]
    filters = site.filters(request)
    text = request.query.get("q", "").strip()[:500]
    since, until, before = moment(request, "since"), moment(request, "until"), key(request)
    hits = []
    if text:
        hits = await site.store.call(site.store.search, text, filters, since, until, before, PAGE)
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
        sources=site.source_names(),
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
