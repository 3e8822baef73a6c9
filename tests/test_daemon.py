"""`watcher run`: polls on its interval, alerts after an edit, stops cleanly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.helpers import DAEMON_CONFIG as CONFIG
from tests.helpers import Watcher, add_paragraph, run_watcher, wait_for
from watcher.schedule import claimable
from watcher.store.records import ClaimRow


def test_run_alerts_within_one_interval_of_an_edit_and_stops_on_sigterm(
    seed_copy: Path, make_config
) -> None:
    config = make_config(CONFIG)
    with Watcher("run", "-c", str(config)) as watcher:
        watcher.wait_stderr('"polled"')  # the silent baseline
        assert watcher.stdout == []
        add_paragraph(
            seed_copy, "Negotiations will include both Ukraine and Russia, US says", "Putin agreed."
        )
        edited = time.monotonic()
        watcher.wait_stdout("▶ Updated: Negotiations will include both Ukraine and Russia, US says")
        assert time.monotonic() - edited < 5
        assert any("{+Putin agreed.+}" in line for line in watcher.stdout)
        started = time.monotonic()
        assert watcher.stop() == 0
        assert time.monotonic() - started < 10
        assert any('"stopped"' in line for line in watcher.stderr)


def test_run_stops_on_sigint_too(seed_copy: Path, make_config) -> None:
    import signal

    config = make_config(CONFIG)
    with Watcher("run", "-c", str(config)) as watcher:
        watcher.wait_stderr('"polled"')
        assert watcher.stop(signal.SIGINT) == 0


def test_run_logs_a_summary_of_its_polls(seed_copy: Path, make_config) -> None:
    config = make_config(
        CONFIG.replace(
            "rules:", "  - name: gone\n    file: nowhere/*.txt\n    interval: 0.3s\nrules:"
        )
        + "poll_summary: 1s\n"
    )
    with Watcher("run", "-c", str(config)) as watcher:
        lines = wait_for(lambda: [x for x in watcher.stderr if '"poll summary"' in x][1:2])
        first = json.loads(next(x for x in watcher.stderr if '"poll summary"' in x))
        later = json.loads(lines[0])
    assert first["changed"] + first["unchanged"] >= 1  # the silent baseline, at least
    assert first["failed"] >= 1 and first["failing"] == "gone"
    # Each poll is counted once: the second summary counts only polls since the first.
    assert later["unchanged"] >= 1
    assert later["changed"] == 0 and later["events"] == 0


@pytest.mark.parametrize(
    ("owner", "next_due", "alive", "expected"),
    [
        (None, 90.0, False, True),  # due, free
        (None, 110.0, False, False),  # polled by someone else, not due again yet
        ("b", 90.0, True, False),  # due, but b is alive and polling it
        ("b", 90.0, False, True),  # b died while polling it: taken over at once
        ("a", 110.0, True, True),  # this instance's own claim, as last read
    ],
)
def test_an_instance_skips_claims_it_would_lose(
    owner: str | None, next_due: float, alive: bool, expected: bool
) -> None:
    row = ClaimRow("live", next_due, owner, alive, None, None)
    assert claimable(row, "a", now=100.0) is expected
    assert claimable(None, "a", now=100.0)  # a source not read yet: try the claim


def test_poll_now_and_pause_reach_a_running_daemon(seed_copy: Path, make_config) -> None:
    config = make_config(CONFIG.replace("interval: 0.3s", "interval: 1h\n    jitter: 0s"))
    with Watcher("run", "-c", str(config)) as watcher:
        watcher.wait_stderr('"polled"')  # the first poll; the next is an hour away
        add_paragraph(seed_copy, "US 'recognising realities on the ground'", "Putin agreed.")
        done = run_watcher("poll", "live", "-c", str(config))
        assert done.returncode == 0 and "due now" in done.stdout
        watcher.wait_stdout("▶ Updated: US 'recognising realities on the ground'", timeout=15)
        assert run_watcher("pause", "live", "-c", str(config)).returncode == 0
        status = run_watcher("status", "-c", str(config))
        assert "paused" in status.stdout
        unknown = run_watcher("poll", "nope", "-c", str(config))
        assert unknown.returncode == 2 and "unknown source 'nope'" in unknown.stderr
        assert watcher.stop() == 0
