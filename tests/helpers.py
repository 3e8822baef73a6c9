"""Helpers shared by the tests: the seed, configs, the CLI as a subprocess, waiting."""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_cda4f8f913c75e77.txt"
SEED_TITLE = (  # the seed live blog's own title, which alerts name it by
    "Ukraine-Russia war latest: Peace talks still months away as Kyiv responds to Trump-Putin call"
)
T = TypeVar("T")

# A daemon on the seed copy (see the seed_copy fixture), polling fast, alerting on Putin.
DAEMON_CONFIG = """\
state: state.db
sources:
  - name: live
    file: blogs/*.txt
    interval: 0.3s
rules:
  - name: Putin
    keywords: [Putin]
"""


def wait_for(
    predicate: Callable[[], T | None], timeout: float = 15.0, what: str = "condition"
) -> T:
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_on_terminal(*args: str, timeout: float = 60) -> str:
    """`watcher` with its stderr on a terminal (a pty): what it wrote there, raw."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "watcher", *args],
        env=watcher_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    out = b""
    deadline = time.monotonic() + timeout
    while select.select([leader], [], [], max(0.0, deadline - time.monotonic()))[0]:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    return out.decode("utf-8", "replace")


class Watcher:
    """`watcher` running as a subprocess, its output collected as it comes."""

    def __init__(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "watcher", *args],
            cwd=cwd,
            env=env if env is not None else watcher_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        for stream, lines in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr)):
            threading.Thread(target=self._collect, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _collect(stream: IO[str] | None, lines: list[str]) -> None:
        assert stream is not None
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_stdout(self, text: str, timeout: float = 15.0) -> str:
        return self._wait_line(self.stdout, text, timeout)

    def wait_stderr(self, text: str, timeout: float = 15.0) -> str:
        return self._wait_line(self.stderr, text, timeout)

    def _wait_line(self, lines: list[str], text: str, timeout: float) -> str:
        found = wait_for(
            lambda: next((line for line in lines if text in line), None),
            timeout,
            f"{text!r} in the output; stderr so far: {self.stderr[-5:]}",
        )
        assert found is not None
        return found

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


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
