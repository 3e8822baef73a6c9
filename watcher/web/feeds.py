"""Atom feeds of the desk's events, one per rule and one per source, so that a person
can follow a rule in any feed reader."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from watcher.store import EventFilter
from watcher.web.present import card
from watcher.web.site import SITE

ENTRIES = 50


async def feed(request: web.Request) -> web.Response:
    site = request.app[SITE]
    what, name = request.match_info["what"], request.match_info["name"]
    if what == "rule" and name in {r.name for r in site.config().rules}:
        filters, page = EventFilter(rule=name), f"/?rule={name}"
    elif what == "source" and name in site.source_names():
        filters, page = EventFilter(source=name), f"/?source={name}"
    else:
        raise web.HTTPNotFound(text=f"no {what} of that name\n")
    events = [
        card(e) for e in await site.store.call(site.store.desk_events, filters, None, None, ENTRIES)
    ]
    now = datetime.now(UTC).isoformat(timespec="seconds")
    xml = site.templates.get_template("feed.xml").render(
        title=f"{what} {name}",
        base=f"{request.scheme}://{request.host}",
        path=request.path_qs,
        page=page,
        updated=events[0].at if events else now,
        events=events,
    )
    return web.Response(text=xml, content_type="application/atom+xml")


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/feeds/{what}/{name}.atom", feed)
