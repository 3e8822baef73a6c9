"""Plain typed data that flows through the pipeline.

source -> Snapshot -> (diff against StoredEntry) -> Change -> (rules) -> Event -> outbox
Everything here is immutable and free of I/O so that each stage can be tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    REMOVED = "removed"
    # A source's own state, alerted on the `errors` channel: it went down, it came back,
    # or one poll changed too many entries to alert each (held until confirmed).
    DOWN = "down"
    UP = "up"
    FLOOD = "flood"


class DeliveryStatus(StrEnum):
    """Where a delivery of an event to a channel stands, as the outbox records it."""

    PENDING = "pending"
    DONE = "done"  # sent
    FAILED = "failed"  # for good: past its max_age, or refused
    DROPPED = "dropped"  # not sent, by the channel's choice (quiet hours, a duplicate)


class PollOutcome(StrEnum):
    """How a poll of a source ended (the `outcome` label of watcher_polls_total)."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"  # not modified, or the same bytes: nothing parsed
    HELD = "held"  # suspect, held until the next poll confirms it
    FAILED = "failed"


# One word-diff operation, as diff-match-patch gives it: -1 deleted, 0 kept, 1 inserted.
DiffOp = tuple[int, str]


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a live blog as a source saw it.

    `key` is the identity the source gives (a feed guid, a page's block id); plain-text
    entries have none and are matched to their earlier versions by content instead.
    """

    title: str
    body: str
    key: str | None = None
    url: str | None = None
    published: str | None = None
    updated: str | None = None
    # A hash of the item as the document wrote it (feeds), stored with the entry. An
    # entry `kept` is an item whose digest is the stored one: the parser did not reduce
    # it to text again, and the pipeline fills it in from the store (diff.fill_kept).
    digest: str | None = None
    kept: bool = False

    @property
    def document(self) -> str:
        """The text that is diffed and matched: headline, blank line, body."""
        return document(self.title, self.body)


def document(title: str, body: str) -> str:
    if not title:
        return body
    if not body:
        return title
    return f"{title}\n\n{body}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every entry a source shows at one poll, newest first.

    `partial` says the source shows only a window of the live blog (a feed's latest N
    items, a paginated page): entries that fall off its end are not removals.
    """

    entries: tuple[Entry, ...]
    title: str = ""
    partial: bool = False


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """The current version of an entry, as the store holds it."""

    id: int
    key: str
    title: str
    body: str
    position: int
    url: str | None = None
    revision: int = 1
    digest: str | None = None

    @property
    def document(self) -> str:
        return document(self.title, self.body)


@dataclass(frozen=True, slots=True)
class Change:
    """What happened to one entry between the stored state and a snapshot."""

    kind: Kind
    key: str
    entry: Entry
    old: StoredEntry | None = None
    diff: tuple[DiffOp, ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    """A span of text that a rule matched.

    Offsets index the entry's document; `old` marks a span in the previous version
    (words an update deleted) rather than in the current one.
    """

    rule: str
    start: int
    end: int
    text: str
    old: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    """A change with the rules that fired on it and where it should be delivered."""

    change: Change
    tags: tuple[str, ...] = ()
    matches: tuple[Match, ...] = ()
    channels: tuple[str, ...] = field(default=())
    priority: bool = False  # a rule with `priority: high` fired: sent at once


@dataclass(frozen=True, slots=True)
class Alert:
    """An event as channels render it, built from a fresh Event or from the store."""

    source: str
    kind: Kind
    key: str
    title: str
    body: str
    url: str | None
    tags: tuple[str, ...]
    matches: tuple[Match, ...]
    diff: tuple[tuple[int, str], ...]
    created_at: float
    event_id: int | None = None
    blog: str = ""  # the live blog's title, as the source gives it
    published: str | None = None  # the entry's time, as the source wrote it

    @property
    def document(self) -> str:
        return document(self.title, self.body)

    @classmethod
    def of(
        cls, event: Event, source: str, created_at: float, event_id: int | None, blog: str = ""
    ) -> Alert:
        change = event.change
        return cls(
            source=source,
            kind=change.kind,
            key=change.key,
            title=change.entry.title,
            body=change.entry.body,
            url=change.entry.url,
            tags=event.tags,
            matches=event.matches,
            diff=change.diff,
            created_at=created_at,
            event_id=event_id,
            blog=blog,
            published=change.entry.published or change.entry.updated,
        )


@dataclass(frozen=True, slots=True)
class Target:
    """One live blog to poll: a file, a feed, a page."""

    name: str
    source: str
    location: str


@dataclass(frozen=True, slots=True)
class Slot:
    """A snapshot entry with its key and the stored version it continues, if any."""

    key: str
    entry: Entry
    stored: StoredEntry | None

    @property
    def revised(self) -> bool:
        """The text differs from the stored text in any way, significant or not."""
        return self.stored is not None and (
            self.stored.title != self.entry.title or self.stored.body != self.entry.body
        )


@dataclass(frozen=True, slots=True)
class Comparison:
    changes: tuple[Change, ...]  # oldest entry first, the order editors wrote them in
    slots: tuple[Slot, ...]  # every snapshot entry, newest first
    removed: tuple[StoredEntry, ...]
