"""Looking back: `watcher status`, `watcher history` and `watcher diff`.

Read-only views of the store, for a person at a terminal. What the store holds came from
feeds and servers (titles, keys, HTTP reason phrases, what a channel answered): it is
printed without the control characters that would act on the terminal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TextIO

from watcher.config import Config
from watcher.diff import word_diff
from watcher.model import DeliveryStatus, document
from watcher.notify.escape import Format
from watcher.notify.render import render_diff
from watcher.sources.base import SourceConfig
from watcher.store import PAUSED, ClaimRow, SourceState, Store
from watcher.text import printable


class NotFound(Exception):
    """What was asked for is not in the store."""


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


def _line(text: str) -> str:
    """`text` on one line, printable: a newline in a title or an error could draw a row
    of its own."""
    return " ".join(printable(text).split())


def _table(rows: list[list[str]], out: TextIO) -> None:
    rows = [[_line(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )


@dataclass(frozen=True, slots=True)
class SourceView:
    """One target as `status` and the desk's Sources page show it."""

    name: str  # the target's
    source: str  # the configured source's
    state: str  # ok, failing, held, paused, polling now, never polled, not configured
    last_poll_at: float | None
    last_change_at: float | None
    next_poll: str  # "in 29s", "due", "polling now", with backoff said
    by: str  # the instance polling it now, else the one that last did
    error: str | None
    failing_since: float | None
    failures: int
    title: str = ""  # the live blog's


def _next_poll(
    config: Config,
    source: SourceConfig | None,
    state: SourceState,
    claim: ClaimRow | None,
    now: float,
) -> str:
    """When the source is polled next: now, or the claim's due time, which is the
    scheduler's own (backoff and Retry-After included)."""
    if source is None:
        return "not configured"
    if claim is not None and claim.owner and claim.alive:
        return "polling now"
    if claim is not None and claim.next_due >= PAUSED:
        return "paused"
    if claim is None and state.last_poll_at is None:
        return "at start"
    if claim is not None:
        due = claim.next_due
    else:
        due = (state.last_poll_at or now) + config.interval_of(source)
    said = "due" if due <= now else f"in {due - now:.0f}s"
    return said + (f" (failing x{state.failures}, backing off)" if state.failures else "")


def _holder(claim: ClaimRow | None) -> str:
    """Who is polling the source now, else who polled it last (several instances)."""
    if claim is None:
        return "-"
    if claim.owner and claim.alive:
        return f"{claim.owner} (now)"
    return claim.last_owner or "-"


def source_views(config: Config, store: Store, now: float) -> list[SourceView]:
    """Every stored target, then every configured source not polled yet."""
    held = {c.name: c for c in store.claim_rows()}
    configured = {s.name: s for s in config.sources}
    views = []
    states = store.source_states()
    for state in states:
        claim = held.get(state.source)
        next_poll = _next_poll(config, configured.get(state.source), state, claim, now)
        if next_poll in ("polling now", "paused", "not configured"):
            said = next_poll
        elif state.failures:
            said = "failing"
        else:
            said = "held" if state.held else "ok"
        views.append(
            SourceView(
                state.name,
                state.source,
                said,
                state.last_poll_at,
                state.last_change_at,
                next_poll,
                _holder(claim),
                state.last_error if state.failures else None,
                state.last_error_at if state.failures else None,
                state.failures,
                state.title or "",
            )
        )
    for name in sorted(set(configured) - {s.source for s in states}):
        claim = held.get(name)
        if claim is not None and claim.owner is not None and claim.alive:
            next_poll = "polling now"
        else:
            paused = claim is not None and claim.next_due >= PAUSED
            next_poll = "paused" if paused else "at start"
        said = next_poll if next_poll != "at start" else "never polled"
        views.append(SourceView(name, name, said, None, None, next_poll, "-", None, None, 0))
    return views


def status(config: Config, store: Store, out: TextIO) -> int:
    rows = [["SOURCE", "LAST POLL", "LAST CHANGE", "NEXT POLL", "BY", "LAST ERROR"]]
    for view in source_views(config, store, time.time()):
        error = f"{_when(view.failing_since)} {view.error}" if view.error else "-"
        last_poll = _when(view.last_poll_at) if view.last_poll_at else "never"
        rows.append(
            [view.name, last_poll, _when(view.last_change_at), view.next_poll, view.by, error]
        )
    _table(rows, out)
    channels = [c for c in store.claim_rows() if c.name.startswith("channel:")]
    if channels:
        out.write("\nchannels:\n")
        for claim in channels:
            name = claim.name.removeprefix("channel:")
            out.write(f"  {_line(f'{name}: sent by {_holder(claim)}')}\n")
    counts = store.delivery_counts()
    out.write(
        "\ndeliveries: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in DeliveryStatus) + "\n"
    )
    for channel, delivery_status, reason in store.failed_deliveries():
        out.write(f"  {_line(f'{channel}: {delivery_status}: {reason}')}\n")
    return 0


def _source(store: Store, name: str) -> str:
    found = store.resolve(name)
    if found is None:
        raise NotFound(f"no stored source '{name}'")
    return found


def history(store: Store, name: str, key: str | None, out: TextIO) -> int:
    source = _source(store, name)
    if key is None:
        rows = [["ENTRY", "REVS", "FIRST SEEN", "LAST CHANGE", "TITLE"]]
        for e in store.entries_of(source):
            title = e.title + (" [removed]" if e.removed_at else "")
            rows.append([e.key, str(e.revision), _when(e.first_seen), _when(e.updated_at), title])
        _table(rows, out)
        return 0
    revisions = store.revisions_of(source, key)
    if not revisions:
        raise NotFound(f"no entry '{key}' in {source}")
    rows = [["REV", "AT", "WORDS", "TITLE"]]
    for r in revisions:
        rows.append([str(r.revision), _when(r.created_at), str(len(r.body.split())), r.title])
    _table(rows, out)
    return 0


def diff(
    store: Store, name: str, key: str, first: int | None, second: int | None, out: TextIO
) -> int:
    source = _source(store, name)
    revisions = {r.revision: r for r in store.revisions_of(source, key)}
    if not revisions:
        raise NotFound(f"no entry '{key}' in {source}")
    newest = max(revisions)
    second = second if second is not None else newest
    first = first if first is not None else max(second - 1, 1)
    for number in (first, second):
        if number not in revisions:
            raise NotFound(f"no revision {number} of '{key}' (it has 1 to {newest})")
    old, new = revisions[first], revisions[second]
    ops = word_diff(document(old.title, old.body), document(new.title, new.body))
    fmt: Format = "ansi" if out.isatty() else "text"
    out.write(
        f"{_line(source)}  {_line(key)}: revision {first} ({_when(old.created_at)})"
        f" -> {second} ({_when(new.created_at)})\n\n"
    )
    out.write(render_diff(ops, fmt=fmt, cut=False) + "\n")
    return 0
