"""The command line, run as a subprocess the way people and CI run it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.feeds import rss, seed_items
from tests.helpers import SEED, add_paragraph, run_on_terminal, run_watcher, watcher_env
from tests.servers import LocalServer
from watcher.cli import EXAMPLES, main
from watcher.store import deliveries, entries, events, revisions

CONFIG = """\
state: state/watcher.db
sources:
  - name: live
    file: blogs/*.txt
    baseline: alert
rules:
  - name: Putin
    keywords: [Putin]
  - name: Riyadh
    keywords: [Riyadh]
"""


def check_json(config: Path) -> tuple[int, list[dict[str, object]], str]:
    done = run_watcher("check", "-c", str(config), "--json")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return done.returncode, lines, done.stderr


def test_check_json_new_then_update_then_nothing(seed_copy: Path, make_config) -> None:
    config = make_config(CONFIG)

    code, lines, _ = check_json(config)
    assert code == 0
    assert [e["kind"] for e in lines] == ["new"] * 6
    assert {e["source"] for e in lines} == {f"live/{SEED.name}"}
    assert set(lines[0]) == {"kind", "source", "entry", "title", "tags", "diff"}
    by_title = {e["title"]: e for e in lines}
    ukraine = "Ukraine to participate in talks 'one way or another', says Russia"
    assert by_title[ukraine]["tags"] == ["Putin", "Riyadh"]
    assert all(e["diff"] is None for e in lines)

    second = "Europe can't turn Uncle Sam into 'Uncle Sucker', says Hegseth"
    add_paragraph(
        seed_copy, second, "Hegseth said Putin would be watching Europe's response closely."
    )
    code, lines, _ = check_json(config)
    assert code == 0
    (update,) = lines
    assert update["kind"] == "updated"
    assert update["title"] == second
    assert update["tags"] == ["Putin"]
    assert "{+Hegseth said Putin would be watching Europe's response closely.+}" in str(
        update["diff"]
    )
    assert update["entry"] == by_title[second]["entry"]

    code, lines, _ = check_json(config)
    assert (code, lines) == (0, [])


def test_check_stores_entries_revisions_events_and_deliveries(seed_copy: Path, make_config) -> None:
    config = make_config(CONFIG)
    assert run_watcher("check", "-c", str(config)).returncode == 0
    add_paragraph(seed_copy, "US 'recognising realities on the ground'", "Putin has not replied.")
    done = run_watcher("check", "-c", str(config))
    assert done.returncode == 0
    assert "▶ Updated: US 'recognising realities on the ground'" in done.stdout
    assert "{+Putin has not replied.+}" in done.stdout

    engine = sa.create_engine(f"sqlite:///{config.parent / 'state/watcher.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(entries)).scalar() == 6
        assert conn.execute(sa.select(sa.func.count()).select_from(revisions)).scalar() == 7
        kinds = conn.execute(sa.select(events.c.kind).order_by(events.c.id)).scalars().all()
        assert kinds == ["new"] * 6 + ["updated"]
        # Only events a rule tagged are alerted: 4 of the 6 entries name Putin or Riyadh.
        statuses = conn.execute(sa.select(deliveries.c.status)).scalars().all()
        assert statuses == ["done"] * 5
    engine.dispose()


def test_silent_baseline_records_without_alerting(seed_copy: Path, make_config) -> None:
    config = make_config(CONFIG.replace("baseline: alert", "baseline: silent"))
    code, lines, _ = check_json(config)
    assert (code, lines) == (0, [])
    add_paragraph(
        seed_copy, "US can no longer be 'permanent guarantor'", "Riyadh was named as a venue."
    )
    code, lines, _ = check_json(config)
    assert [(e["kind"], e["tags"]) for e in lines] == [("updated", ["Riyadh"])]


def test_one_failing_source_exits_3_and_the_others_go_on(seed_copy: Path, make_config) -> None:
    config = make_config(
        """\
state: state/watcher.db
sources:
  - name: missing
    file: nowhere/blog.txt
  - name: live
    file: blogs/*.txt
    baseline: alert
"""
    )
    code, lines, stderr = check_json(config)
    assert code == 3
    assert len(lines) == 6
    assert "file not found" in stderr


def test_config_lookup_order(seed_copy: Path, tmp_path: Path) -> None:
    # ./config/watcher.yaml, then $WATCHER_CONFIG, then -c; relative paths from the file.
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "watcher.yaml").write_text(
        CONFIG.replace("blogs/*.txt", "../blogs/*.txt"), encoding="utf-8"
    )
    other = tmp_path / "other.yaml"
    other.write_text("sources: []\n", encoding="utf-8")

    def count(*args: str, **env: str) -> int:
        done = run_watcher("check", "--json", *args, cwd=tmp_path, env=watcher_env(**env))
        assert done.returncode == 0, done.stderr
        return len(done.stdout.splitlines())

    assert count(WATCHER_CONFIG=str(other)) == 0
    assert count() == 6
    shutil.rmtree(tmp_path / "config" / "state")
    assert count("-c", str(tmp_path / "config" / "watcher.yaml"), WATCHER_CONFIG=str(other)) == 6


def test_help_lists_every_command() -> None:
    done = run_watcher("--help")
    assert done.returncode == 0
    for command in ("run", "check", "validate", "replay"):
        assert command in done.stdout


def test_console_alerts_are_not_interleaved_with_their_log_lines(
    seed_copy: Path, make_config
) -> None:
    config = make_config(CONFIG)
    done = run_watcher("check", "-c", str(config), "--log-level", "info")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("▶ New:") >= 4  # those the rules tag
    assert "alert sent" not in done.stderr and "digest sent" not in done.stderr
    assert '"polled"' in done.stderr  # info lines still come, just not one per alert


def test_check_ends_with_a_summary_line(seed_copy: Path, make_config) -> None:
    done = run_watcher("check", "-c", str(make_config(CONFIG)), "--json")
    assert done.returncode == 0, done.stderr
    events = len(done.stdout.splitlines())
    assert done.stderr.splitlines()[-1] == (
        f"watcher: checked 1 source (1 polled): 0 failed, {events} events, "
        "4 alerts queued, 0 still waiting"  # the 4 events the rules tag, to the console
    )
    assert "\r" not in done.stderr  # no live count where stderr is not a terminal


@pytest.mark.parametrize("workers", ["1", "2"])
def test_check_on_a_terminal_shows_a_live_count(seed_copy: Path, make_config, workers: str) -> None:
    server = LocalServer()
    server.serve("/slow", rss(seed_items()[:1]), delay=1.5)
    more = f"  - name: slow\n    feed: {server.url('/slow')}\n  - name: down\n"
    config = make_config(CONFIG.replace("rules:", f"{more}    feed: http://127.0.0.1:9/\nrules:"))
    try:
        text = run_on_terminal("check", "-c", str(config), "--workers", workers)
    finally:
        server.close()
    # While the slow feed is still answering: the seed and the failed source are done.
    assert "\rwatcher: 2/3 sources polled, 1 failed, 6 events" in text
    # The count is erased before the summary, and before any log line.
    assert "\r\x1b[Kwatcher: checked 3 sources (3 polled): 1 failed" in text
    assert "\r\x1b[K" in text.split("poll failed")[0][-40:]


@pytest.mark.parametrize("command", [*EXAMPLES, "rules test"])
def test_every_command_help_ends_with_an_example(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command.split(), "--help"])
    assert done.value.code == 0
    assert re.search(r"example:\n  (sudo \S+/)?watcher ", capsys.readouterr().out)
