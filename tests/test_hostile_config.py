"""A hostile or mistaken config: one line with file:line, exit 2, in bounded memory.

Alias bombs and recursive aliases are refused before anything expands them; `state:` is
resolved and checked as the config loads, so that `validate` reports it and no other
command meets it as a traceback; the SQLite file is private; `test-notify` shows no secret.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import DAEMON_CONFIG, Watcher, run_watcher, watcher_env
from tests.servers import LocalServer
from watcher.config import load
from watcher.store import Store, StoreError

MEMORY_CAP = 512 * 2**20  # bytes of address space for `validate` of a hostile file

# Nine levels of nine aliases: under 400 bytes that expand to 9**9 (387 million) strings.
BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)

SOURCES = """\
sources:
  - name: live
    file: blogs/*.txt
"""


def validate_capped(path: Path) -> subprocess.CompletedProcess[str]:
    """`watcher validate` in a process that cannot grow past MEMORY_CAP: a regression
    fails with a MemoryError instead of eating the machine."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    return subprocess.run(
        [sys.executable, "-m", "watcher", "validate", "-c", str(path)],
        env=watcher_env(),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=cap,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line that a broken config gives, with exit status 2 and no traceback."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    return line


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask outside systemd (whose unit sets 0077): new files are 0644."""
    before = os.umask(0o022)
    yield
    os.umask(before)


# Aliases ----------------------------------------------------------------------------------


def test_alias_bomb_is_refused_in_bounded_memory(make_config) -> None:
    assert len(BILLION_LAUGHS) < 400
    path = make_config(BILLION_LAUGHS)
    line = one_line(validate_capped(path))
    # The line where the expansion crosses the cap: `f`, the first of 9**5 strings.
    assert line == f"{path}:6: YAML: aliases expand to more than 100,000 nodes"


@pytest.mark.parametrize(
    ("text", "line"),
    [("a: &a [*a]\n", 1), (f"{SOURCES}b: &b\n  c: *b\n", 4)],
    ids=["sequence", "mapping"],
)
def test_recursive_alias_is_refused(text: str, line: int, make_config) -> None:
    path = make_config(text)
    assert one_line(validate_capped(path)) == f"{path}:{line}: YAML: recursive alias"


def test_deep_nesting_is_refused(make_config) -> None:
    # libyaml stops at 1000 levels; below that, the line walk would overflow the stack.
    path = make_config("a: " + "[" * 990 + "]" * 990 + "\n")
    assert one_line(validate_capped(path)) == f"{path}:1: YAML: nested more than 100 levels deep"


def test_legitimate_aliases_still_work(make_config) -> None:
    path = make_config(
        """\
state: state.db
channels:
  slack: "json://127.0.0.1:9/hook"
sources:
  - &feed
    name: live
    file: blogs/*.txt
    interval: 30s
  - <<: *feed
    name: other
rules:
  - name: Putin
    keywords: &leaders [Putin, Trump]
    notify: &desk [slack, console]
  - name: Riyadh
    keywords: [Riyadh]
    all: *leaders
    notify: *desk
"""
    )
    done = validate_capped(path)
    assert done.returncode == 0, done.stderr
    assert "ok (2 sources, 2 rules, 2 channels)" in done.stdout
    config = load(path)
    assert [(s.name, s.interval) for s in config.sources] == [("live", 30.0), ("other", 30.0)]
    assert config.rules[1].notify == ["slack", "console"]
    assert config.rules[1].all == ["Putin", "Trump"]


# state: -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "status", "check"])
def test_unset_variable_in_state_is_a_config_error(command: str, make_config) -> None:
    path = make_config("state: ${UNSET}/watcher.db\n" + SOURCES)
    env = watcher_env()
    env.pop("UNSET", None)
    line = one_line(run_watcher(command, "-c", str(path), env=env))
    assert line == f"{path}:1: state: environment variable UNSET is not set"


def test_state_default_after_the_variable(make_config, tmp_path: Path) -> None:
    path = make_config("state: ${UNSET:-" + str(tmp_path / "var") + "}/watcher.db\n" + SOURCES)
    assert load(path).state_url == f"sqlite:///{tmp_path / 'var' / 'watcher.db'}"


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            "postgresql://watcher:pw-secret@:badport/db",
            "not a database URL that SQLAlchemy can read (postgresql://…)",
        ),
        (
            "nosuchdialect://x",
            "unsupported database 'nosuchdialect' (use a SQLite path or a postgresql:// URL)",
        ),
        (
            "postgresql+psycopg2://watcher:pw-secret@db/watcher",
            "unsupported database 'postgresql+psycopg2' (use a SQLite path or a postgresql:// URL)",
        ),
        ("~no-such-user/watcher.db", "Could not determine home directory."),
    ],
    ids=["bad port", "unknown dialect", "other driver", "unknown user"],
)
def test_unusable_state_is_a_config_error(state: str, message: str, make_config) -> None:
    path = make_config(f'state: "{state}"\n{SOURCES}')
    for command in ("validate", "check"):
        done = run_watcher(command, "-c", str(path))
        assert one_line(done) == f"{path}:1: state: {message}"
        assert "pw-secret" not in done.stderr


def test_uncreatable_state_folder_is_a_config_error(make_config, tmp_path: Path) -> None:
    # Root passes permission bits: a folder under a regular file, and /proc, fail for all.
    (tmp_path / "some_file").write_text("not a folder\n", encoding="utf-8")
    cases = {
        "some_file/watcher.db": f"{tmp_path / 'some_file'} is not a folder",
        "/proc/nope/watcher.db": "/proc is not writable (",
    }
    for state, reason in cases.items():
        path = make_config(f"state: {state}\n{SOURCES}")
        database = state if state.startswith("/") else str(tmp_path / state)
        for command in ("validate", "status", "check"):
            line = one_line(run_watcher(command, "-c", str(path)))
            assert line.startswith(
                f"{path}:1: state: cannot create state database {database}: {reason}"
            ), line


def test_validate_creates_nothing(make_config, tmp_path: Path) -> None:
    path = make_config(f"state: var/lib/watcher.db\n{SOURCES}")
    assert run_watcher("validate", "-c", str(path)).returncode == 0
    assert not (tmp_path / "var").exists()


def test_store_says_plainly_what_is_wrong_with_its_url(tmp_path: Path) -> None:
    (tmp_path / "some_file").write_text("", encoding="utf-8")
    for url, message in [
        ("nosuchdialect://x", "unsupported database 'nosuchdialect'"),
        ("postgresql://watcher:pw-secret@:badport/db", "not a database URL"),
        (f"sqlite:///{tmp_path}/some_file/watcher.db", "cannot create state database"),
    ]:
        with pytest.raises(StoreError, match=message) as caught:
            Store(url)
        assert "pw-secret" not in str(caught.value)


# The SQLite file --------------------------------------------------------------------------


def test_database_files_are_private_whatever_the_umask(
    umask_022: None, seed_copy: Path, make_config
) -> None:
    checked = make_config(DAEMON_CONFIG.replace("state.db", "checked.db"), "checked.yaml")
    assert run_watcher("check", "-c", str(checked)).returncode == 0
    for name in ("checked.db", "checked.db.lock"):
        assert mode(checked.parent / name) == 0o600, name
    # The daemon keeps the database open, and with it the -wal and -shm files.
    path = make_config(DAEMON_CONFIG)
    with Watcher("run", "-c", str(path)) as daemon:
        daemon.wait_stderr('"polled"')
        for name in ("state.db", "state.db-wal", "state.db-shm"):
            assert mode(path.parent / name) == 0o600, name


def test_an_existing_database_keeps_its_mode(umask_022: None, seed_copy: Path, make_config) -> None:
    path = make_config(DAEMON_CONFIG)
    db = path.parent / "state.db"
    sqlite3.connect(db).close()
    db.chmod(0o640)
    assert run_watcher("check", "-c", str(path)).returncode == 0
    assert mode(db) == 0o640


# test-notify ------------------------------------------------------------------------------


def test_test_notify_masks_every_secret(make_config) -> None:
    password, token = "hook-password-123", "header-token-456"
    receiver = LocalServer()
    try:
        path = make_config(
            "channels:\n"
            f'  hook: "json://watcher:${{HOOK_PASSWORD}}@127.0.0.1:{receiver.port}/hook'
            '?+X-Api-Key=${HOOK_TOKEN}"\n'
        )
        env = watcher_env(HOOK_PASSWORD=password, HOOK_TOKEN=token)
        done = run_watcher("test-notify", "hook", "-c", str(path), env=env)
    finally:
        receiver.close()
    assert done.returncode == 0, done.stderr
    assert f"@127.0.0.1:{receiver.port}/hook" in done.stdout
    assert "X-Api-Key=***" in done.stdout and done.stdout.strip().endswith("sent")
    assert password not in done.stdout + done.stderr
    assert token not in done.stdout + done.stderr
    (got,) = receiver.accepted
    assert got.headers["X-Api-Key"] == token
