"""Alerts through Apprise to real local peers; failures retried, secrets never shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import run_watcher, watcher_env
from tests.servers import LocalServer
from watcher.store import deliveries

CONFIG = """\
state: state.db
sources:
  - name: live
    file: blogs/*.txt
    baseline: alert
channels:
  hook: "json://watcher:${{HOOK_PASSWORD}}@127.0.0.1:{port}/hook"
rules:
  - name: Riyadh
    keywords: [Riyadh]
    notify: [hook]
"""
SECRET = "hunter2-very-secret"


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    peer = LocalServer()
    yield peer
    peer.close()


def outbox(db: Path) -> list[tuple[str, int, str | None]]:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(deliveries.c.status, deliveries.c.attempts, deliveries.c.last_error)
        ).all()
    engine.dispose()
    return [(r.status, r.attempts, r.last_error) for r in found]


def test_alert_reaches_the_webhook(seed_copy: Path, make_config, receiver: LocalServer) -> None:
    config = make_config(CONFIG.format(port=receiver.port))
    done = run_watcher("check", "-c", str(config), env=watcher_env(HOOK_PASSWORD=SECRET))
    assert done.returncode == 0, done.stderr
    (got,) = receiver.accepted
    payload = got.json()
    assert (
        payload["title"] == "New: Ukraine to participate in talks 'one way or another', says Russia"
    )
    assert "**Riyadh**" in payload["message"]
    assert "live/000_cda4f8f913c75e77.txt · Riyadh" in payload["message"]


def test_failed_delivery_is_recorded_then_retried_on_the_next_pass(
    seed_copy: Path, make_config, receiver: LocalServer
) -> None:
    receiver.post_script = [500]
    config = make_config(CONFIG.format(port=receiver.port))
    env = watcher_env(HOOK_PASSWORD=SECRET)

    first = run_watcher("check", "-c", str(config), env=env)
    assert first.returncode == 0
    assert len(receiver.requests) == 1 and receiver.accepted == []
    [(status, attempts, error)] = outbox(config.parent / "state.db")
    assert (status, attempts) == ("pending", 1)
    assert error is not None and "json: failure" in error.lower()
    assert "will retry" in first.stderr

    second = run_watcher("check", "-c", str(config), env=env)
    assert second.returncode == 0
    assert len(receiver.accepted) == 1
    assert [r[:2] for r in outbox(config.parent / "state.db")] == [("done", 2)]
    third = run_watcher("check", "-c", str(config), env=env)
    assert third.returncode == 0
    assert len(receiver.requests) == 2

    for output in (first, second, third):
        assert SECRET not in output.stdout + output.stderr
    assert SECRET not in str(outbox(config.parent / "state.db"))


def test_unreachable_channel_keeps_the_alert_pending(seed_copy: Path, make_config) -> None:
    peer = LocalServer()
    port = peer.port
    peer.close()  # nothing listens there any more
    config = make_config(CONFIG.format(port=port))
    done = run_watcher("check", "-c", str(config), env=watcher_env(HOOK_PASSWORD=SECRET))
    assert done.returncode == 0
    [(status, attempts, error)] = outbox(config.parent / "state.db")
    assert (status, attempts) == ("pending", 1)
    assert error and SECRET not in error
    assert SECRET not in done.stderr
