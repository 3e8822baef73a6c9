"""The scheduling policy (schedule.py), as tables: no daemon, no clock."""

from __future__ import annotations

import pytest

from watcher.schedule import backoff, late, next_due


@pytest.mark.parametrize(
    ("interval", "failures", "cap", "expected"),
    [
        (60, 1, 3600, 60),  # the first failure waits an interval
        (60, 2, 3600, 120),
        (60, 4, 3600, 480),
        (60, 7, 3600, 3600),  # capped
        (60, 500, 3600, 3600),  # however many failures
        (7200, 3, 3600, 7200),  # never sooner than the interval
    ],
)
def test_backoff_doubles_up_to_its_cap(
    interval: float, failures: int, cap: float, expected: float
) -> None:
    assert backoff(interval, failures, cap) == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 1060 - 0.5),  # an interval on, a little early for the job that fires then
        ({"next_fire": 1050.0}, 1050 - 0.5),  # this run started late: the next is sooner
        ({"retry_after": 300.0}, 1300),  # a Retry-After longer than the interval
        ({"retry_after": 10**9}, 1000 + 3600),  # ... capped at max_backoff
        ({"failures": 1}, 1060 - 1.0),
        ({"failures": 3}, 1240 - 1.0),  # backing off
        ({"failures": 3, "retry_after": 600.0}, 1600),
    ],
)
def test_next_due(kwargs: dict[str, float], expected: float) -> None:
    args = {"failures": 0, "cap": 3600.0, **kwargs}
    assert next_due(1000.0, 60.0, **args) == pytest.approx(expected)  # type: ignore[arg-type]


def test_late_sources_are_named_with_how_late() -> None:
    allowed = [("a", 125.0), ("b", 125.0), ("c", 125.0)]
    assert late(1000.0, allowed, {"a": 900.0, "b": 800.0}, since=850.0) == [
        "b: last poll started 200s ago",
        "c: last poll started 150s ago",
    ]
