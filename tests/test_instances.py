"""Several `watcher run` instances sharing one PostgreSQL: each change alerted once."""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from benchmarks.feedserver import Feeds, Server
from tests.helpers import Watcher, run_watcher, wait_for
from tests.servers import LocalServer
from watcher.store import Store, claims, sources
from watcher.store.engine import normalize_url

FEEDS = 500


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
            f"state: '{pg_url}'\ninterval: 3s\njitter: 0.5s\nlease: 4s\n"
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
        # a's sources are taken over within an interval and the lease.
        wait_for(lambda: polled_since(changed_at + 1), timeout=60, what="a round without a")
        wait_for(
            lambda: sum(alerted().values()) >= len(first) + len(second), timeout=60, what="alerts"
        )
        # One more full round: a late duplicate would have been sent by now.
        moment = time.time()
        wait_for(lambda: polled_since(moment), timeout=60, what="one more round")
        assert alerted() == Counter(first) + Counter(second)
        with engine.connect() as conn:
            held = set(
                conn.execute(
                    sa.select(claims.c.owner).where(claims.c.lease_until > time.time())
                ).scalars()
            )
        assert "a" not in held
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
