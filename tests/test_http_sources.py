"""Feeds and pages over HTTP, against a real local server."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.feeds import atom, guardian_page, rss, seed_items
from tests.helpers import Watcher, run_watcher, wait_for
from tests.pages import FIXTURES as PAGES
from tests.servers import LocalServer

ITEMS = seed_items()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    peer = LocalServer()
    yield peer
    peer.close()


def config_for(make_config: Any, sources: str, extra: str = "") -> Path:
    path: Path = make_config(
        f"state: state.db\n{extra}sources:\n{sources}"
        "rules:\n  - name: Putin\n    keywords: [Putin]\n  - name: Riyadh\n    keywords: [Riyadh]\n"
    )
    return path


def check(config: Path) -> tuple[int, list[dict[str, Any]], str]:
    done = run_watcher("check", "-c", str(config), "--json")
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def feed_source(server: LocalServer, path: str = "/feed", name: str = "live") -> str:
    return f"  - name: {name}\n    feed: {server.url(path)}\n    baseline: alert\n"


def test_feed_new_then_conditional_get_then_update(server: LocalServer, make_config: Any) -> None:
    server.serve("/feed", rss(ITEMS))
    config = config_for(make_config, feed_source(server))

    code, events, _ = check(config)
    assert code == 0
    assert [e["kind"] for e in events] == ["new"] * 6
    assert [e["entry"] for e in events] == [i.id for i in reversed(ITEMS)]
    first = server.got("/feed")[0]
    assert first.headers["User-Agent"].startswith("watcher/")

    assert check(config)[:2] == (0, [])
    second = server.got("/feed")[1]
    assert second.headers["If-None-Match"] == server.routes["/feed"].etag  # answered with 304

    fresh = replace_items(ITEMS, 1, ITEMS[1].with_paragraph("Putin was not invited."))
    breaking = ITEMS[0].__class__(
        id="https://example.org/live#block-200",
        title="Talks set for Riyadh",
        paragraphs=("Delegations will meet in Riyadh.",),
        published=ITEMS[0].published.replace(minute=30),
        link="https://example.org/live#block-200",
    )
    server.serve("/feed", rss([breaking, *fresh]))
    code, events, _ = check(config)
    assert code == 0
    assert [(e["kind"], e["title"], e["tags"]) for e in events] == [
        ("updated", ITEMS[1].title, ["Putin"]),
        ("new", "Talks set for Riyadh", ["Riyadh"]),
    ]
    assert "{+Putin was not invited.+}" in events[0]["diff"]


def replace_items(items: list[Any], index: int, item: Any) -> list[Any]:
    return [item if i == index else old for i, old in enumerate(items)]


def test_entry_off_the_end_is_kept_one_missing_inside_is_removed(
    server: LocalServer, make_config: Any
) -> None:
    server.serve("/feed", atom(ITEMS))
    config = config_for(make_config, feed_source(server))
    assert check(config)[0] == 0
    server.serve("/feed", atom(ITEMS[:5]))  # the oldest fell off the end of the feed
    assert check(config)[:2] == (0, [])
    server.serve("/feed", atom(ITEMS[:2] + ITEMS[3:5]))  # one taken out from inside
    code, events, _ = check(config)
    assert (code, [(e["kind"], e["title"]) for e in events]) == (0, [("removed", ITEMS[2].title)])


def test_mass_removal_is_held_until_the_next_poll_confirms_it(
    server: LocalServer, make_config: Any
) -> None:
    server.serve("/feed", rss(ITEMS))
    config = config_for(make_config, feed_source(server))
    assert check(config)[0] == 0
    server.serve("/feed", rss(ITEMS[5:]))  # five of six gone at once: suspect
    code, events, stderr = check(config)
    assert (code, events) == (0, [])
    assert "poll held" in stderr
    code, events, _ = check(config)
    assert (code, [e["kind"] for e in events]) == (0, ["removed"] * 5)


def test_a_glitch_that_goes_away_is_never_alerted(server: LocalServer, make_config: Any) -> None:
    server.serve("/feed", rss(ITEMS))
    config = config_for(make_config, feed_source(server))
    assert check(config)[0] == 0
    server.serve("/feed", rss(ITEMS[4:]))
    assert check(config)[:2] == (0, [])
    server.serve("/feed", rss(ITEMS))
    assert check(config)[:2] == (0, [])


BROKEN: dict[str, tuple[dict[str, Any], str]] = {
    "server error": (dict(body="oops", status=500), "HTTP 500"),
    "error page": (
        dict(body="<html><h1>Service unavailable</h1></html>", content_type="text/html"),
        "not a feed",
    ),
    "empty feed": (dict(body=rss([])), "no entries found"),
    "too big": (dict(body=rss(ITEMS * 20)), "cap"),
    "redirect loop": (
        dict(status=302, headers={"Location": "/feed"}, validators=False),
        "redirects",
    ),
    "not found": (dict(status=404, body="no"), "HTTP 404"),
}


@pytest.mark.parametrize("breakage", list(BROKEN))
def test_broken_feed_fails_alone_and_keeps_state(
    breakage: str, server: LocalServer, make_config: Any
) -> None:
    server.serve("/feed", rss(ITEMS))
    server.serve("/other", rss(ITEMS))
    sources = feed_source(server) + feed_source(server, "/other", "other")
    config = config_for(make_config, sources, "fetch:\n  max_bytes: 65536\n")
    assert check(config)[0] == 0

    route, reason = BROKEN[breakage]
    server.serve("/feed", **route)
    server.serve("/other", rss([ITEMS[0].with_paragraph("Putin spoke."), *ITEMS[1:]]))
    code, events, stderr = check(config)
    assert code == 3
    assert [(e["source"], e["kind"]) for e in events] == [("other", "updated")]
    failure = next(json.loads(line) for line in stderr.splitlines() if "poll failed" in line)
    assert failure["source"] == "live" and reason in failure["reason"]

    server.serve("/feed", rss(ITEMS))  # back as it was: nothing was lost, nothing is new
    assert check(config)[:2] == (0, [])


def test_hanging_source_does_not_hold_up_the_others(server: LocalServer, make_config: Any) -> None:
    server.serve("/slow", rss(ITEMS), delay=30)
    server.serve("/feed", rss(ITEMS))
    sources = feed_source(server, "/slow", "slow") + feed_source(server)
    config = config_for(make_config, sources, "fetch:\n  timeout: 1s\n")
    started = time.monotonic()
    code, events, stderr = check(config)
    assert time.monotonic() - started < 10
    assert code == 3
    assert len(events) == 6 and {e["source"] for e in events} == {"live"}
    assert "timed out after 1s" in stderr


def test_page_source(server: LocalServer, make_config: Any) -> None:
    server.serve("/live", guardian_page(ITEMS), content_type="text/html; charset=utf-8")
    config = config_for(
        make_config, f"  - name: page\n    page: {server.url('/live')}\n    baseline: alert\n"
    )
    code, events, _ = check(config)
    assert (code, len(events)) == (0, 6)
    # The page lists its newest entry first; a poll's alerts come oldest first, as written.
    assert [e["entry"] for e in events] == [str(101 + n) for n in range(6)]
    changed = replace_items(ITEMS, 2, ITEMS[2].with_paragraph("Riyadh was chosen."))
    server.serve("/live", guardian_page(changed), content_type="text/html; charset=utf-8")
    code, events, _ = check(config)
    assert [(e["kind"], e["entry"], e["tags"]) for e in events] == [("updated", "104", ["Riyadh"])]


def test_a_page_that_turns_into_an_article_fails_and_loses_nothing(
    server: LocalServer, make_config: Any
) -> None:
    html = "text/html; charset=utf-8"
    server.serve("/live", (PAGES / "reach.html").read_bytes(), content_type=html)
    config = config_for(make_config, f"  - name: page\n    page: {server.url('/live')}\n")
    assert check(config)[:2] == (0, [])  # the baseline, silent
    server.serve("/live", (PAGES / "teasers.html").read_bytes(), content_type=html)
    code, events, stderr = check(config)
    assert (code, events) == (3, [])
    assert "not a live blog: no LiveBlogPosting" in stderr
    server.serve("/live", (PAGES / "reach.v2.html").read_bytes(), content_type=html)
    code, events, _ = check(config)
    assert code == 0
    assert sorted((e["kind"], e["entry"]) for e in events) == [
        ("new", "880440"),
        ("updated", "880412"),
    ]


def test_errors_channel_hears_once_when_a_source_goes_down_and_once_when_it_is_back(
    server: LocalServer, make_config: Any
) -> None:
    server.serve("/feed", rss(ITEMS))
    extra = f"channels:\n  errors: json://127.0.0.1:{server.port}/errors\n"
    config = config_for(make_config, feed_source(server), extra)
    assert check(config)[0] == 0
    server.serve("/feed", "down", status=503)
    assert check(config)[0] == 3
    assert check(config)[0] == 3
    posts = [r.json() for r in server.requests if r.method == "POST"]
    assert len(posts) == 1 and "live" in posts[0]["title"] and "HTTP 503" in posts[0]["message"]
    server.serve("/feed", rss(ITEMS))
    assert check(config)[:2] == (0, [])
    posts = [r.json() for r in server.requests if r.method == "POST"]
    assert len(posts) == 2 and "back" in posts[1]["title"].lower()


def test_daemon_honours_retry_after(server: LocalServer, make_config: Any) -> None:
    server.serve("/feed", "slow down", status=429, headers={"Retry-After": "2"}, validators=False)
    source = (
        f"  - name: live\n    feed: {server.url('/feed')}\n    interval: 0.2s\n    jitter: 0s\n"
    )
    config = config_for(make_config, source)
    with Watcher("run", "-c", str(config)) as watcher:
        wait_for(lambda: server.got("/feed"), what="the first request")
        server.serve("/feed", rss(ITEMS))
        wait_for(lambda: len(server.got("/feed")) >= 2, what="the second request")
        first, second = server.got("/feed")[:2]
        assert second.at - first.at >= 1.9
        watcher.wait_stderr('"polled"')
        assert watcher.stop() == 0


def test_daemon_backs_off_a_failing_source(server: LocalServer, make_config: Any) -> None:
    server.serve("/feed", "down", status=500)
    source = (
        f"  - name: live\n    feed: {server.url('/feed')}\n    interval: 0.2s\n    jitter: 0s\n"
    )
    config = config_for(make_config, source)
    with Watcher("run", "-c", str(config)) as watcher:
        wait_for(lambda: len(server.got("/feed")) >= 4, timeout=20, what="four requests")
        times = [r.at for r in server.got("/feed")[:4]]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps[0] < 0.5 and gaps[1] >= 0.35 and gaps[2] >= 0.75, gaps
        assert watcher.stop() == 0


def test_check_with_workers_gives_what_one_process_gives(
    server: LocalServer, make_config: Any
) -> None:
    names = ["a", "b", "c", "d"]
    for name in names:
        server.serve(f"/{name}", rss(ITEMS))
    server.serve("/broken", "down", status=500)
    sources = "".join(feed_source(server, f"/{n}", n) for n in [*names, "broken"])
    config = config_for(make_config, sources)
    done = run_watcher("check", "-c", str(config), "--json", "--workers", "3")
    assert done.returncode == 3
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["source"] for e in events] == [n for n in names for _ in range(6)]
    assert [e["entry"] for e in events] == [i.id for i in reversed(ITEMS)] * 4
    server.serve("/c", rss([ITEMS[0].with_paragraph("Putin spoke."), *ITEMS[1:]]))
    done = run_watcher("check", "-c", str(config), "--json", "--workers", "3")
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(e["source"], e["kind"], e["tags"]) for e in events] == [("c", "updated", ["Putin"])]


def test_retry_after_in_seconds_or_as_a_date() -> None:
    from watcher.sources.http import parse_retry_after

    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 25 Nov 2026 10:00:30 GMT", now=1795600800.0) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        ("<p>café</p>".encode("latin-1"), "text/html; charset=ISO-8859-1", "café"),
        ('<meta charset="iso-8859-1"><p>café</p>'.encode("latin-1"), "text/html", "café"),
        ("<p>café</p>".encode(), None, "café"),
        ("<p>café</p>".encode(), "text/html; charset=no-such-charset", "café"),
    ],
)
def test_page_charset(body: bytes, content_type: str | None, text: str) -> None:
    from watcher.sources.page import decode_html

    assert text in decode_html(body, content_type)
