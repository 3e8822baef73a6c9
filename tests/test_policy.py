"""The outbox policy with a controlled clock: digests, rate limits, quiet hours, copies."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from watcher.model import Alert, Kind
from watcher.notify.policy import Pending, Policy, QuietHours, Recent, fingerprint, plan

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp()


def alert(n: int, source: str = "live", text: str | None = None, at: float = T0) -> Alert:
    body = text or f"Entry number {n} says something different about topic {n * 7919}."
    return Alert(source, Kind.NEW, f"k{n}", f"Headline {n}", body, None, (), (), (), at, n)


def pending(n: int, priority: bool = False, **kw: object) -> Pending:
    a = alert(n, **kw)  # type: ignore[arg-type]
    return Pending(n, a, priority=priority, fingerprint=fingerprint(a))


def ids(p: object) -> list[list[int]]:
    return [[d.id for d in m.deliveries] for m in p.send]  # type: ignore[attr-defined]


def test_without_policy_each_alert_is_one_message() -> None:
    p = plan([pending(1), pending(2)], Policy(), T0)
    assert ids(p) == [[1], [2]] and not any(m.digest for m in p.send)


def test_digest_waits_for_its_window_then_sends_one_message() -> None:
    items = [pending(1), pending(2, at=T0 + 60)]
    early = plan(items, Policy(digest=300), T0 + 120)
    assert early.send == [] and early.wake_at == T0 + 300
    due = plan(items, Policy(digest=300), T0 + 300)
    assert ids(due) == [[1, 2]] and due.send[0].digest


def test_high_priority_goes_at_once_past_the_digest() -> None:
    p = plan([pending(1), pending(2, priority=True)], Policy(digest=300), T0 + 10)
    assert ids(p) == [[2]] and p.wake_at == T0 + 300


def test_rate_limit_sends_the_excess_as_one_digest() -> None:
    items = [pending(n) for n in range(1, 8)]
    p = plan(items, Policy(rate_limit=3), T0, recent_sends=[T0 - 30])
    # One message already sent this minute: room for two, the last a digest of the rest.
    assert ids(p) == [[1], [2, 3, 4, 5, 6, 7]] and p.send[1].digest
    assert p.drop == []


def test_rate_limit_full_holds_until_a_slot_frees() -> None:
    p = plan([pending(1)], Policy(rate_limit=2), T0, recent_sends=[T0 - 50, T0 - 10])
    assert p.send == [] and p.wake_at == T0 + 10


def quiet(drop: bool = False) -> QuietHours:
    return QuietHours(time(22, 0), time(7, 0), ZoneInfo("Europe/London"), drop)


def test_quiet_hours_hold_alerts_until_they_end() -> None:
    night = datetime(2026, 11, 25, 23, 30, tzinfo=ZoneInfo("Europe/London")).timestamp()
    p = plan([pending(1, at=night)], Policy(quiet=quiet()), night)
    assert p.send == []
    assert p.wake_at == datetime(2026, 11, 26, 7, 0, tzinfo=ZoneInfo("Europe/London")).timestamp()
    morning = p.wake_at
    assert ids(plan([pending(1, at=night)], Policy(quiet=quiet()), morning)) == [[1]]


def test_quiet_hours_drop_when_the_channel_says_so_and_priority_passes() -> None:
    night = datetime(2026, 7, 1, 3, 0, tzinfo=ZoneInfo("Europe/London")).timestamp()
    p = plan([pending(1), pending(2, priority=True)], Policy(quiet=quiet(drop=True)), night)
    assert ids(p) == [[2]]
    assert [(d.id, reason) for d, reason in p.drop] == [(1, "quiet hours")]


def test_daytime_is_not_quiet() -> None:
    noon = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Europe/London")).timestamp()
    assert ids(plan([pending(1)], Policy(quiet=quiet()), noon)) == [[1]]


WIRE = "Russian and US officials will meet in Riyadh next week, the Saudi foreign ministry said."


def test_same_text_from_several_sources_is_one_alert_listing_them() -> None:
    items = [
        pending(1, source="guardian", text=WIRE),
        pending(2, source="bbc", text=WIRE + " More soon.", at=T0 + 120),
        pending(3, source="guardian", text="Something else entirely happened in Kyiv today."),
    ]
    p = plan(items, Policy(duplicate_window=900), T0 + 200)
    assert ids(p) == [[1, 2], [3]]
    assert [d.alert.source for d in p.send[0].deliveries] == ["guardian", "bbc"]


def test_copy_of_an_alert_already_sent_is_recorded_not_sent() -> None:
    sent = Recent(T0, "guardian", fingerprint(alert(1, text=WIRE)))
    p = plan(
        [pending(2, source="bbc", text=WIRE, at=T0 + 60)],
        Policy(duplicate_window=900),
        T0 + 60,
        recent=[sent],
    )
    assert p.send == []
    assert [(d.id, reason) for d, reason in p.drop] == [
        (2, "duplicate of the alert already sent from guardian")
    ]
    # Outside the window it is news again.
    late = plan(
        [pending(2, source="bbc", text=WIRE, at=T0 + 2000)],
        Policy(duplicate_window=900),
        T0 + 2000,
        recent=[sent],
    )
    assert ids(late) == [[2]]


def test_deliveries_waiting_for_a_retry_wait() -> None:
    waiting = Pending(1, alert(1), due=T0 + 30)
    p = plan([waiting, pending(2)], Policy(), T0)
    assert ids(p) == [[2]] and p.wake_at == T0 + 30
