"""Bounds on what one document may put into watcher. A pure function over a snapshot.

A feed or page is written by someone else: it decides how many entries it has, how long
they are, what their ids look like. Before a snapshot goes further it is cut to sizes the
store, the diff and the channels can carry, and its ids are made fit to be keys: no
control characters or NULs (PostgreSQL refuses NUL in text), none longer than the key
column, and none twice (a feed that repeats a guid would otherwise fail every poll on the
store's unique constraint).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field

from watcher.model import Entry, Snapshot
from watcher.text import without_controls
from watcher.units import Duration

MAX_KEY = 200  # characters of an id kept as it is; longer ones end in a hash of the rest
MAX_URL = 2048
MAX_TITLE = 1000
MAX_DATE = 64
CUT = " […]"  # ends a text that was cut


class Limits(BaseModel):
    """The `limits:` section of the config: what one document, and one poll, may cost."""

    model_config = ConfigDict(extra="forbid")

    parse_timeout: Duration = Field(default=10.0, gt=0)  # of parsing, per document
    parse_memory: int = Field(
        default=512, ge=64, description="megabytes a parser may use, e.g. 512"
    )
    # Per document; the rest is beyond the window.
    entries: int = Field(default=500, ge=1, description="entries a document, e.g. 500")
    entry_chars: int = Field(
        default=100_000, ge=1000, description="characters of an entry stored, e.g. 100000"
    )
    alert_chars: int = Field(
        default=4000, ge=200, description="characters of an entry in an alert, e.g. 4000"
    )
    # Per poll; beyond: held, then one summary.
    events: int = Field(default=200, ge=1, description="events a poll, e.g. 200")


def cut(text: str, limit: int) -> str:
    """`text` cut at a word to at most `limit` characters, marked as cut."""
    if len(text) <= limit:
        return text
    head = text[: limit - len(CUT)]
    return (head.rsplit(" ", 1)[0] if " " in head[-40:] else head) + CUT


def key(raw: str) -> str:
    """An id fit to be a stored key: clean, and at most MAX_KEY + 17 characters."""
    value = without_controls(raw).strip()
    if len(value) <= MAX_KEY:
        return value
    return f"{value[:MAX_KEY]}#{hashlib.sha256(value.encode()).hexdigest()[:16]}"


def bound(snapshot: Snapshot, limits: Limits) -> Snapshot:
    """The snapshot within `limits`, its keys unique.

    Entries past `limits.entries` are dropped as if beyond the window the source shows.
    Of entries sharing an id, a copy of an earlier one is dropped and a different one
    keeps its id with `~2`, `~3`… in document order, so the same document always gives
    the same keys.
    """
    kept = snapshot.entries[: limits.entries]
    out: list[Entry] = []
    index: dict[str, int] = {}
    for raw in kept:
        entry = _entry(raw, limits)
        k = entry.key
        if k is not None:
            if k in index:
                first = out[index[k]]
                if (first.title, first.body) == (entry.title, entry.body):
                    continue
                n = 2
                while f"{k}~{n}" in index:
                    n += 1
                k = f"{k}~{n}"
                entry = replace(entry, key=k)
            index[k] = len(out)
        out.append(entry)
    return Snapshot(
        entries=tuple(out),
        title=cut(without_controls(snapshot.title), MAX_TITLE),
        partial=snapshot.partial or len(snapshot.entries) > len(kept),
    )


def _entry(entry: Entry, limits: Limits) -> Entry:
    url = without_controls(entry.url).strip() if entry.url else None
    return Entry(
        title=cut(without_controls(entry.title), MAX_TITLE),
        body=cut(without_controls(entry.body), limits.entry_chars),
        key=(key(entry.key) or None) if entry.key is not None else None,
        url=url if url and len(url) <= MAX_URL else None,
        published=without_controls(entry.published)[:MAX_DATE] if entry.published else None,
        updated=without_controls(entry.updated)[:MAX_DATE] if entry.updated else None,
        digest=entry.digest,
        kept=entry.kept,
    )
