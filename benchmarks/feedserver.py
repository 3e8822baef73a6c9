"""The benchmark's feeds, and a loopback server for them.

N live-blog feeds of about 40 entries each, written as static RSS files. nginx (Debian's
package, when installed) serves them with ETag and Last-Modified and answers conditional
requests with 304; without nginx, a small asyncio server does the same from memory.
`change()` adds an entry to a fraction of the feeds and edits another one in them.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formatdate
from pathlib import Path

SENTENCES = [
    "The Kremlin has said Ukraine will participate in peace talks one way or another.",
    "Kremlin spokesman Dmitry Peskov said there would be a separate US-Russian track.",
    "Preparation for a meeting between Vladimir Putin and Donald Trump could take months.",
    "Both sides agreed the Saudi capital Riyadh was a suitable location.",
    "US Defence Secretary Pete Hegseth said Nato allies must spend more on defence.",
    "Zelensky said he would reject any peace deal made without Ukraine's input.",
    "European ministers met in Brussels to discuss support for Kyiv.",
    "Markets reacted cautiously to reports of a possible ceasefire.",
]
START = datetime(2025, 2, 13, 12, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _item(feed: int, n: int, edited: bool = False) -> str:
    rng = random.Random(feed * 1000 + n)  # the same text for the same item, every time
    paragraphs = [" ".join(rng.sample(SENTENCES, 2)) for _ in range(3)]
    if edited:
        paragraphs.append("Update: Putin's spokesman later confirmed the call.")
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    when = format_datetime(START + timedelta(minutes=n))
    guid = f"https://bench.example/live/{feed}#block-{n}"
    return (
        f"<item><title>Entry {n} of live blog {feed}</title><link>{guid}</link>"
        f'<guid isPermaLink="false">{guid}</guid><pubDate>{when}</pubDate>'
        f"<description><![CDATA[{body}]]></description></item>"
    )


def render_feed(feed: int, entries: int, extra: int = 0, edited: int | None = None) -> bytes:
    """Feed `feed`: `entries` items newest first, `extra` of them added since the start."""
    items = {n: _item(feed, n) for n in range(entries + extra)}
    if edited is not None:
        items[edited] = _item(feed, edited, edited=True)
    newest = sorted(items, reverse=True)[:entries]
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Live blog {feed}</title><link>https://bench.example/live/{feed}</link>"
        f"<description>Benchmark feed</description>{''.join(items[n] for n in newest)}"
        "</channel></rss>"
    ).encode()


class Feeds:
    """The feed files on disk, and the changes made to them."""

    def __init__(self, root: Path, count: int, entries: int) -> None:
        self.root = root
        self.count = count
        self.entries = entries

    def path(self, feed: int) -> Path:
        return self.root / "feeds" / f"f{feed}.xml"

    def write_all(self) -> None:
        shutil.rmtree(self.root / "feeds", ignore_errors=True)
        (self.root / "feeds").mkdir(parents=True)
        for feed in range(self.count):
            self.path(feed).write_bytes(render_feed(feed, self.entries))

    def change(self, fraction: float, seed: int = 1, exclude: Iterable[int] = ()) -> list[int]:
        """Adds one entry to, and edits one entry of, `fraction` of the feeds (not those
        in `exclude`: a second change of a feed would undo its first edit)."""
        left = sorted(set(range(self.count)) - set(exclude))
        chosen = random.Random(seed).sample(left, max(1, int(self.count * fraction)))
        for feed in chosen:
            body = render_feed(feed, self.entries, extra=1, edited=self.entries - 5)
            self.path(feed).write_bytes(body)
        # Static servers derive the ETag from mtime and size: make the change visible.
        later = time.time() + 2
        for feed in chosen:
            os.utime(self.path(feed), (later, later))
        return chosen


class Server:
    """nginx if the machine has it, else an asyncio server; serves `root` on loopback."""

    def __init__(self, root: Path, kind: str | None = None) -> None:
        self.root = root.resolve()
        self.port = free_port()
        self.kind = kind or ("nginx" if shutil.which("nginx") else "python")
        self._proc: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def url(self, feed: int) -> str:
        return f"http://127.0.0.1:{self.port}/feeds/f{feed}.xml"

    def start(self) -> None:
        if self.kind == "nginx":
            self._start_nginx()
        else:
            threading.Thread(target=self._run_python, daemon=True).start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} server did not start")

    def _start_nginx(self) -> None:
        conf = self.root / "nginx.conf"
        (self.root / "logs").mkdir(exist_ok=True)
        conf.write_text(
            f"""
worker_processes 1;
daemon off;
pid {self.root}/nginx.pid;
error_log {self.root}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    types {{ application/rss+xml xml; }}
    keepalive_requests 100000;
    client_body_temp_path {self.root}/tmp;
    proxy_temp_path {self.root}/tmp;
    fastcgi_temp_path {self.root}/tmp;
    uwsgi_temp_path {self.root}/tmp;
    scgi_temp_path {self.root}/tmp;
    open_file_cache off;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.root};
        etag on;
        if_modified_since exact;
    }}
}}
"""
        )
        (self.root / "tmp").mkdir(exist_ok=True)
        self._proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(self.root)])

    def _run_python(self) -> None:
        self._loop = asyncio.new_event_loop()
        server = self._loop.run_until_complete(self._serve())
        self._loop.run_forever()
        server.close()

    async def _serve(self) -> asyncio.Server:
        root = self.root

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    path = lines[0].split(" ")[1]
                    headers = {
                        k.lower(): v.strip()
                        for k, _, v in (h.partition(":") for h in lines[1:] if h)
                    }
                    file = root / path.lstrip("/")
                    try:
                        st = file.stat()
                        body = file.read_bytes()
                    except OSError:
                        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                        continue
                    etag = '"' + hashlib.md5(body).hexdigest()[:16] + '"'
                    modified = formatdate(st.st_mtime, usegmt=True)
                    if headers.get("if-none-match") == etag:
                        writer.write(f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode())
                    else:
                        answer = (
                            "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                            f"ETag: {etag}\r\nLast-Modified: {modified}\r\n"
                            f"Content-Length: {len(body)}\r\n\r\n"
                        )
                        writer.write(answer.encode() + body)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        return await asyncio.start_server(handle, "127.0.0.1", self.port, backlog=1024)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
