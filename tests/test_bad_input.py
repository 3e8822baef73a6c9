"""Every command, given bad input, answers in one line with what and where: exit 2 for a
config or argument problem, 1 for one at run time, 3 where a source (or a preview) found
nothing; never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_watcher

pytestmark = pytest.mark.slow

COMMANDS = [
    ["run"],
    ["check"],
    ["validate"],
    ["status"],
    ["history", "x"],
    ["diff", "x", "y"],
    ["test-notify", "console"],
    ["rules", "test"],
    ["preview", "/nonexistent.html"],
    ["replay", "/nonexistent.txt"],
]
# config file -> (its text, the exit status, what the one line says)
CONFIGS = {
    "missing": (None, 2, "config file not found"),
    "unset": ("state: ${WATCHER_TEST_UNSET}/w.db\n", 2, "environment variable"),
    "broken": ("sources: [\n", 2, "YAML syntax error"),
    "read-only": ("state: /proc/watcher/w.db\n", 2, "cannot create state database"),
    "not-ours": ("state: other.db\n", 1, "file is not a database"),
}


# Commands that never open the store have nothing to say of a foreign database.
CASES = [
    (command, kind)
    for command in COMMANDS
    for kind in CONFIGS
    if not (kind == "not-ours" and command[0] in ("preview", "replay", "validate", "test-notify"))
]


@pytest.mark.parametrize(("command", "kind"), CASES, ids=[f"{c[0]}-{k}" for c, k in CASES])
def test_bad_config_is_one_line_never_a_traceback(
    tmp_path: Path, command: list[str], kind: str
) -> None:
    text, status, says = CONFIGS[kind]
    config = tmp_path / "watcher.yaml"
    if text is not None:
        config.write_text(text)
    (tmp_path / "other.db").write_text("not a database, some other program's file\n")
    done = run_watcher(*command, "-c", str(config), cwd=tmp_path, timeout=30)
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    if command[0] == "preview" and kind not in ("missing", "unset", "broken", "read-only"):
        return
    assert done.returncode == status, output
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["replay", "/nonexistent.txt"], "/nonexistent.txt: cannot read"),
        (["replay", "/etc/hostname"], "not a live blog in the seed format"),
        (["preview", "x", "--selectors", "{entry: ["], "--selectors: not YAML"),
        (["check", "--workers", "many"], "invalid int value"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    done = run_watcher(*args, cwd=tmp_path, timeout=30)
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 2
    assert says in done.stderr
