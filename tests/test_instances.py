"""Several `watcher run` instances sharing one PostgreSQL: each change alerted once."""

from __future__ import annotations

import itertools
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from benchmarks.feedserver import Feeds, Server
from tests.helpers import Watcher, run_watcher, wait_for
from tests.servers import LocalServer, Received
from watcher.store import Store, claims, sources
from watcher.store.engine import normalize_url

pytestmark = pytest.mark.slow

FEEDS = 500


@pytest.mark.timeout(300)  # three daemons over 500 feeds, on two cores
def test_three_instances_share_the_feeds_and_take_over_a_dead_ones(
    tmp_path: Path, make_config, pg_url: str
) -> None:
    feeds = Feeds(tmp_path / "site", FEEDS, 10)
    feeds.write_all()
    server = Server(tmp_path / "site", kind="python")
    server.start()
    hook = LocalServer()
    engine = sa.create_engine(normalize_url(pg_url))
    Store(pg_url).close()  # the schema, before three instances race to make it
    instances: dict[str, Watcher] = {}
    try:
        listed = "".join(f"  - name: f{i}\n    feed: {server.url(i)}\n" for i in range(FEEDS))
        config = make_config(
            f"state: '{pg_url}'\ninterval: 3s\njitter: 0.5s\n"
            # Every change adds the same sentence: they are not copies of one another.
            "duplicates:\n  window: 0s\n"
            f"fetch:\n  per_host: 20\nsources:\n{listed}"
            f"channels:\n  hook: json://127.0.0.1:{hook.port}/hook\n"
            # Only the edit each change makes matches: one alert a changed feed.
            "rules:\n  - name: call\n    keywords: [later confirmed the call]\n    notify: [hook]\n"
        )
        for name in ("a", "b", "c"):
            instances[name] = Watcher(
                "run", "-c", str(config), "--instance", name, "--log-level", "warning"
            )

        def count(query: sa.Select) -> int:  # type: ignore[type-arg]
            with engine.connect() as conn:
                return int(conn.execute(query).scalar_one())

        def polled_since(moment: float) -> bool:
            query = sa.select(sa.func.count()).where(sources.c.last_poll_at > moment)
            return count(query) == FEEDS

        baselined = sa.select(sa.func.count()).where(sources.c.baselined.is_(True))
        wait_for(lambda: count(baselined) == FEEDS, timeout=90, what="all feeds baselined")

        def alerted() -> Counter[int]:
            titles = [r.json()["title"] for r in hook.accepted]
            return Counter(int(re.search(r"live blog (\d+)", t).group(1)) for t in titles)  # type: ignore[union-attr]

        first = feeds.change(0.1, seed=1)
        changed_at = time.time()
        wait_for(lambda: sum(alerted().values()) >= len(first), timeout=60, what="first alerts")
        wait_for(lambda: polled_since(changed_at + 1), timeout=60, what="a full round after")
        assert alerted() == Counter(first)  # each change once, none twice
        with engine.connect() as conn:  # the last full round was shared by all three
            polled_by = sa.func.coalesce(claims.c.owner, claims.c.last_owner)
            owners = Counter(
                conn.execute(sa.select(polled_by).where(claims.c.name.like("f%"))).scalars()
            )
        assert set(owners) == {"a", "b", "c"}, owners

        instances["a"].proc.send_signal(signal.SIGKILL)  # in the middle of its work
        instances["a"].proc.wait(10)
        second = feeds.change(0.1, seed=2, exclude=first)
        changed_at = time.time()
        # a's sources are taken over within an interval: its claims ended with it.
        wait_for(lambda: polled_since(changed_at + 1), timeout=60, what="a round without a")
        wait_for(
            lambda: sum(alerted().values()) >= len(first) + len(second), timeout=60, what="alerts"
        )
        # One more full round: a late duplicate would have been sent by now.
        moment = time.time()
        wait_for(lambda: polled_since(moment), timeout=60, what="one more round")
        assert alerted() == Counter(first) + Counter(second)
        status = run_watcher("status", "-c", str(config))
        assert "a (now)" not in status.stdout  # a is dead: nothing of it counts as held
        status = run_watcher("status", "-c", str(config))
        assert status.returncode == 0
        by_column = {line.split()[-2] for line in status.stdout.splitlines()[1 : FEEDS + 1]}
        assert by_column <= {"b", "c", "(now)"} and by_column & {"b", "c"}
        assert "hook: sent by" in status.stdout
        for name in ("b", "c"):
            assert instances[name].stop() == 0
    finally:
        for watcher in instances.values():
            watcher.__exit__()
        engine.dispose()
        hook.close()
        server.stop()


def site(tmp_path: Path, count: int) -> tuple[Feeds, Server]:
    feeds = Feeds(tmp_path / "site", count, 10)
    feeds.write_all()
    server = Server(tmp_path / "site", kind="python")
    server.start()
    return feeds, server


def fleet_config(make_config, state: str, server: Server, count: int, hook: LocalServer) -> Path:
    """`count` feeds polled every 2 s; one alert (to `hook`) per changed feed."""
    listed = "".join(f"  - name: f{i}\n    feed: {server.url(i)}\n" for i in range(count))
    path: Path = make_config(
        f"state: '{state}'\ninterval: 2s\njitter: 0.2s\nduplicates:\n  window: 0s\n"
        f"fetch:\n  per_host: 20\nsources:\n{listed}"
        f"channels:\n  hook: json://127.0.0.1:{hook.port}/hook\n"
        "rules:\n  - name: call\n    keywords: [later confirmed the call]\n    notify: [hook]\n"
    )
    return path


def every_feed_polled(config: Path, count: int) -> bool:
    listed = run_watcher("status", "-c", str(config)).stdout.splitlines()[1 : count + 1]
    return len(listed) == count and not any(" never " in line for line in listed)


def feed_of(received: Received) -> int:
    return int(re.search(r"live blog (\d+)", received.json()["title"]).group(1))  # type: ignore[union-attr]


def alerted(hook: LocalServer) -> Counter[int]:
    return Counter(feed_of(r) for r in hook.accepted)


def test_a_killed_instance_restarted_sends_what_it_left_within_seconds(
    tmp_path: Path, make_config, store_url: str
) -> None:
    """Killed just after a change, the instance comes back under its own name, and its
    claims are its own again at once: no lease to wait out."""
    feeds, server = site(tmp_path, 100)
    hook = LocalServer()
    state = store_url if "postgresql" in store_url else "state.db"
    config = fleet_config(make_config, state, server, 100, hook)
    try:
        with Watcher("run", "-c", str(config), "--log-level", "warning") as first:
            wait_for(lambda: every_feed_polled(config, 100), timeout=60, what="every feed polled")
            changed = feeds.change(0.1, seed=3)
            time.sleep(0.3)  # the kill lands while the change is being polled and sent
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(10)
        with Watcher("run", "-c", str(config), "--log-level", "warning") as second:
            restarted = time.monotonic()
            wait_for(lambda: set(alerted(hook)) >= set(changed), timeout=10, what="every alert")
            took = time.monotonic() - restarted
            assert second.stop() == 0
        # Exactly once by key; and at most one copy: the message in flight at the kill,
        # if the webhook took it in the milliseconds before the store could note so.
        keyed = {r.headers["Idempotency-Key"]: feed_of(r) for r in hook.accepted}
        assert Counter(keyed.values()) == Counter(changed), "an alert lost or keyed twice"
        copies = alerted(hook) - Counter(changed)
        assert sum(copies.values()) <= 1, f"copies beyond the send cut off: {copies}"
        if copies:
            assert any("sent again after a send cut off" in line for line in second.stderr)
        print(f"restart to last alert: {took:.1f}s")
    finally:
        hook.close()
        server.stop()


def test_two_instances_never_send_an_alert_twice_however_slow_the_channel(
    tmp_path: Path, make_config, pg_url: str
) -> None:
    feeds, server = site(tmp_path, 40)
    hook = LocalServer()
    hook.post_delay = 1.5  # a pass over the changes takes far longer than any lease did
    config = fleet_config(make_config, pg_url, server, 40, hook)
    Store(pg_url).close()
    try:
        with (
            Watcher("run", "-c", str(config), "--instance", "a") as a,
            Watcher("run", "-c", str(config), "--instance", "b") as b,
        ):
            wait_for(lambda: every_feed_polled(config, 40), timeout=60, what="every feed polled")
            changed = feeds.change(0.2, seed=4)
            wait_for(lambda: set(alerted(hook)) >= set(changed), timeout=60, what="every alert")
            time.sleep(3)  # a second sender would have sent by now
            assert alerted(hook) == Counter(changed)
            assert a.stop() == 0 and b.stop() == 0
    finally:
        hook.close()
        server.stop()


def test_a_poll_slower_than_its_interval_is_saved_once(
    tmp_path: Path, make_config, pg_url: str
) -> None:
    from tests.feeds import rss, seed_items

    items = seed_items()
    slow = LocalServer()
    slow.serve("/feed", rss(items), delay=3)
    config = make_config(
        f"state: '{pg_url}'\ninterval: 1s\njitter: 0s\n"
        f"sources:\n  - name: slow\n    feed: {slow.url('/feed')}\n"
        "rules:\n  - name: Putin\n    keywords: [Putin]\n"
    )
    Store(pg_url).close()
    engine = sa.create_engine(normalize_url(pg_url))
    try:
        with (
            Watcher("run", "-c", str(config), "--instance", "a") as a,
            Watcher("run", "-c", str(config), "--instance", "b") as b,
        ):
            wait_for(lambda: len(slow.got("/feed")) >= 1, what="the first request")
            slow.serve("/feed", rss([items[0].with_paragraph("Putin spoke."), *items[1:]]), delay=3)
            wait_for(lambda: len(slow.got("/feed")) >= 4, timeout=30, what="four polls")
            assert a.stop() == 0 and b.stop() == 0
        with engine.connect() as conn:
            kinds = Counter(conn.execute(sa.text("SELECT kind FROM events")).scalars())
        assert kinds == Counter({"updated": 1}), kinds
        # One poll at a time: requests never overlapped, however slow each was.
        starts = sorted(r.at for r in slow.got("/feed"))
        assert all(b - a >= 2.9 for a, b in itertools.pairwise(starts)), starts
    finally:
        engine.dispose()
        slow.close()
