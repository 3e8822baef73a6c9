"""Who may act: the desk reads for anyone who reaches it, and acts (poll, pause, resume,
retry) only for who holds the token from the config (`http.token`).

The token goes in an `Authorization: Bearer` header (scripts) or is typed once into the
login form, which sets a session cookie (HttpOnly, SameSite=Strict) holding a MAC of the
token, never the token itself. A form post from a session also carries a CSRF token, a
MAC of the session, so that another site cannot post in the user's name. Comparisons are
constant-time.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

COOKIE = "watcher_session"


class Access:
    def __init__(self, token: str | None) -> None:
        self.token = token or None

    def _mac(self, what: str) -> str:
        # Without a token nobody is signed in (signed_in, require), so this MAC is unused.
        key = (self.token or "").encode()
        return hmac.new(key, what.encode(), hashlib.sha256).hexdigest()

    def session(self) -> str:
        return self._mac("session")

    def csrf(self) -> str:
        return self._mac("csrf:" + self.session())

    def signed_in(self, request: web.Request) -> bool:
        if self.token is None:
            return False
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return hmac.compare_digest(header[7:].strip(), self.token)
        return hmac.compare_digest(request.cookies.get(COOKIE, ""), self.session())

    def check_token(self, typed: str) -> bool:
        return self.token is not None and hmac.compare_digest(typed, self.token)

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
        if not hmac.compare_digest(str(form.get("csrf", "")), self.csrf()):
            raise web.HTTPForbidden(text="the form's CSRF token is missing or wrong\n")
