"""Who may act: the desk reads for anyone who reaches it, and acts (poll, pause, resume,
retry) only for who holds the token from the config (`http.token`).

The token goes in an `Authorization: Bearer` header (scripts) or is typed once into the
login form, which sets a session cookie (HttpOnly, SameSite=Strict) holding the time it
was issued and a MAC of that time under the token, never the token itself; it lasts 12
hours. A form post from a session also carries a CSRF token, a MAC of the session, so
that another site cannot post in the user's name. Comparisons are constant-time, over
bytes (`compare_digest` refuses str that is not ASCII).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from aiohttp import web

COOKIE = "watcher_session"
SESSION_SECONDS = 12 * 3600


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class Access:
    def __init__(self, token: str | None) -> None:
        self.token = token or None

    def _mac(self, what: str) -> str:
        # Without a token nobody is signed in (signed_in, require), so this MAC is unused.
        key = (self.token or "").encode()
        return hmac.new(key, what.encode(), hashlib.sha256).hexdigest()

    def new_session(self, now: float | None = None) -> str:
        issued = str(int(now if now is not None else time.time()))
        return f"{issued}.{self._mac('session:' + issued)}"

    def _session(self, request: web.Request) -> str | None:
        """The request's session cookie if it is one of ours and not too old."""
        value = request.cookies.get(COOKIE, "")
        issued, _, mac = value.partition(".")
        if not issued.isascii() or not issued.isdigit() or len(issued) > 12:
            return None
        if not 0 <= time.time() - int(issued) < SESSION_SECONDS:
            return None
        return value if _same(mac, self._mac("session:" + issued)) else None

    def csrf(self, request: web.Request) -> str:
        return self._mac("csrf:" + (self._session(request) or ""))

    def signed_in(self, request: web.Request) -> bool:
        if self.token is None:
            return False
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return _same(header[7:].strip(), self.token)
        return self._session(request) is not None

    def check_token(self, typed: str) -> bool:
        return self.token is not None and _same(typed, self.token)

    async def require(self, request: web.Request) -> None:
        """Raises 401 for no or a wrong token, 403 for a session's post without its CSRF
        token (a header's token needs none: another site cannot set a header)."""
        if self.token is None:
            raise web.HTTPForbidden(text="actions need http.token in the config\n")
        if not self.signed_in(request):
            raise web.HTTPUnauthorized(
                text="a token is needed: sign in at /login, or send Authorization: Bearer\n",
                headers={"WWW-Authenticate": 'Bearer realm="watcher"'},
            )
        if request.headers.get("Authorization", "").startswith("Bearer "):
            return
        form = await request.post()
        if not _same(str(form.get("csrf", "")), self.csrf(request)):
            raise web.HTTPForbidden(text="the form's CSRF token is missing or wrong\n")
