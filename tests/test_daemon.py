"""`watcher run`: polls on its interval, alerts after an edit, stops cleanly."""

from __future__ import annotations

import time
from pathlib import Path

from tests.helpers import DAEMON_CONFIG as CONFIG
from tests.helpers import Watcher, add_paragraph


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
