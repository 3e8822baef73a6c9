"""Alerts as people read them: a title and a body, in plain text, markdown or a terminal.

Pure functions. Matches are highlighted (bold in markdown and on a terminal, unmarked in
plain text); an update shows its word diff, `[-deleted-]` and `{+inserted+}` in plain text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from watcher.model import DiffOp, Kind, Match
from watcher.store import Alert
from watcher.text import first_sentence

Format = Literal["text", "markdown", "ansi"]
CONTEXT = 240  # characters of unchanged text kept on each side of a change


@dataclass(frozen=True)
class _Style:
    match: tuple[str, str]
    inserted: tuple[str, str]
    deleted: tuple[str, str]


STYLES: dict[Format, _Style] = {
    "text": _Style(("", ""), ("{+", "+}"), ("[-", "-]")),
    "markdown": _Style(("**", "**"), ("_", "_"), ("~~", "~~")),
    "ansi": _Style(
        ("\x1b[1m", "\x1b[22m"), ("\x1b[32m", "\x1b[39m"), ("\x1b[31;9m", "\x1b[39;29m")
    ),
}
LABELS = {Kind.NEW: "New", Kind.UPDATED: "Updated", Kind.REMOVED: "Removed"}


def headline(alert: Alert) -> str:
    return alert.title or first_sentence(alert.body) or alert.key


def render(alert: Alert, fmt: Format) -> tuple[str, str]:
    """(title, body) of the alert."""
    if alert.kind is Kind.DOWN:
        return f"Source down: {alert.source}", (
            f"{alert.source} failed: {alert.body}\n\nwatcher keeps polling it, less often while "
            "it fails, and says so here when it is back."
        )
    if alert.kind is Kind.UP:
        return f"Source back: {alert.source}", f"{alert.source} is polled successfully again."
    title = f"{LABELS[alert.kind]}: {headline(alert)}"
    about = f"{alert.source}" + (f" · {', '.join(alert.tags)}" if alert.tags else "")
    lines = [about]
    if alert.url:
        lines.append(alert.url)
    lines.append("")
    if alert.kind is Kind.UPDATED and alert.diff:
        lines.append(render_diff(alert.diff, alert.matches, fmt))
    else:
        # The headline is the title already; the body starts after it in the document.
        spans = sorted((m.start, m.end) for m in alert.matches if not m.old)
        offset = len(alert.document) - len(alert.body)
        lines.append(_mark(alert.body, offset, spans, STYLES[fmt].match))
    return title, "\n".join(lines)


def render_diff(diff: Sequence[DiffOp], matches: Iterable[Match] = (), fmt: Format = "text") -> str:
    """The new text with its changes marked, long unchanged stretches cut to their ends."""
    style = STYLES[fmt]
    new_spans = sorted((m.start, m.end) for m in matches if not m.old)
    old_spans = sorted((m.start, m.end) for m in matches if m.old)
    out: list[str] = []
    old_pos = new_pos = 0
    for i, (op, text) in enumerate(diff):
        if op == 0:
            out.append(_elide(text, new_pos, new_spans, style, i == 0, i == len(diff) - 1))
            old_pos += len(text)
            new_pos += len(text)
        elif op > 0:
            out.append(_wrap(_mark(text, new_pos, new_spans, style.match), style.inserted))
            new_pos += len(text)
        else:
            out.append(_wrap(_mark(text, old_pos, old_spans, style.match), style.deleted))
            old_pos += len(text)
    return "".join(out)


def _elide(
    text: str, offset: int, spans: list[tuple[int, int]], style: _Style, first: bool, last: bool
) -> str:
    head = "" if first else text[:CONTEXT]
    tail = "" if last else text[-CONTEXT:]
    if len(text) <= len(head) + len(tail) + 20:
        return _mark(text, offset, spans, style.match)
    if head:
        head = head.rsplit(" ", 1)[0]
    if tail:
        tail = tail.split(" ", 1)[-1]
    tail_at = offset + len(text) - len(tail)
    return (
        _mark(head, offset, spans, style.match)
        + ("\n…\n" if "\n" in text else " … ")
        + _mark(tail, tail_at, spans, style.match)
    )


def _wrap(text: str, marks: tuple[str, str]) -> str:
    # Keep surrounding whitespace outside the markers so that they hug the words.
    stripped = text.strip()
    if not stripped:
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return f"{lead}{marks[0]}{stripped}{marks[1]}{trail}"


def _mark(text: str, offset: int, spans: Iterable[tuple[int, int]], marks: tuple[str, str]) -> str:
    """`text` (found at `offset` in its document) with the parts inside `spans` marked."""
    if not marks[0]:
        return text
    out, pos = [], 0
    end_of_text = offset + len(text)
    for span_start, span_end in spans:
        start, end = max(span_start, offset) - offset, min(span_end, end_of_text) - offset
        if start >= end or start < pos:
            continue
        out.append(f"{text[pos:start]}{marks[0]}{text[start:end]}{marks[1]}")
        pos = end
    out.append(text[pos:])
    return "".join(out)
