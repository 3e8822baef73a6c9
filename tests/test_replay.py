"""`watcher replay` plays the seed oldest entry first through the whole pipeline."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import SEED, SEED_TITLE, run_watcher
from tests.test_textblog import HEADLINES


def test_replay_alerts_every_entry_in_the_order_it_was_written(tmp_path: Path) -> None:
    config = tmp_path / "w.yaml"
    config.write_text(
        "channels:\n  slack: 'json://127.0.0.1:9/never-used'\n"
        "rules:\n  - name: Putin\n    keywords: [Putin]\n    notify: [slack]\n",
        encoding="utf-8",
    )
    done = run_watcher("replay", str(SEED), "--speed", "300", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    alerts = [line for line in done.stdout.splitlines() if line.startswith("▶ ")]
    assert alerts == [f"▶ New: {title}" for title in reversed(HEADLINES)]
    # Rules still tag the entries; real channels are never used by a replay.
    assert "000_cda4f8f913c75e77.txt" not in done.stdout
    assert f"{SEED_TITLE} (replay) · Putin" in done.stdout
    assert "never-used" not in done.stderr
    assert list(tmp_path.iterdir()) == [config]


def test_replay_without_any_config(tmp_path: Path) -> None:
    done = run_watcher("replay", str(SEED), "--speed", "600", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sum(line.startswith("▶ New: ") for line in done.stdout.splitlines()) == 6
