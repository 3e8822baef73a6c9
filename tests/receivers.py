"""Real local peers for the tests: an HTTP webhook receiver that can fail or hang."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers POSTs with the statuses in `script`, in order, then with 200."""

    script: list[int] = field(default_factory=list)
    hang: threading.Event | None = None
    requests: list[Received] = field(default_factory=list)
    accepted: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                got = Received(self.path, dict(self.headers), body)
                receiver.requests.append(got)
                if receiver.hang is not None:
                    receiver.hang.wait(30)
                status = receiver.script.pop(0) if receiver.script else 200
                if status < 300:
                    receiver.accepted.append(got)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        if self.hang is not None:
            self.hang.set()
        self.server.shutdown()
        self.server.server_close()
