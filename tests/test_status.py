"""`watcher status` tells the truth about when a source is polled next."""

from __future__ import annotations

import io
import time
from pathlib import Path

from watcher import lookback
from watcher.config import parse
from watcher.model import Target
from watcher.store import Store

TARGET = Target("live/blog.txt", "live", "blogs/blog.txt")


def _status(config_path: Path, store: Store) -> str:
    config = parse(
        f"state: {config_path.parent / 'state.db'}\n"
        "sources:\n  - name: live\n    file: blogs/*.txt\n    interval: 60s\n"
        "  - name: fresh\n    file: fresh/*.txt\n",
        config_path,
    )
    out = io.StringIO()
    lookback.status(config, store, out)
    return out.getvalue()


def test_next_poll_is_the_schedulers_own_backoff_included(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        store.register("desk")
        for _ in range(3):
            store.record_failure(TARGET, "file", "nothing matches blogs/*.txt")
        store.ensure_claims(["live", "fresh"])
        assert store.claim("live", "desk")
        assert store.claim("fresh", "desk")  # a first poll in flight
        text = _status(tmp_path / "w.yaml", store)
        assert "live/blog.txt" in text and "polling now" in text
        store.release("live", "desk", next_due=time.time() + 600)  # backing off 10 min
        text = _status(tmp_path / "w.yaml", store)
        line = next(row for row in text.splitlines() if row.startswith("live/blog.txt"))
        assert "in 600s (failing x3, backing off)" in line or "in 599s (failing x3" in line
        assert "nothing matches blogs/*.txt" in line
        fresh = next(row for row in text.splitlines() if row.startswith("fresh"))
        assert "polling now" in fresh
    finally:
        store.close()


def test_pause_resume_and_poll_now_through_the_store(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        store.register("desk")
        store.ensure_claims(["live"])
        assert store.claim("live", "desk")
        store.request(["live"], "pause")  # while it is being polled
        store.release("live", "desk", next_due=time.time() + 60)
        far = time.time() + 10**9
        assert not store.claim("live", "desk", now=far)  # paused: never due
        assert "paused" in _status(tmp_path / "w.yaml", store)
        assert store.request(["live"], "poll") == set()  # a poll does not unpause
        assert not store.claim("live", "desk", now=far)
        assert store.request(["live"], "resume") == {"live"}
        assert store.request(["live"], "resume") == set()  # not paused: nothing to resume
        assert store.claim("live", "desk")  # due now
        store.release("live", "desk", next_due=time.time() + 600)
        store.request(["live"], "poll")
        assert store.claim("live", "desk")  # due now, not in 10 minutes
    finally:
        store.close()
