"""watcher on PostgreSQL: the main flow, a dropped connection, an unreachable server."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.helpers import Watcher, add_paragraph, run_watcher, watcher_env


def config_text(state: str) -> str:
    return (
        f"state: '{state}'\nlock_timeout: 2s\n"
        "sources:\n  - name: live\n    file: blogs/*.txt\n    baseline: alert\n    interval: 0.3s\n"
        "rules:\n  - name: Putin\n    keywords: [Putin]\n"
    )


def check(config: Path, **env: str) -> tuple[int, list[dict[str, object]], str]:
    done = run_watcher("check", "-c", str(config), "--json", env=watcher_env(**env))
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def test_check_on_postgresql(seed_copy: Path, make_config, pg_url: str) -> None:
    config = make_config(config_text(pg_url))
    code, events, _ = check(config)
    assert (code, [e["kind"] for e in events]) == (0, ["new"] * 6)
    add_paragraph(seed_copy, "US 'recognising realities on the ground'", "Putin agreed.")
    code, events, _ = check(config)
    assert [(e["kind"], e["tags"]) for e in events] == [("updated", ["Putin"])]
    assert check(config)[:2] == (0, [])


def test_connection_dropped_mid_poll_rolls_back_and_the_next_poll_redoes_it(
    seed_copy: Path, make_config, pg_url: str
) -> None:
    config = make_config(config_text(pg_url))
    code, events, stderr = check(config, WATCHER_FAILPOINTS="store.drop_connection@1")
    assert code == 3 and events == []
    assert "lost the connection to state database" in stderr
    code, events, _ = check(config)  # the same change, found again, stored once
    assert (code, len(events)) == (0, 6)
    assert check(config)[:2] == (0, [])


def test_daemon_survives_a_dropped_connection(seed_copy: Path, make_config, pg_url: str) -> None:
    config = make_config(config_text(pg_url))
    env = watcher_env(WATCHER_FAILPOINTS="store.drop_connection@1")
    with Watcher("run", "-c", str(config), env=env) as watcher:
        watcher.wait_stderr("lost the connection to state database")
        # The next poll redoes the lost one: each entry naming Putin alerted once.
        watcher.wait_stdout("▶ New: Negotiations will include both Ukraine and Russia, US says")
        add_paragraph(seed_copy, "US 'recognising realities on the ground'", "Putin agreed.")
        watcher.wait_stdout("▶ Updated: US 'recognising realities on the ground'")
        assert watcher.stop() == 0
    assert sum(line.startswith("▶ New") for line in watcher.stdout) == 4


def test_unreachable_database(seed_copy: Path, make_config) -> None:
    url = "postgresql://postgres@127.0.0.1:9/test"  # nothing listens on port 9
    config = make_config(config_text(url))
    done = run_watcher("check", "-c", str(config))
    assert done.returncode == 1
    assert (
        "cannot connect to state database postgresql+psycopg://postgres@127.0.0.1:9/test"
        in done.stderr
    )
    assert "Traceback" not in done.stderr
    # The daemon waits for the database instead of exiting into a restart loop.
    with Watcher("run", "-c", str(config)) as watcher:
        watcher.wait_stderr("state database unavailable; retrying")
        started = time.monotonic()
        assert watcher.stop() == 0
        assert time.monotonic() - started < 5
