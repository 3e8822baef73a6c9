"""Helpers for the page tests: read a page, and the events between two versions of one."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from watcher.diff import compare
from watcher.model import Change, Snapshot, StoredEntry
from watcher.sources.liveblog import PageSelectors, parse_page
from watcher.sources.page import decode_html

FIXTURES = Path(__file__).parent / "fixtures" / "pages"
URL = "https://news.example.org/live"
# What must never reach an entry's text: HTML entities, CMS template codes, markup.
LEFTOVERS = re.compile(r"&(?:#\d+|#x[0-9a-f]+|[a-z]+);|\[\[[\w-]+:|<[a-z/!]", re.I)


def read(path: Path, selectors: PageSelectors | None = None) -> Snapshot:
    return parse_page(decode_html(path.read_bytes(), None), URL, selectors or PageSelectors())


def changes(old: Snapshot, new: Snapshot) -> list[Change]:
    """The changes a poll of `new` makes against a store that holds `old`."""
    first = compare([], old)
    stored = [
        StoredEntry(n, s.key, s.entry.title, s.entry.body, n, s.entry.url)
        for n, s in enumerate(first.slots)
    ]
    return list(compare(stored, new).changes)


def kinds(found: list[Change]) -> Counter[str]:
    return Counter(c.kind.value for c in found)


def leftovers(snapshot: Snapshot) -> list[str]:
    """Entity, CMS code or markup left in any entry's text."""
    return [
        m.group(0)
        for e in snapshot.entries
        for text in (e.title, e.body)
        for m in LEFTOVERS.finditer(text)
    ]
