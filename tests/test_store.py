"""The store keeps every alert exactly once, whatever happens to the process."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.helpers import add_paragraph, run_watcher, watcher_env
from watcher.store import deliveries, events

CONFIG = """\
state: state.db
lock_timeout: 0.5s
sources:
  - name: live
    file: blogs/*.txt
    baseline: alert
rules:
  - name: Putin
    keywords: [Putin]
"""


def rows(db: Path, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        found = [tuple(r) for r in conn.execute(query)]
    engine.dispose()
    return found


def test_killed_between_poll_and_commit_loses_nothing_and_duplicates_nothing(
    seed_copy: Path, make_config
) -> None:
    config = make_config(CONFIG)
    db = config.parent / "state.db"
    crashed = run_watcher(
        "check",
        "-c",
        str(config),
        "--json",
        env=watcher_env(WATCHER_FAILPOINTS="poll.before_commit"),
    )
    assert crashed.returncode == -9
    assert crashed.stdout == ""
    assert rows(db, sa.select(events.c.id)) == []

    done = run_watcher("check", "-c", str(config), "--json")
    assert done.returncode == 0
    assert [json.loads(line)["kind"] for line in done.stdout.splitlines()] == ["new"] * 6
    assert len(rows(db, sa.select(events.c.id))) == 6

    again = run_watcher("check", "-c", str(config), "--json")
    assert (again.returncode, again.stdout) == (0, "")
    assert len(rows(db, sa.select(events.c.id))) == 6


def test_killed_during_a_delivery_batch_sends_each_pending_alert_once(
    seed_copy: Path, make_config
) -> None:
    config = make_config(CONFIG)
    db = config.parent / "state.db"
    crashed = run_watcher(
        "check", "-c", str(config), env=watcher_env(WATCHER_FAILPOINTS="outbox.after_send")
    )
    assert crashed.returncode == -9
    first = [line for line in crashed.stdout.splitlines() if line.startswith("▶")]
    assert len(first) == 1
    assert rows(
        db, sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
    ) == [
        ("done", 1),
        ("pending", 3),
    ]

    restarted = run_watcher("check", "-c", str(config))
    assert restarted.returncode == 0
    rest = [line for line in restarted.stdout.splitlines() if line.startswith("▶")]
    assert len(rest) == 3
    assert set(first).isdisjoint(rest)
    assert rows(db, sa.select(deliveries.c.status).distinct()) == [("done",)]


def test_locked_database_is_a_clear_error(seed_copy: Path, make_config) -> None:
    config = make_config(CONFIG)
    assert run_watcher("check", "-c", str(config)).returncode == 0
    holder = sqlite3.connect(config.parent / "state.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        add_paragraph(seed_copy, "US 'recognising realities on the ground'", "Putin spoke.")
        done = run_watcher("check", "-c", str(config))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 1
    assert "is locked by another process (waited 0.5s)" in done.stderr
    assert "Traceback" not in done.stderr
    # Once the lock is gone the change is found: nothing was lost.
    after = run_watcher("check", "-c", str(config), "--json")
    assert [json.loads(line)["kind"] for line in after.stdout.splitlines()] == ["updated"]


def test_read_only_database_is_a_clear_error(seed_copy: Path, make_config) -> None:
    config = make_config(CONFIG)
    assert run_watcher("check", "-c", str(config)).returncode == 0
    db = config.parent / "state.db"
    read_only = make_config(
        CONFIG.replace("state: state.db", f"state: 'sqlite:///file:{db}?mode=ro&uri=true'"),
        name="ro.yaml",
    )
    done = run_watcher("check", "-c", str(read_only))
    assert done.returncode == 1
    assert "is read-only" in done.stderr
    assert "Traceback" not in done.stderr
