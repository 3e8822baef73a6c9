"""What a channel sends now: the pure policy of the outbox.

Given a channel's pending deliveries, the time, and what it sent lately, `plan` decides
which go out now and how: one message each, one message for the same text seen on several
sources, or a digest. High-priority alerts go at once; others wait for a digest window or
the end of quiet hours, and beyond the rate limit they are gathered into a digest. Nothing
is dropped unless the channel drops alerts in its quiet hours, and then it is recorded.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from watcher.model import Alert, Kind
from watcher.text import WORD, fold

MINUTE = 60.0


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    zone: ZoneInfo
    drop: bool = False

    def active(self, now: float) -> bool:
        local = datetime.fromtimestamp(now, self.zone).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, now: float) -> float:
        """When the quiet hours around `now` end (seconds since the epoch)."""
        local = datetime.fromtimestamp(now, self.zone)
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end.timestamp()


@dataclass(frozen=True)
class Policy:
    digest: float | None = None  # seconds a digest window lasts
    rate_limit: int | None = None  # messages a minute
    quiet: QuietHours | None = None
    duplicate_window: float = 0.0  # 0: no duplicate suppression
    similarity: float = 0.8


@dataclass(frozen=True)
class Pending:
    """A pending delivery, with what planning needs."""

    id: int
    alert: Alert
    priority: bool = False
    due: float = 0.0  # not before: its retry delay after a failed send
    fingerprint: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Recent:
    """An alert the channel sent lately, for suppressing copies of it."""

    at: float
    source: str
    fingerprint: frozenset[int]


@dataclass(frozen=True)
class Message:
    """What is sent as one message: several deliveries when a group or a digest."""

    groups: tuple[tuple[Pending, ...], ...]  # each group: one text, seen on its sources
    digest: bool = False

    @property
    def deliveries(self) -> list[Pending]:
        return [p for group in self.groups for p in group]


@dataclass
class Plan:
    send: list[Message] = field(default_factory=list)
    drop: list[tuple[Pending, str]] = field(default_factory=list)
    wake_at: float | None = None  # when the channel should be looked at again

    def wake(self, when: float) -> None:
        self.wake_at = when if self.wake_at is None else min(self.wake_at, when)


def fingerprint(alert: Alert) -> frozenset[int]:
    """Three-word shingles of what the alert says: its body (headlines differ from site to
    site more than the copy does), or its new words for an update."""
    if alert.kind is Kind.UPDATED and alert.diff:
        text = " ".join(t for op, t in alert.diff if op > 0)
    else:
        text = alert.body
    words = [fold(w) for w in WORD.findall(text)]
    if len(words) < 3:
        return frozenset({zlib.crc32(" ".join(words).encode())}) if words else frozenset()
    return frozenset(zlib.crc32(" ".join(words[i : i + 3]).encode()) for i in range(len(words) - 2))


def similar(a: frozenset[int], b: frozenset[int], threshold: float) -> bool:
    if not a or not b:
        return False
    return len(a & b) / len(a | b) >= threshold


def plan(
    pending: Sequence[Pending],
    policy: Policy,
    now: float,
    recent_sends: Iterable[float] = (),
    recent: Sequence[Recent] = (),
) -> Plan:
    """What to send now, what to drop, and when to look again.

    `recent_sends` are the times of the messages sent lately (for the rate limit),
    `recent` the alerts sent within the duplicate window (for suppressing copies).
    """
    out = Plan()
    ready = []
    for p in pending:
        if p.due > now:
            out.wake(p.due)
            continue
        copy = _copy_of(p, recent, policy)
        if copy is None:
            ready.append(p)
        else:
            out.drop.append((p, f"duplicate of the alert already sent from {copy.source}"))
    groups = _group(ready, policy)
    urgent = [g for g in groups if any(p.priority for p in g)]
    normal = [g for g in groups if not any(p.priority for p in g)]
    out.send.extend(Message((g,)) for g in urgent)  # past digests, quiet hours and limits

    if policy.quiet is not None and normal and policy.quiet.active(now):
        if policy.quiet.drop:
            out.drop.extend((p, "quiet hours") for g in normal for p in g)
        else:
            out.wake(policy.quiet.ends_after(now))
        return out

    if policy.digest is not None and normal:
        oldest = min(p.alert.created_at for g in normal for p in g)
        if now < oldest + policy.digest:
            out.wake(oldest + policy.digest)
            return out
        messages = [Message(tuple(normal), digest=len(normal) > 1)]
    else:
        messages = [Message((g,)) for g in normal]

    if policy.rate_limit is not None and messages:
        window = sorted(t for t in recent_sends if t > now - MINUTE)
        room = policy.rate_limit - len(window) - len(urgent)
        if room <= 0:
            out.wake(window[0] + MINUTE if window else now + MINUTE)
            return out
        if len(messages) > room:
            # The excess goes into one digest, in the last message the limit allows.
            overflow = [g for m in messages[room - 1 :] for g in m.groups]
            messages = [*messages[: room - 1], Message(tuple(overflow), digest=True)]
    out.send.extend(messages)
    return out


def _copy_of(p: Pending, recent: Sequence[Recent], policy: Policy) -> Recent | None:
    if policy.duplicate_window <= 0:
        return None
    for sent in recent:
        if (
            sent.source != p.alert.source
            and abs(p.alert.created_at - sent.at) <= policy.duplicate_window
            and similar(p.fingerprint, sent.fingerprint, policy.similarity)
        ):
            return sent
    return None


def _group(ready: Sequence[Pending], policy: Policy) -> list[tuple[Pending, ...]]:
    """Deliveries of near-identical text from different sources, within the window,
    grouped: one alert lists them all."""
    if policy.duplicate_window <= 0:
        return [(p,) for p in ready]
    groups: list[list[Pending]] = []
    for p in sorted(ready, key=lambda p: p.alert.created_at):
        for group in groups:
            first = group[0]
            if (
                p.alert.source not in {q.alert.source for q in group}
                and p.alert.created_at - first.alert.created_at <= policy.duplicate_window
                and similar(p.fingerprint, first.fingerprint, policy.similarity)
            ):
                group.append(p)
                break
        else:
            groups.append([p])
    return [tuple(g) for g in groups]
