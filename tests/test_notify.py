"""Alerts through Apprise to real local peers; failures retried, secrets never shown."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import SEED_TITLE, Watcher, add_paragraph, run_watcher, wait_for, watcher_env
from tests.servers import LocalServer
from watcher.model import Alert, Kind
from watcher.notify.channels import Channel
from watcher.notify.outbox import message_key
from watcher.store import Delivery, deliveries

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
    assert f"{SEED_TITLE} (live/000_cda4f8f913c75e77.txt) · Riyadh" in payload["message"]


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


def test_webhook_failing_twice_then_accepting_gets_the_alert_exactly_once(
    seed_copy: Path, make_config, receiver: LocalServer
) -> None:
    receiver.post_script = [500, 503]
    config = make_config(CONFIG.format(port=receiver.port))
    env = watcher_env(HOOK_PASSWORD=SECRET)
    for _ in range(4):
        assert run_watcher("check", "-c", str(config), env=env).returncode == 0
    assert len(receiver.requests) == 3
    assert len(receiver.accepted) == 1
    assert [r[:2] for r in outbox(config.parent / "state.db")] == [("done", 3)]
    keys = {r.headers["Idempotency-Key"] for r in receiver.requests}
    assert len(keys) == 1, "each try of one message carries its key"


def test_a_message_s_key_is_that_of_its_deliveries() -> None:
    """The same deliveries, in any order, make the same key; a digest that gained one, or
    another store's deliveries of the same ids, make another."""
    alert = Alert("live", Kind.NEW, "k", "t", "b", None, (), (), (), 0.0)

    def delivery(number: int, made: float = 1.0) -> Delivery:
        return Delivery(number, "hook", 0, 0.0, made, False, alert)

    one, two, three = delivery(1), delivery(2), delivery(3)
    assert message_key("hook", [one, two]) == message_key("hook", [two, one])
    assert message_key("hook", [one, two]) != message_key("hook", [one, two, three])
    assert message_key("hook", [one]) != message_key("hook", [delivery(1, made=2.0)])
    assert message_key("hook", [one]) != message_key("mail", [one])


def test_a_key_header_the_url_sets_is_kept(receiver: LocalServer) -> None:
    channel = Channel("hook", [f"json://127.0.0.1:{receiver.port}/hook?+Idempotency-Key=mine"])
    for key in ("a" * 32, "b" * 32):
        assert channel.send("title", "body", key).ok
    assert [r.headers["Idempotency-Key"] for r in receiver.accepted] == ["mine", "mine"]


def test_a_send_cut_off_by_a_crash_goes_again_under_the_same_key(
    seed_copy: Path, make_config, receiver: LocalServer
) -> None:
    """Killed after the channel took the alert and before the store noted it: the one
    window no channel lets us close. The restart sends it again, under the key the
    receiver saw, and says so; it is not lost."""
    config = make_config(CONFIG.format(port=receiver.port))
    crashed = run_watcher(
        "check",
        "-c",
        str(config),
        env=watcher_env(HOOK_PASSWORD=SECRET, WATCHER_FAILPOINTS="outbox.before_mark"),
    )
    assert crashed.returncode == -9
    assert [r[0] for r in outbox(config.parent / "state.db")] == ["pending"]

    again = run_watcher("check", "-c", str(config), env=watcher_env(HOOK_PASSWORD=SECRET))
    assert again.returncode == 0, again.stderr
    first, second = receiver.accepted
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert len(first.headers["Idempotency-Key"]) == 32
    assert first.body == second.body
    assert "sent again after a send cut off by a crash" in again.stderr
    assert [r[:2] for r in outbox(config.parent / "state.db")] == [("done", 1)]


def test_templates_shape_the_message(seed_copy: Path, make_config, receiver: LocalServer) -> None:
    config = make_config(
        CONFIG.format(port=receiver.port).replace(
            '  hook: "json://watcher:${HOOK_PASSWORD}@127.0.0.1:' + str(receiver.port) + '/hook"',
            f"""  hook:
    url: "json://watcher:${{HOOK_PASSWORD}}@127.0.0.1:{receiver.port}/hook"
    format: text
    title: "[{{{{ tags | join('/') }}}}] {{{{ title }}}}"
    body: "{{{{ kind }}}} in {{{{ source }}}}: {{{{ matches | join(', ') }}}} {{{{ url }}}}\"""",
        )
    )
    done = run_watcher("check", "-c", str(config), env=watcher_env(HOOK_PASSWORD=SECRET))
    assert done.returncode == 0, done.stderr
    (got,) = receiver.accepted
    payload = got.json()
    assert (
        payload["title"]
        == "[Riyadh] Ukraine to participate in talks 'one way or another', says Russia"
    )
    assert payload["message"] == "new in live/000_cda4f8f913c75e77.txt: Riyadh"


def test_test_notify_reports_what_each_service_answered(make_config, receiver: LocalServer) -> None:
    config = make_config(CONFIG.format(port=receiver.port))
    env = watcher_env(HOOK_PASSWORD=SECRET)
    done = run_watcher("test-notify", "hook", "-c", str(config), env=env)
    assert done.returncode == 0, done.stderr
    assert "JSON: success" in done.stdout and done.stdout.strip().endswith("sent")
    assert SECRET not in done.stdout + done.stderr
    (got,) = receiver.accepted
    assert got.json()["title"].startswith("[watcher test] Updated: Kremlin says Putin")

    receiver.post_script = [500]
    failed = run_watcher("test-notify", "hook", "-c", str(config), env=env)
    assert failed.returncode == 1
    assert "JSON: failure" in failed.stdout and "not sent" in failed.stdout
    unknown = run_watcher("test-notify", "nope", "-c", str(config), env=env)
    assert unknown.returncode == 2 and "unknown channel 'nope'" in unknown.stderr


def test_alert_failing_past_its_max_age_is_marked_failed_with_the_reason(
    seed_copy: Path, make_config
) -> None:
    peer = LocalServer()
    port = peer.port
    peer.close()
    text = CONFIG.format(port=port).replace(
        f'  hook: "json://watcher:${{HOOK_PASSWORD}}@127.0.0.1:{port}/hook"',
        f'  hook:\n    url: "json://127.0.0.1:{port}/hook"\n    max_age: 1s',
    )
    config = make_config(text)
    first = run_watcher("check", "-c", str(config))
    assert [r[:2] for r in outbox(config.parent / "state.db")] == [("pending", 1)]
    assert "will retry" in first.stderr

    def failed_for_good() -> bool:
        run_watcher("check", "-c", str(config))
        return outbox(config.parent / "state.db")[0][0] == "failed"

    wait_for(failed_for_good, what="the delivery to be marked failed")
    [(status, _, error)] = outbox(config.parent / "state.db")
    assert status == "failed" and error and "JSON: failure" in error


def test_a_hanging_channel_holds_up_neither_polling_nor_other_channels(
    seed_copy: Path, make_config
) -> None:
    slow, fast = LocalServer(), LocalServer()
    slow.hanging = True
    try:
        config = make_config(
            f"""\
state: state.db
sources:
  - name: live
    file: blogs/*.txt
    interval: 0.3s
channels:
  slow: "json://127.0.0.1:{slow.port}/hook"
  fast: "json://127.0.0.1:{fast.port}/hook"
rules:
  - name: Putin
    keywords: [Putin]
    notify: [slow, fast]
"""
        )
        with Watcher("run", "-c", str(config)) as watcher:
            watcher.wait_stderr('"polled"')
            add_paragraph(seed_copy, "US 'recognising realities on the ground'", "Putin agreed.")
            wait_for(lambda: fast.accepted, what="the fast channel's first alert")
            wait_for(lambda: slow.requests, what="the slow channel to start hanging")
            add_paragraph(seed_copy, "US can no longer be 'permanent guarantor'", "Putin objected.")
            wait_for(lambda: len(fast.accepted) == 2, what="the fast channel's second alert")
            assert slow.accepted == []
            started = time.monotonic()
            assert watcher.stop() == 0
            assert time.monotonic() - started < 10
    finally:
        slow.close()
        fast.close()
