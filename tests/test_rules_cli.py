"""`watcher rules test`: the current rules over the stored history, nothing sent."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import add_paragraph, run_watcher


def test_rules_test_replays_the_history_with_the_current_rules(
    seed_copy: Path, make_config
) -> None:
    config = make_config(
        "state: state.db\nsources:\n  - name: live\n    file: blogs/*.txt\n"
        "rules:\n  - name: Nato\n    keywords: [Nato]\n"
    )
    assert run_watcher("check", "-c", str(config)).returncode == 0
    add_paragraph(seed_copy, "US can no longer be 'permanent guarantor'", "Riyadh hosts the talks.")
    assert run_watcher("check", "-c", str(config)).returncode == 0

    # New rules, tried on what is stored.
    tuned = make_config(
        "state: state.db\nsources:\n  - name: live\n    file: blogs/*.txt\n"
        "rules:\n  - name: Riyadh\n    keywords: [Riyadh]\n",
        name="tuned.yaml",
    )
    done = run_watcher("rules", "test", "-c", str(tuned))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "7 revisions checked, 2 would have fired"
    assert any(
        "new      live/000_cda4f8f913c75e77.txt  ukraine-to-participate" in line for line in lines
    )
    assert any(line.startswith("    tags: Riyadh  matched: Riyadh") for line in lines)
    assert any("updated  live/000_cda4f8f913c75e77.txt  us-can-no-longer" in line for line in lines)

    assert run_watcher(
        "rules", "test", "-c", str(tuned), "--source", "other"
    ).stdout.splitlines() == ["0 revisions checked, 0 would have fired"]
    later = run_watcher("rules", "test", "-c", str(tuned), "--since", "2999-01-01")
    assert later.stdout.splitlines()[-1].endswith("0 would have fired")
    bad = run_watcher("rules", "test", "-c", str(tuned), "--since", "yesterday")
    assert bad.returncode == 2 and "invalid date" in bad.stderr
    # Nothing was sent or stored by trying rules.
    assert "▶" not in done.stdout
