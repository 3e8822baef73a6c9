"""The daemon's scheduling policy, as pure functions of the config and the clock: when a
source is due again, how a failing one backs off, whether a claim is worth trying, and
which sources are late. daemon.py applies them; tests/test_schedule.py tables them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from watcher.store import ClaimRow

# A little early, so that the job firing at the due time is not turned away: a tenth of
# the interval, at most this (healthy) or that (backing off).
EARLY_HEALTHY = 0.5
EARLY_FAILING = 1.0
LATE_GRACE = 5.0  # beyond two intervals and the jitter: how late a poll may start


def backoff(interval: float, failures: int, cap: float) -> float:
    """Seconds from a failed poll to the next: the interval, doubling with each failure,
    up to `cap` (or the interval, if that is longer)."""
    return float(min(interval * 2 ** min(max(failures - 1, 0), 64), max(cap, interval)))


def next_due(
    started: float,
    interval: float,
    *,
    failures: int,
    cap: float,
    retry_after: float = 0.0,
    next_fire: float | None = None,
) -> float:
    """When a source polled at `started` is due again: at its job's next run (an interval
    on, even if this run started late on a busy loop); later while it fails (`failures`
    in a row, backing off); and no sooner than a Retry-After it sent (capped as the
    backoff is)."""
    asked = started + min(retry_after, max(cap, interval))
    if failures:
        early = min(interval * 0.1, EARLY_FAILING)
        return max(started + backoff(interval, failures, cap) - early, asked)
    due = started + interval if next_fire is None else min(started + interval, next_fire)
    return max(due - min(interval * 0.1, EARLY_HEALTHY), asked)


def claimable(row: ClaimRow | None, instance: str, now: float) -> bool:
    """Whether `instance` could claim a source whose claim row (as last read) is `row`:
    it is due, and no other live instance holds it; a row not read yet, or this
    instance's own, is worth the try."""
    if row is None or row.owner == instance:
        return True
    held = row.owner is not None and row.alive
    return row.next_due <= now and not held


def late(
    now: float,
    allowed: Iterable[tuple[str, float]],
    last_started: Mapping[str, float],
    since: float,
) -> list[str]:
    """The sources whose job has not fired within what is `allowed` each (seconds), by
    when each last did (or `since`, the start, for one that never has)."""
    out = []
    for name, seconds in allowed:
        last = last_started.get(name, since)
        if now > last + seconds:
            out.append(f"{name}: last poll started {now - last:.0f}s ago")
    return out
