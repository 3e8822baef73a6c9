"""`make bench`, hostile content: one hostile document beside a healthy feed, in the daemon.

For each hostile document, `watcher run` polls it and a healthy feed every 2 s. The
healthy feed then gains an entry, and the bench measures how long its alert takes to
reach a webhook on loopback, how long `/healthz` takes to answer meanwhile (asked every
100 ms), and the peak memory of the daemon with its parser processes (proportional set
size: pages the forked parsers share with the daemon count once). The table goes to
stdout and into benchmarks/README.md.

Before issue 10, the first document froze the daemon for 95 s (and the others for 35 to
55 s): no alert, no /healthz, no watchdog ping, for as long as it parsed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import tree_memory_mb, write_section  # noqa: E402
from benchmarks.feedserver import Server, render_feed  # noqa: E402

WATCHER = ROOT / ".venv" / "bin" / "watcher"


def unclosed_tags() -> bytes:
    """96 KB of unclosed tags, comments and CDATA in one item: quadratic for a regex."""
    text = "<p>Putin said</p>" + "<a x" * 8000 + "<!--" * 8000 + "<![CDATA[" * 4000
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
        f"<item><guid>urn:x</guid><title>x</title><description><![CDATA[{text}]]>"
        "</description></item></channel></rss>"
    ).encode()


def deep_html() -> bytes:
    return b"<html><body>" + b"<div>" * 100_000 + b"</div>" * 100_000 + b"</body></html>"


def deep_json() -> bytes:
    return b'{"items": ' + b"[" * 5000 + b"]" * 5000 + b"}"


def big_feed() -> bytes:
    """A 9 MB feed of 12,000 items: legitimate markup, a lot of it."""
    items = "".join(
        f"<item><guid>urn:{n}</guid><title>Entry {n}</title>"
        f"<description>&lt;p&gt;{'Word ' * 120}&lt;/p&gt;</description></item>"
        for n in range(12_000)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'.encode()


DOCUMENTS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "96 KB of unclosed tags (feed)": ("feed", unclosed_tags),
    "HTML nested 100,000 deep (page)": ("page", deep_html),
    "JSON Feed nested 5,000 deep": ("feed", deep_json),
    "9 MB feed of 12,000 items": ("feed", big_feed),
}


class Hook:
    """A webhook receiver on loopback that notes when each POST arrived."""

    def __init__(self) -> None:
        self.arrived: list[float] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.arrived.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(name: str, kind: str, body: bytes, work: Path) -> dict[str, Any]:
    site = work / "site"
    (site / "feeds").mkdir(parents=True, exist_ok=True)
    healthy = site / "feeds" / "f0.xml"
    healthy.write_bytes(render_feed(0, 40))
    (site / "feeds" / "hostile").write_bytes(body)
    server, hook, port = Server(site, kind="python"), Hook(), free_port()
    server.start()
    config = work / "watcher.yaml"
    config.write_text(
        f"state: {work / 'state.db'}\ninterval: 2s\njitter: 0s\n"
        f"http: {{listen: '127.0.0.1:{port}'}}\n"
        f"sources:\n  - name: healthy\n    feed: {server.url(0)}\n"
        f"  - name: hostile\n    {kind}: http://127.0.0.1:{server.port}/feeds/hostile\n"
        f"channels:\n  hook: json://127.0.0.1:{hook.port}/hook\n"
        "rules:\n  - name: new\n    keywords: [later confirmed the call]\n    notify: [hook]\n"
    )
    proc = subprocess.Popen(
        [str(WATCHER), "run", "-c", str(config), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    health: list[tuple[float, int]] = []  # (seconds to answer, status)
    peak = [0.0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as r:
                    code = r.status
            except OSError as exc:
                code = getattr(exc, "code", 0)
            health.append((time.monotonic() - started, code))
            peak[0] = max(peak[0], tree_memory_mb(proc.pid))
            stop.wait(0.1)

    try:
        time.sleep(5)  # two rounds: the baseline of both, the hostile one failing
        threading.Thread(target=watch, daemon=True).start()
        time.sleep(4)
        healthy.write_bytes(render_feed(0, 40, extra=1, edited=35))
        changed = time.monotonic()
        deadline = changed + 120
        while not hook.arrived and time.monotonic() < deadline:
            time.sleep(0.02)
        alert = hook.arrived[0] - changed if hook.arrived else float("inf")
        time.sleep(2)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(20)
        server.stop()
        hook.server.shutdown()
    answered = [s for s, code in health if code]
    return {
        "document": name,
        "size_kb": len(body) / 1024,
        "alert_s": alert,
        "healthz_max_ms": max(answered) * 1000 if answered else float("inf"),
        "healthz_ok": sum(1 for _, code in health if code == 200),
        "healthz_asked": len(health),
        "peak_mb": peak[0],
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| hostile document beside a healthy feed | size | healthy feed's alert after its "
        "change | slowest /healthz | /healthz 200 | peak memory (PSS), daemon and parsers |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['document']} | {r['size_kb']:,.0f} KB | {r['alert_s']:.1f} s "
            f"| {r['healthz_max_ms']:.0f} ms | {r['healthz_ok']} of {r['healthz_asked']} "
            f"| {r['peak_mb']:.0f} MB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-readme", action="store_true", help="do not update the README")
    args = parser.parse_args()
    rows = []
    for name, (kind, make) in DOCUMENTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(measure(name, kind, make(), Path(tmp)))
        print(json.dumps(rows[-1]), flush=True)
    text = (
        f"Polled every 2 s with one healthy feed, on {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d')}.\n\n{table(rows)}"
    )
    print(text)
    if not args.no_readme:
        write_section("hostile", text)


if __name__ == "__main__":
    main()
