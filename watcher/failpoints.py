"""Fault points for tests of durability, set with WATCHER_FAILPOINTS.

`WATCHER_FAILPOINTS=poll.before_commit` makes `failpoint("poll.before_commit")` kill the
process there; `name@3` fires on the third pass only, and `fires(name)` lets the caller
choose what breaks (a dropped database connection, say). They let a test stop the process
at an exact point and check what survives. Unset, they cost one set lookup.
"""

from __future__ import annotations

import os
import signal

_ACTIVE: dict[str, int] = {}  # name -> the pass it fires on (0: every pass)
for _spec in filter(None, os.environ.get("WATCHER_FAILPOINTS", "").split(",")):
    _name, _, _nth = _spec.partition("@")
    _ACTIVE[_name] = int(_nth) if _nth.isdigit() else 0
_PASSES: dict[str, int] = {}


def fires(name: str) -> bool:
    if name not in _ACTIVE:
        return False
    _PASSES[name] = _PASSES.get(name, 0) + 1
    return _ACTIVE[name] in (0, _PASSES[name])


def failpoint(name: str) -> None:
    """Kills the process here, as a power cut or the OOM killer would."""
    if fires(name):
        os.kill(os.getpid(), signal.SIGKILL)
