"""Claims, fences and the held-poll rule: what keeps an alert from being lost or doubled.

Each test here is one that a plausible bug in the rules that hold the no-loss, no-double
design would fail: a 304 that drops the validators, a dropped unchanged-body shortcut,
a duplicate check that forgets what was sent, a digest marked done by halves, the
mass-removal boundary, a hold disarmed by a glitch that goes away.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.feeds import Item, rss, seed_items
from tests.helpers import run_watcher
from tests.servers import LocalServer
from watcher.config import ChannelConfig, DuplicatesConfig
from watcher.diff import compare
from watcher.model import Entry, Event, Snapshot, Target, document
from watcher.notify.outbox import Outbox
from watcher.pipeline import mass_removal
from watcher.sources.feedformats import parse_feed
from watcher.store import Store

ITEMS = seed_items()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    peer = LocalServer()
    yield peer
    peer.close()


def feed_config(make_config: Any, server: LocalServer) -> Path:
    path: Path = make_config(
        "state: state.db\n"
        f"sources:\n  - name: live\n    feed: {server.url('/feed')}\n"
        "rules:\n  - name: Putin\n    keywords: [Putin]\n"
    )
    return path


def polled_once(server: LocalServer, make_config: Any) -> Path:
    """The seed's items served as a feed and polled once: the config."""
    server.serve("/feed", rss(ITEMS))
    config = feed_config(make_config, server)
    check(config)
    return config


def check(config: Path, *extra: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Events and log lines of one `watcher check` (at info level)."""
    done = run_watcher("check", "-c", str(config), "--json", "--log-level", "info", *extra)
    assert done.returncode == 0, done.stderr
    logs = [json.loads(line) for line in done.stderr.splitlines() if line.startswith('{"time')]
    return [json.loads(line) for line in done.stdout.splitlines()], logs


def said(logs: list[dict[str, Any]], message: str) -> bool:
    return any(line["msg"] == message for line in logs)


# Validators and the unchanged shortcut ----------------------------------------------------


def test_a_304_keeps_the_validators_for_the_next_request(
    server: LocalServer, make_config: Any
) -> None:
    server.serve("/feed", rss(ITEMS))
    config = feed_config(make_config, server)
    for _ in range(3):
        check(config)
    first, second, third = server.got("/feed")
    assert "If-None-Match" not in first.headers
    etag = server.routes["/feed"].etag
    assert second.headers["If-None-Match"] == third.headers["If-None-Match"] == etag
    assert second.headers["If-Modified-Since"] == third.headers["If-Modified-Since"]


def test_the_same_bytes_without_validators_are_not_parsed_again(
    server: LocalServer, make_config: Any
) -> None:
    server.serve("/feed", rss(ITEMS), validators=False)
    config = feed_config(make_config, server)
    _, logs = check(config)
    assert said(logs, "polled")
    _, logs = check(config)  # 200 with the same body: the content hash says unchanged
    assert len(server.got("/feed")) == 2
    assert not said(logs, "polled")


def test_a_changed_feed_reads_its_changed_items_and_keeps_the_others_as_stored(
    server: LocalServer, make_config: Any
) -> None:
    config = polled_once(server, make_config)
    before = stored_entries(config.parent / "state.db")
    edited = list(ITEMS)
    edited[1] = ITEMS[1].with_paragraph("Putin later confirmed the call.")
    edited[3] = replace(ITEMS[3], published=ITEMS[3].published + timedelta(seconds=1))
    server.serve("/feed", rss(edited))

    events, _ = check(config)
    assert [(e["kind"], e["entry"]) for e in events] == [("updated", ITEMS[1].id)]
    assert "{+Putin later confirmed the call.+}" in events[0]["diff"]
    after = stored_entries(config.parent / "state.db")
    # The words stored are the whole feed's, read afresh; the kept items' are untouched.
    assert_stored_as_read(after, edited, server)
    # A digest changes with its item, the date-only edit's too (not read again next time).
    assert {k for k in before if before[k][1] != after[k][1]} == {ITEMS[1].id, ITEMS[3].id}


def test_a_kept_item_without_its_stored_words_is_read_again(
    server: LocalServer, make_config: Any
) -> None:
    """Its digest is stored but its words are not (a store damaged by hand, or changed
    since the digests were read): the poll reads every item again rather than fail."""
    config = polled_once(server, make_config)
    db = config.parent / "state.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "DELETE FROM revisions WHERE entry_id = (SELECT id FROM entries WHERE key = ?)",
            (ITEMS[4].id,),
        )
    edited = list(ITEMS)
    edited[1] = ITEMS[1].with_paragraph("Putin later confirmed the call.")
    server.serve("/feed", rss(edited))

    events, logs = check(config)
    assert [(e["kind"], e["entry"]) for e in events] == [
        ("new", ITEMS[4].id),  # its words unknown to the store: told as new, and kept
        ("updated", ITEMS[1].id),
    ]
    assert not said(logs, "poll failed")
    assert_stored_as_read(stored_entries(db), edited, server)


def assert_stored_as_read(
    stored: dict[str, tuple[str, str]], items: list[Item], server: LocalServer
) -> None:
    """The stored words are those of a full read of the feed that `items` make."""
    fresh = parse_feed(rss(items).encode(), None, server.url("/feed")).entries
    assert {k: text for k, (text, _) in stored.items()} == {e.key: e.document for e in fresh}


def stored_entries(db: Path) -> dict[str, tuple[str, str]]:
    """key -> (document, digest) of each stored entry."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT key, r.title, r.body, digest FROM entries AS e JOIN revisions AS r"
            " ON r.entry_id = e.id AND r.revision = e.revision"
        ).fetchall()
    return {key: (document(title, body), digest) for key, title, body, digest in rows}


# The held-poll rule ---------------------------------------------------------------------


def test_removing_exactly_half_is_not_held_more_than_half_is() -> None:
    assert not mass_removal(3, 6) and mass_removal(4, 6) and not mass_removal(0, 0)


def test_a_removal_of_exactly_half_goes_through_at_once(
    server: LocalServer, make_config: Any
) -> None:
    config = polled_once(server, make_config)
    server.serve("/feed", rss([ITEMS[0], ITEMS[2], ITEMS[4], ITEMS[5]]))  # 2 of 6 gone
    events, _ = check(config)
    assert [e["kind"] for e in events] == ["removed", "removed"]
    server.serve("/feed", rss([ITEMS[0], ITEMS[5]]))  # 2 of the 4 left: exactly half
    events, logs = check(config)
    assert [e["kind"] for e in events] == ["removed", "removed"]
    assert not said(logs, "poll held until the next poll confirms it")


@pytest.mark.slow
def test_a_hold_that_a_reverted_glitch_ends_holds_the_next_glitch_too(
    server: LocalServer, make_config: Any
) -> None:
    config = polled_once(server, make_config)
    glitch = rss(ITEMS[4:])
    for _ in range(2):  # a glitch, then the original bytes back: twice over
        server.serve("/feed", glitch)
        events, logs = check(config)
        assert events == [] and said(logs, "poll held until the next poll confirms it")
        server.serve("/feed", rss(ITEMS))
        events, logs = check(config)
        assert events == [] and not said(logs, "polled")  # the same bytes: unchanged
    server.serve("/feed", glitch)  # a real removal: held once, then confirmed
    assert check(config)[0] == []
    assert [e["kind"] for e in check(config)[0]] == ["removed"] * 4


@pytest.mark.slow
def test_a_different_glitch_does_not_confirm_a_held_one(
    server: LocalServer, make_config: Any
) -> None:
    config = polled_once(server, make_config)
    server.serve("/feed", rss(ITEMS[4:]))  # the last two left
    assert check(config)[0] == []
    server.serve("/feed", rss([ITEMS[0], ITEMS[5]]))  # another four removed
    events, logs = check(config)
    assert events == [] and said(logs, "poll held until the next poll confirms it")
    events, _ = check(config)  # the same removal again: confirmed
    assert [e["title"] for e in events] == [i.title for i in reversed(ITEMS[1:5])]


# The outbox -------------------------------------------------------------------------------


def hook(server: LocalServer, **options: Any) -> dict[str, ChannelConfig]:
    return {"hook": ChannelConfig(urls=[f"json://127.0.0.1:{server.port}/hook"], **options)}


def save(store: Store, source: str, entries: tuple[Entry, ...]) -> None:
    target = Target(source, source, f"{source}.txt")
    with store.poll(target, "file") as tx:
        comparison = compare(tx.entries(), Snapshot(entries))
        events = [Event(c, (), (), ("hook",)) for c in comparison.changes]
        tx.save(comparison, events, None, None, f"{source}{len(entries)}")


def posted(server: LocalServer) -> list[dict[str, Any]]:
    return [r.json() for r in server.accepted]


def test_a_copy_of_an_alert_already_sent_is_not_sent_again(
    server: LocalServer, tmp_path: Path
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        outbox = Outbox(store, hook(server), DuplicatesConfig())
        story = Entry("Kremlin statement", "The Kremlin said talks with Kyiv will go on in May.")
        save(store, "tass", (story,))
        outbox.run_channel("hook", lambda: True)
        assert len(posted(server)) == 1
        save(store, "ria", (Entry("Talks go on", story.body),))  # the same copy elsewhere
        outbox.run_channel("hook", lambda: True)
        assert len(posted(server)) == 1
        assert store.delivery_counts() == {"done": 1, "dropped": 1}
    finally:
        store.close()


def test_a_digest_marks_every_one_of_its_alerts_sent(server: LocalServer, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        later = time.time() + 600
        outbox = Outbox(store, hook(server, digest=300), DuplicatesConfig(), clock=lambda: later)
        save(store, "live", tuple(Entry(f"Entry {n}", f"Text number {n}.") for n in range(3)))
        outbox.run_channel("hook", lambda: True)
        (message,) = posted(server)
        assert message["title"].startswith("New: Entry 2 and 2 more")
        assert store.delivery_counts() == {"done": 3}
    finally:
        store.close()


def test_a_pass_stops_sending_once_the_channel_is_not_held(
    server: LocalServer, tmp_path: Path
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        outbox = Outbox(store, hook(server), DuplicatesConfig(window=0))
        save(store, "live", tuple(Entry(f"Entry {n}", f"Text number {n}.") for n in range(3)))
        answers = iter([True, False])
        outbox.run_channel("hook", lambda: next(answers))
        assert len(posted(server)) == 1
        assert store.delivery_counts() == {"done": 1, "pending": 2}
    finally:
        store.close()
