"""Structured items and HTML entries made into one list of entries.

The HTML is what a reader sees, so where it holds an entry it decides the entry's text
(the richer body: lists, embeds and paragraphs that JSON-LD drops, or bodies it cuts),
headline and visible time; the structured item fills what the HTML lacks. Each field of
an item is trusted on its own, by what that item says, never by what the others say: a
rule over all items would flip as the live blog grows, and alert every entry.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from watcher.model import Entry
from watcher.sources.liveblog.structured import Item

PROBE = 40  # characters of an item's body that identify it in the page's text


@dataclass(frozen=True)
class Merged:
    entries: tuple[Entry, ...]
    warnings: tuple[str, ...]


def merge(
    items: Sequence[Item],
    html: Sequence[Entry],
    page_headlines: set[str],
    pairs: dict[int, int] | None = None,
) -> Merged:
    """Entries from items and the HTML entries they match (`pairs`, item index -> HTML
    index, where known; else by id, else by the start of the text).

    The HTML's entries are the page's window. An item the HTML lacks counts only where it
    comes before the first item the HTML has (posted since the HTML was rendered); inside
    the window the HTML is right, and after it JSON-LD often lists hundreds of older
    entries, whose text would flip from rich to poor as they leave the window.
    """
    theirs = [_handles(e.key, e.body, e.title) for e in html]
    mine = [_handles(i.key, i.body, i.headline) for i in items]
    if pairs is None:
        pairs = _match(mine, theirs)
        if _reversed(pairs):  # the items run oldest first, the HTML newest first
            items, mine = list(reversed(items)), list(reversed(mine))
            pairs = _match(mine, theirs)
    if not html:
        entries = [_one(item, None, page_headlines) for item in items]
        return Merged(tuple(entries), tuple(_warnings(items, html, pairs, 0, page_headlines)))
    first = min(pairs, default=0)  # the items newer than every entry the HTML has
    newer = [item for n, item in enumerate(items[:first]) if not _on_page(mine[n], theirs)]
    entries = [_one(item, None, page_headlines) for item in newer]
    by_html = {j: n for n, j in pairs.items()}
    for j, entry in enumerate(html):
        n = by_html.get(j)
        entries.append(entry if n is None else _one(items[n], entry, page_headlines))
    return Merged(tuple(entries), tuple(_warnings(items, html, pairs, first, page_headlines)))


def _warnings(
    items: Sequence[Item],
    html: Sequence[Entry],
    pairs: dict[int, int],
    first: int,
    page_headlines: set[str],
) -> list[str]:
    """What `watcher preview` tells of the merge."""
    out = []
    left = len(items) - len(pairs) - first
    if html and left > 0:
        out.append(f"{left} structured items not on the page itself: left out")
    cut = sum(
        1
        for n, item in enumerate(items)
        if n in pairs and (item.body_cut or _extends(html[pairs[n]].body, item.body))
    )
    if cut:
        out.append(f"{cut} structured bodies cut short: the HTML's text used")
    uncut = sum(1 for n, item in enumerate(items) if item.body_cut and n not in pairs)
    if uncut:
        out.append(f"{uncut} structured bodies cut short, and not found in the HTML")
    if any(i.headline in page_headlines for i in items):
        out.append("structured headlines copied from the page's headline: not used")
    return out


def _one(item: Item, html: Entry | None, page_headlines: set[str]) -> Entry:
    headline = ""
    if not (item.headline in page_headlines or item.headline_cut or _echoes(item)):
        headline = item.headline
    if html is None:
        return Entry(
            title=headline,
            body=item.body,
            key=item.key,
            url=item.url if item.key else None,
            published=item.published,
            updated=item.modified,
        )
    body = html.body if item.body_cut or _richer(html.body, item.body) else item.body
    if not html.title and headline and body.startswith(headline):
        body = body[len(headline) :].lstrip()  # the headline, not marked as one
    return Entry(
        title=html.title or headline,
        body=body,
        key=html.key or item.key,
        url=html.url or (item.url if item.key else None),
        published=html.published or item.published,
        updated=html.updated or item.modified,
    )


def _echoes(item: Item) -> bool:
    """A headline that only repeats the body's first words (with a time before them)."""
    start = norm(item.body)[:PROBE]
    return len(start) >= PROBE // 2 and start in norm(item.headline)


def _richer(html: str, structured: str) -> bool:
    """Whether the HTML's body says at least as much: its lists, embeds and paragraphs."""
    return len(html.split()) >= len(structured.split())


def _extends(html: str, structured: str) -> bool:
    """The HTML's text is the structured one's and more: the structured one was cut."""
    a, b = norm(html), norm(structured).rstrip(".… ")
    return len(a) > len(b) and a.startswith(b)


def _reversed(pairs: dict[int, int]) -> bool:
    """Whether the matched items run against the HTML's order."""
    order = [pairs[n] for n in sorted(pairs)]
    falling = sum(1 for a, b in itertools.pairwise(order) if b < a)
    return falling > (len(order) - 1) / 2


Handles = tuple[str | None, ...]


def _match(item_handles: Sequence[Handles], html_handles: Sequence[Handles]) -> dict[int, int]:
    """item index -> HTML entry index, by the entries' handles (see _handles): the same
    id (`48` is `48_parent`), else the same text or start of it, else the same headline.
    A handle that several entries share (an article number in every id, a stock opening)
    identifies none of them."""
    out: dict[int, int] = {}
    taken: set[int] = set()
    for kind in range(len(_HANDLES)):
        index = _unique(h[kind] for h in html_handles)
        own = _unique(h[kind] for h in item_handles)
        for n, handles in enumerate(item_handles):
            value = handles[kind]
            if n in out or value is None or value not in own:
                continue
            found = index.get(value)
            if found is not None and found not in taken:
                out[n] = found
                taken.add(found)
    return out


def _unique(values: Iterable[str | None]) -> dict[str, int]:
    """value -> position, for the values that occur once."""
    listed = list(values)
    counts = Counter(v for v in listed if v is not None)
    return {v: n for n, v in enumerate(listed) if v is not None and counts[v] == 1}


_HANDLES = ("id", "number in the id", "text", "start of the text", "headline")


def _handles(key: str | None, body: str, title: str) -> Handles:
    """What an entry is known by, surest first (see _HANDLES): link targets aside in its
    text, as JSON-LD has none."""
    digits = max(_DIGITS.findall(key), key=len, default=None) if key else None
    text = norm(_LINK_TARGET.sub("", body))
    return (
        key,
        digits if digits and len(digits) >= 2 else None,
        text or None,
        text[:PROBE] if len(text) >= PROBE // 2 else None,
        norm(title) or None,
    )


def _on_page(mine: Handles, html_handles: Sequence[Handles]) -> bool:
    """Whether the HTML shows the item, though no handle of its told which entry it is
    (two entries that begin alike): then it is not new."""
    return any(
        theirs[k] is not None and theirs[k] == mine[k] for theirs in html_handles for k in (0, 2, 3)
    )


_DIGITS = re.compile(r"\d+")
_LINK_TARGET = re.compile(r" \(https?://[^\s)]*\)")


def norm(text: str) -> str:
    """Text compared loosely: format characters (zero-width spaces) gone, spaces folded."""
    if not text.isascii():
        text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return " ".join(text.split()).casefold()
