"""The desk at size: a store filled with 100,000 events (a script writes them straight
into the tables), the desk served by `watcher web`, then for SQLite and, when a server
answers, PostgreSQL:

- each page's server time (median and slowest of 20 asks, over loopback HTTP), and the
  Desk's first contentful paint in Debian's chromium (Playwright), when it is installed;
- how long a new event takes to reach an open /stream, from its commit.

Writes the table into benchmarks/README.md between the desk marks.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import pg_schema, postgres_answers, write_section  # noqa: E402
from tests.helpers import free_port, wait_for  # noqa: E402
from watcher.store import Store, deliveries, entries, events, revisions, sources  # noqa: E402

EVENTS = 100_000
SOURCES = 50
REVISIONS_PER_ENTRY = 5
RULES = ["Putin", "Riyadh", "Kremlin", "Zelensky", "NATO"]
WORDS = [
    "talks",
    "ceasefire",
    "minister",
    "said",
    "officials",
    "border",
    "drones",
    "energy",
    "grid",
    "sanctions",
    "summit",
    "envoy",
    "delegation",
    "statement",
    "missile",
    "strike",
    "aid",
    "package",
    "parliament",
    "vote",
]
POSTGRES = os.environ.get("WATCHER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def paragraph(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=40)
    words[rng.randrange(40)] = rng.choice(RULES)
    return " ".join(words).capitalize() + "."


def fill(url: str) -> None:
    """100,000 events: 20,000 entries of 5 revisions each over 50 live blogs, an event
    per revision (new, then updated), a delivery for each tagged one."""
    rng = random.Random(7)
    store = Store(url)
    engine = store.engine
    now = time.time() - EVENTS  # one event a second, up to now
    entry_count = EVENTS // REVISIONS_PER_ENTRY
    with engine.begin() as conn:
        conn.execute(
            sources.insert(),
            [
                {"id": s + 1, "name": f"blog-{s}", "source": f"blog-{s}", "kind": "feed",
                 "location": f"https://example.org/{s}", "title": f"Live: story {s}",
                 "baselined": True, "failures": 0}
                for s in range(SOURCES)
            ],
        )  # fmt: skip
        conn.execute(
            entries.insert(),
            [
                {"id": e + 1, "source_id": e % SOURCES + 1, "key": f"post-{e}",
                 "url": f"https://example.org/p/{e}",
                 "position": e, "revision": REVISIONS_PER_ENTRY, "first_seen": now,
                 "updated_at": now}
                for e in range(entry_count)
            ],
        )  # fmt: skip
        rows: dict[str, list[dict[str, Any]]] = {"revisions": [], "events": [], "deliveries": []}
        for n in range(EVENTS):
            entry, revision = n % entry_count, n // entry_count + 1
            at = now + n
            body = paragraph(rng)
            tags = [t for t in RULES if t in body]
            rows["revisions"].append(
                {"id": n + 1, "entry_id": entry + 1, "revision": revision,
                 "title": f"Update {entry}", "body": body, "created_at": at}
            )  # fmt: skip
            rows["events"].append(
                {"id": n + 1, "source_id": entry % SOURCES + 1, "entry_id": entry + 1,
                 "revision": revision, "kind": "new" if revision == 1 else "updated",
                 "created_at": at, "tags": json.dumps(tags), "matches": "[]",
                 "diff": None if revision == 1 else json.dumps([[0, "Update. "], [1, body]]),
                 "priority": False}
            )  # fmt: skip
            if tags:
                rows["deliveries"].append(
                    {"event_id": n + 1, "channel": "desk", "status": "done", "attempts": 1,
                     "next_attempt_at": at, "created_at": at, "done_at": at}
                )  # fmt: skip
        for table in (revisions, events, deliveries):
            conn.execute(table.insert(), rows[table.name])
    while store.index_search():  # as the daemon's desk does behind the polls (SQLite)
        pass
    if url.startswith("postgresql"):
        with engine.begin() as conn:  # rows written with their ids: the sequences catch up
            for name in ("sources", "entries", "revisions", "events", "deliveries"):
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))"
                    )
                )
            conn.execute(sa.text("ANALYZE"))
    store.close()


def ask(url: str, times: int = 20) -> tuple[float, float]:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as answer:
            answer.read()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent) * 1000, max(spent) * 1000


def first_paint(url: str) -> float | None:
    """The median first contentful paint of 10 loads (after one that starts the browser)."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        # bypass_csp: Playwright's own waiting evaluates strings, which the desk's CSP
        # refuses; the page itself loads and paints as it does for anyone.
        context = browser.new_context(bypass_csp=True)
        paints = []
        for _ in range(11):
            page = context.new_page()
            page.goto(url, wait_until="load")
            paint = "performance.getEntriesByName('first-contentful-paint')"
            page.wait_for_function(f"{paint}.length > 0", timeout=10_000)
            paints.append(page.evaluate(f"{paint}[0].startTime"))
            page.close()
        paints = paints[1:]  # the first pays for the browser's own start
        browser.close()
    return float(statistics.median(paints))


def stream_latency(url: str, base: str, rounds: int = 10) -> tuple[float, float]:
    """From an event's commit to its arrival on an open /stream."""
    import http.client

    store = Store(url)
    host, port = base.removeprefix("http://").split(":")
    spent = []
    try:
        for n in range(rounds):
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request("GET", "/stream")
            response = conn.getresponse()
            time.sleep(0.6)  # the stream subscribed; the site's look at the store is periodic
            with store.engine.begin() as db:
                db.execute(
                    events.insert().values(
                        source_id=1, entry_id=1, revision=1, kind="updated",
                        created_at=time.time(), tags='["Putin"]', matches="[]",
                        diff=json.dumps([[1, f"Fresh news {n}"]]), priority=False,
                    )
                )  # fmt: skip
            committed = time.perf_counter()
            while b"event: event" not in response.fp.readline():
                pass
            spent.append(time.perf_counter() - committed)
            conn.close()
    finally:
        store.close()
    return statistics.median(spent) * 1000, max(spent) * 1000


def measure(label: str, url: str, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    fill(url)
    filled = time.perf_counter() - started
    port = free_port()
    config = work / f"{label}.yaml"
    config.write_text(
        f'state: "{url}"\nhttp: {{listen: "127.0.0.1:{port}"}}\n'
        + "rules:\n"
        + "".join(f"  - name: {r}\n    keywords: [{r}]\n" for r in RULES)
    )
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "watcher", "web", "-c", str(config)],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _answers(base), 30, "the desk")
        middle = EVENTS // 2
        pages = {
            "Desk": "/",
            "Desk, page 1,000 (by key)": f"/?before={middle}",
            "Desk, one rule": "/?rule=Riyadh",
            "Desk, one source": "/?source=blog-7",
            "Search, one word": "/search?q=ceasefire",
            "Search, two words and a source": "/search?q=envoy+summit&source=blog-3",
            "Sources": "/sources",
            "Alerts": "/alerts",
        }
        times = {name: ask(base + path) for name, path in pages.items()}
        paint = first_paint(base + "/")
        floor = first_paint(base + "/login")  # a page of a few lines: the browser's own cost
        live = stream_latency(url, base)
    finally:
        server.terminate()
        server.wait(10)
    return {
        "store": label,
        "fill_s": filled,
        "pages": times,
        "paint_ms": paint,
        "floor_ms": floor,
        "stream": live,
    }


def _answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/sources", timeout=2):
            return True
    except OSError:
        return False


def table(rows: list[dict[str, Any]]) -> str:
    head = "| page | " + " | ".join(r["store"] for r in rows) + " |"
    lines = [head, "|---|" + "---|" * len(rows)]
    for name in rows[0]["pages"]:
        cells = [f"{r['pages'][name][0]:.0f} ms (slowest {r['pages'][name][1]:.0f})" for r in rows]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    paints = [f"{r['paint_ms']:.0f} ms" if r["paint_ms"] else "no chromium" for r in rows]
    lines.append("| Desk: first contentful paint in chromium | " + " | ".join(paints) + " |")
    floors = [f"{r['floor_ms']:.0f} ms" if r["floor_ms"] else "no chromium" for r in rows]
    lines.append("| the sign-in page's, for the browser's own cost | " + " | ".join(floors) + " |")
    lines.append(
        "| a new event on an open /stream, after its commit | "
        + " | ".join(f"{r['stream'][0]:.0f} ms (slowest {r['stream'][1]:.0f})" for r in rows)
        + " |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-readme", action="store_true", help="do not update the README")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(measure("SQLite", f"sqlite:///{tmp}/desk.db", Path(tmp)))
        print(json.dumps(rows[-1]), flush=True)
        if not postgres_answers(POSTGRES):
            print("no PostgreSQL: SQLite only", flush=True)
        else:
            with pg_schema(POSTGRES, f"desk_bench_{os.getpid()}") as pg:
                rows.append(measure("PostgreSQL", pg, Path(tmp)))
                print(json.dumps(rows[-1]), flush=True)
    fills = ", ".join(f"{r['store']} filled in {r['fill_s']:.0f} s" for r in rows)
    text = (
        f"{EVENTS:,} events (20,000 entries of 5 revisions, 50 live blogs), on "
        f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')} ({fills}). Server times are "
        f"median of 20 asks over loopback HTTP.\n\n{table(rows)}"
    )
    print(text)
    if not args.no_readme:
        write_section("desk", text)


if __name__ == "__main__":
    main()
