"""Compare a snapshot with the stored entries: which entries are new, updated or removed.

Pure functions over model types. Entries with a source-given key are matched by key.
Entries without one (plain text) are matched by content: first exactly, then by how alike
their headlines and bodies are, so that a fixed typo or an added paragraph is one update of
the same entry rather than a removal plus a new entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from diff_match_patch import diff_match_patch

from watcher.model import Change, Comparison, DiffOp, Entry, Kind, Slot, Snapshot, StoredEntry
from watcher.text import DIFF_TOKEN, first_sentence, normalize, slug, word_set

DIFF_TIMEOUT = 1.0  # seconds diff-match-patch may spend before settling for a coarser diff
MATCH_THRESHOLD = 0.5  # how alike two keyless entries must be to count as one entry
TITLE_WEIGHT = 0.35  # the body says more about identity than the headline does
DEFAULT_IGNORE = ("whitespace", "punctuation")


def word_diff(old: str, new: str, timeout: float = DIFF_TIMEOUT) -> tuple[DiffOp, ...]:
    """A word-level diff: each word, run of spaces or punctuation mark is one unit."""
    table: list[str] = []
    codes: dict[str, str] = {}

    def encode(text: str) -> str:
        out = []
        for token in DIFF_TOKEN.findall(text):
            code = codes.get(token)
            if code is None:
                index = len(table)
                # Skip the surrogate block so that every code is a valid character.
                code = chr(index if index < 0xD800 else index + 0x800)
                codes[token] = code
                table.append(token)
            out.append(code)
        return "".join(out)

    def decode(chars: str) -> str:
        return "".join(table[o if o < 0xD800 else o - 0x800] for o in map(ord, chars))

    dmp = diff_match_patch()
    dmp.Diff_Timeout = timeout
    diffs = dmp.diff_main(encode(old), encode(new), False)
    dmp.diff_cleanupSemantic(diffs)
    return tuple((op, decode(chars)) for op, chars in diffs)


def fill_kept(snapshot: Snapshot, stored: Sequence[StoredEntry]) -> Snapshot | None:
    """The snapshot with each kept entry (an item as it was when stored, which the parser
    did not read again) in its stored words; None if one has no stored entry."""
    if not any(entry.kept for entry in snapshot.entries):
        return snapshot
    by_key = {s.key: s for s in stored}
    filled = []
    for entry in snapshot.entries:
        old = by_key.get(entry.key or "") if entry.kept else None
        if entry.kept and old is None:
            return None
        filled.append(
            replace(entry, title=old.title, body=old.body, url=old.url, kept=False)
            if old is not None
            else entry
        )
    return replace(snapshot, entries=tuple(filled))


def compare(
    stored: Sequence[StoredEntry],
    snapshot: Snapshot,
    ignore: Iterable[str] = DEFAULT_IGNORE,
    diff_timeout: float = DIFF_TIMEOUT,
) -> Comparison:
    ignore = tuple(ignore)
    entries = snapshot.entries
    match: dict[int, StoredEntry] = {}  # snapshot index -> stored entry it continues
    by_key = {s.key: s for s in stored}
    for i, entry in enumerate(entries):
        if entry.key is not None and entry.key in by_key:
            match[i] = by_key[entry.key]
    _match_by_content(stored, entries, match, ignore)

    slots: list[Slot] = []
    changes: list[Change] = []
    # Keys made for keyless entries must not be any entry's own key, stored or shown.
    taken = {s.key for s in stored} | {e.key for e in entries if e.key is not None}
    for i, entry in enumerate(entries):
        old = match.get(i)
        if old is None:
            key = entry.key or _unique(slug(entry.title or first_sentence(entry.body)), taken)
            taken.add(key)
            slots.append(Slot(key, entry, None))
            changes.append(Change(Kind.NEW, key, entry))
            continue
        slots.append(Slot(old.key, entry, old))
        if (old.title, old.body) == (entry.title, entry.body):  # most of a changed feed
            continue
        if normalize(old.document, ignore) != normalize(entry.document, ignore):
            diff = word_diff(old.document, entry.document, diff_timeout)
            changes.append(Change(Kind.UPDATED, old.key, entry, old, diff))

    matched_ids = {s.id for s in match.values()}
    missing = [s for s in stored if s.id not in matched_ids]
    if snapshot.partial:
        # Only a window is visible: an entry older than every one still shown fell off the
        # end of it and was not removed.
        oldest_visible = max((s.position for s in match.values()), default=-1)
        missing = [s for s in missing if s.position < oldest_visible]
    changes.reverse()
    for gone in sorted(missing, key=lambda s: -s.position):
        entry = Entry(title=gone.title, body=gone.body, key=gone.key, url=gone.url)
        changes.append(Change(Kind.REMOVED, gone.key, entry, gone))
    return Comparison(tuple(changes), tuple(slots), tuple(missing))


def _match_by_content(
    stored: Sequence[StoredEntry],
    entries: Sequence[Entry],
    match: dict[int, StoredEntry],
    ignore: tuple[str, ...],
) -> None:
    """Pair unmatched snapshot entries with unmatched stored ones, in place.

    Keyless entries pair exactly, then by similarity. An entry with a key not stored
    pairs only with an identical unmatched one: a source that gives its entries new ids
    on every poll would otherwise have every entry alerted as new each time.
    """
    used = {s.id for s in match.values()}
    free = [s for s in stored if s.id not in used]
    todo = [i for i in range(len(entries)) if i not in match]
    if not free or not todo:
        return

    # Unchanged entries, the common case, pair up exactly.
    by_text: dict[str, list[StoredEntry]] = {}
    for s in free:
        by_text.setdefault(normalize(s.document, ignore), []).append(s)
    rest = []
    for i in todo:
        same = by_text.get(normalize(entries[i].document, ignore))
        if same:
            match[i] = same.pop(0)
        elif entries[i].key is None:
            rest.append(i)
    used = {s.id for s in match.values()}
    free = [s for s in free if s.id not in used]
    if not free or not rest:
        return

    # Edited entries pair up by similarity, the most alike first.
    old_words = [(word_set(s.title), word_set(s.body)) for s in free]
    pairs = []
    for i in rest:
        title, body = word_set(entries[i].title), word_set(entries[i].body)
        for j, (old_title, old_body) in enumerate(old_words):
            score = _similarity(old_title, old_body, title, body)
            if score >= MATCH_THRESHOLD:
                pairs.append((-score, abs(free[j].position - i), i, j))
    pairs.sort()
    taken_new: set[int] = set()
    taken_old: set[int] = set()
    for _, _, i, j in pairs:
        if i not in taken_new and j not in taken_old:
            match[i] = free[j]
            taken_new.add(i)
            taken_old.add(j)


def _similarity(
    old_title: frozenset[str], old_body: frozenset[str], title: frozenset[str], body: frozenset[str]
) -> float:
    title_score = _dice(old_title, title)
    if not old_body and not body:
        return title_score
    return TITLE_WEIGHT * title_score + (1 - TITLE_WEIGHT) * _dice(old_body, body)


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


def _unique(key: str, taken: set[str]) -> str:
    candidate, n = key, 1
    while candidate in taken:
        n += 1
        candidate = f"{key}-{n}"
    return candidate
