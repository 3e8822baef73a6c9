"""Crash points for tests of durability: WATCHER_FAILPOINTS=name kills the process there.

They let a test stop the process at an exact point (between a poll and its commit, in the
middle of a delivery batch) and check what survives a restart. Unset, they cost one lookup.
"""

from __future__ import annotations

import os
import signal

_ACTIVE = frozenset(filter(None, os.environ.get("WATCHER_FAILPOINTS", "").split(",")))


def failpoint(name: str) -> None:
    if name in _ACTIVE:
        os.kill(os.getpid(), signal.SIGKILL)
