"""Real local peers for the tests: a threaded HTTP server on loopback.

GETs are served from routes (with ETag and Last-Modified, answering conditional requests
with 304, or failing, redirecting or hanging as a route says); POSTs are recorded as a
webhook receiver would, answered with scripted statuses.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    validators: bool = True  # send ETag/Last-Modified, answer conditional GETs with 304
    modified: float = field(default_factory=time.time)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'


class LocalServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Received] = []
        self.accepted: list[Received] = []  # POSTs answered with a success
        self.post_script: list[int] = []  # statuses for the next POSTs; then 200
        self.hanging = False  # POSTs wait, unanswered, until the server closes
        self.post_delay = 0.0  # seconds each POST takes to answer
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _record(self) -> Received:
                length = int(self.headers.get("Content-Length") or 0)
                got = Received(
                    self.command,
                    self.path,
                    dict(self.headers),
                    self.rfile.read(length),
                    time.time(),
                )
                server.requests.append(got)
                return got

            def do_GET(self) -> None:
                self._record()
                route = server.routes.get(self.path)
                if route is None:
                    return self._answer(404, b"not found", "text/plain")
                if route.delay:
                    server._release.wait(route.delay)
                headers = dict(route.headers)
                if route.validators:
                    headers["ETag"] = route.etag
                    headers["Last-Modified"] = formatdate(route.modified, usegmt=True)
                    if self.headers.get("If-None-Match") == route.etag:
                        return self._answer(304, b"", None, headers)
                self._answer(route.status, route.body, route.content_type, headers)

            def do_POST(self) -> None:
                got = self._record()
                if server.hanging:
                    server._release.wait(60)
                elif server.post_delay:
                    server._release.wait(server.post_delay)
                status = server.post_script.pop(0) if server.post_script else 200
                if status < 300:
                    server.accepted.append(got)
                self._answer(status, b"", "text/plain")

            def _answer(
                self,
                status: int,
                body: bytes,
                content_type: str | None,
                headers: dict[str, str] | None = None,
            ) -> None:
                try:
                    self.send_response(status)
                    if content_type:
                        self.send_header("Content-Type", content_type)
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.host = host
        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def serve(self, path: str, body: bytes | str = b"", **options: Any) -> Route:
        data = body.encode() if isinstance(body, str) else body
        route = self.routes[path] = Route(body=data, **options)
        return route

    def got(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


class MailServer:
    """A real SMTP server on loopback (aiosmtpd), keeping every message it receives."""

    def __init__(self) -> None:
        import email
        import email.policy
        import socket

        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
                outer.messages.append(parsed)
                return "250 OK"

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def url(self, to: str = "desk@example.org") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=watcher@example.org&to={to}&mode=insecure"

    def close(self) -> None:
        self._controller.stop()
