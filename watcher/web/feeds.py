"""Atom feeds of the desk's events, one per rule and one per source, so that a person
can follow a rule in any feed reader."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web

from watcher.store import EventFilter
from watcher.web.present import card
from watcher.web.site import SITE

ENTRIES = 50
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


async def feed(request: web.Request) -> web.Response:
    site = request.app[SITE]
    what, name = request.match_info["what"], request.match_info["name"]
    if what == "rule" and name in {r.name for r in site.config().rules}:
        filters = EventFilter(rule=name)
    elif what == "source" and name in await site.source_names():
        filters = EventFilter(source=name)
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
        page="/?" + urlencode({what: name}),
        updated=events[0].at if events else now,
        events=events,
    )
    # What XML 1.0 cannot carry at all (a watched page may hold U+FFFE), escaped or not.
    return web.Response(text=_NOT_XML.sub("", xml), content_type="application/atom+xml")


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/feeds/{what}/{name}.atom", feed)
