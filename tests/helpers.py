"""Helpers shared by the tests: the seed, configs, the CLI as a subprocess, waiting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_cda4f8f913c75e77.txt"
T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 15.0, what: str = "condition") -> T:
    """Polls `predicate` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def watcher_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    env.update(extra)
    return env


def run_watcher(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watcher", *args],
        cwd=cwd,
        env=env if env is not None else watcher_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_watcher(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "watcher", *args],
        cwd=cwd,
        env=env if env is not None else watcher_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def add_paragraph(path: Path, after_headline: str, paragraph: str) -> None:
    """Adds a paragraph at the end of the entry with this headline."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index(after_headline)
    end = start + 1
    from watcher.sources.textblog import is_headline

    while end < len(lines) and not is_headline(lines[end]):
        end += 1
    lines.insert(end, paragraph)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
