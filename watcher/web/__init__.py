"""The desk: a web page of what changed, live, with diffs, the sources' health, search
and the outbox. Served by the daemon on its `http:` address, or alone by `watcher web`
against the store.

site.py assembles it (routes, templates, security headers); pages.py shows, actions.py
acts, feeds.py gives Atom; live.py streams new events; access.py holds the token;
present.py turns rows into what templates show.
"""

from __future__ import annotations

from aiohttp import web

from watcher.web import actions, feeds, pages
from watcher.web.site import SITE, Site, secured, static_files

__all__ = ["Site", "install"]


def install(app: web.Application, site: Site) -> None:
    """The desk's routes, its static files and its live feed, on `app`."""
    app.middlewares.append(secured)
    app[SITE] = site
    pages.routes(app.router)
    actions.routes(app.router)
    feeds.routes(app.router)
    app.router.add_static("/static", str(static_files()), append_version=False)

    async def start(_: web.Application) -> None:
        await site.feed.start()

    async def stop(_: web.Application) -> None:
        await site.feed.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
