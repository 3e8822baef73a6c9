"""What a signed-in desk may do: poll a source now, pause or resume it, retry an alert;
and signing in and out. Each action is a POST with the token (access.py), answered with a
redirect back to the page it came from."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from aiohttp import web

from watcher.web.access import COOKIE, SESSION_SECONDS
from watcher.web.site import SITE, number

SOURCE_ACTIONS = ("poll", "pause", "resume")
WRONG_TOKEN_PAUSE = 1.0


def _back(target: str, fallback: str) -> str:
    """A path on this site to go back to; never another site's URL."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    return target


async def source_action(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    await site.access.require(request)
    name, action = request.match_info["source"], request.match_info["action"]
    if action not in SOURCE_ACTIONS:
        raise web.HTTPNotFound(text="no such action\n")
    if name not in {s.name for s in site.config().sources}:
        raise web.HTTPNotFound(text="no source of that name in the config\n")
    await site.store.call(site.store.request, [name], action)
    site.kick()
    raise web.HTTPSeeOther("/sources")


async def retry(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    await site.access.require(request)
    delivery = number(request.match_info["delivery"])
    if delivery is None:
        raise web.HTTPNotFound(text="no such alert\n")
    if not await site.store.call(site.store.retry_delivery, delivery):
        raise web.HTTPConflict(text="this alert is sent or dropped: nothing to retry\n")
    site.kick()
    raise web.HTTPSeeOther("/alerts")


async def login_form(request: web.Request) -> web.Response:
    site = request.app[SITE]
    back = _back(request.query.get("next", "/"), "/")
    return site.page(request, "login", page="Sign in", next=back, wrong=False)


async def login(request: web.Request) -> web.Response:
    site = request.app[SITE]
    form = await request.post()
    back = _back(str(form.get("next", "/")), "/")
    access = site.access
    if not access.check_token(str(form.get("token", ""))):
        await asyncio.sleep(WRONG_TOKEN_PAUSE)  # guessing costs a second a guess
        response = site.page(request, "login", page="Sign in", next=back, wrong=True)
        response.set_status(401)
        return response
    redirect = web.HTTPSeeOther(back)
    secure = request.secure
    redirect.set_cookie(
        COOKIE,
        access.new_session(),
        httponly=True,
        samesite="Strict",
        secure=secure,
        path="/",
        max_age=SESSION_SECONDS,
    )
    raise redirect


async def logout(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    await site.access.require(request)
    redirect = web.HTTPSeeOther("/")
    redirect.del_cookie(COOKIE, path="/")
    raise redirect


def routes(router: web.UrlDispatcher) -> None:
    router.add_post("/sources/{source}/{action}", source_action)
    router.add_post("/alerts/{delivery}/retry", retry)
    router.add_get("/login", login_form)
    router.add_post("/login", login)
    router.add_post("/logout", logout)
