"""Entries of an HTML live-blog page: pure functions over the page's markup.

Each strategy reads the page its own way, one module each:
- jsonld.py and microdata.py: the `LiveBlogPosting` the page declares (structured data);
- markup.py: entry elements, by the configured CSS selectors or the common markups;
- ticker.py: a flat ticker, a heading per entry and the siblings up to the next.
`extract` runs them and merge.py makes one list: structured data gives ids and dates, the
HTML what a reader sees. A page that shows no sign of being a live blog gives no entries,
rather than its teaser cards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser

from watcher.htmltext import check_depth
from watcher.model import Entry, Snapshot
from watcher.sources.base import SourceError
from watcher.sources.dates import newest_first
from watcher.sources.liveblog import jsonld, markup, microdata, ticker
from watcher.sources.liveblog.keys import normalize_id
from watcher.sources.liveblog.merge import merge
from watcher.sources.liveblog.selectors import DEFAULT_MARKUPS, PageSelectors
from watcher.sources.liveblog.structured import Posting, cut
from watcher.sources.liveblog.textsearch import locate

__all__ = ["Extraction", "PageSelectors", "extract", "normalize_id", "parse_page"]

# Embeds whose entries are drawn by a script in the browser: nothing to read in the HTML.
CLIENT_SIDE_EMBEDS = {
    "tickaroo-liveblog": "Tickaroo",
    "wpcom-liveblog-container": "WordPress.com Liveblog",
    "live-center-embed": "Live Center",
    "scribblelive": "ScribbleLive",
    "24liveblog": "24liveblog",
    "arena-liveblog": "Arena",
}


MAX_WARNINGS = 20


@dataclass(frozen=True)
class Extraction:
    """What watcher makes of a page, and how: `watcher preview` shows all of it."""

    entries: tuple[Entry, ...]
    title: str
    strategy: str
    warnings: tuple[str, ...] = field(default=())


def parse_page(page: str | bytes, url: str, selectors: PageSelectors) -> Snapshot:
    """Entries of a live-blog page, newest first; raises SourceError when there are none,
    MarkupTooDeep (a ValueError) for a page nested too deeply to parse in good time."""
    found = extract(page, url, selectors)
    return Snapshot(entries=found.entries, title=found.title, partial=True)


def extract(page: str | bytes, url: str, selectors: PageSelectors) -> Extraction:
    """Every strategy run over the page and merged; raises SourceError when no entry is
    found, with what was looked for."""
    check_depth(page)
    text = page.decode("utf-8", "replace") if isinstance(page, bytes) else page
    tree = LexborHTMLParser(text)
    warnings: list[str] = []
    postings = jsonld.postings(tree, url, warnings) + microdata.postings(text, url, warnings)
    items = [item for posting in postings for item in posting.items]
    title = _title(tree, postings)
    how: list[str] = [f"{p.syntax} LiveBlogPosting ({len(p.items)} items)" for p in postings]

    html: list[Entry] = []
    pairs: dict[int, int] | None = None
    if not selectors.split:
        found = markup.find(tree, url, selectors, declared=bool(postings))
        if found is not None:
            html = found.entries
            how.append(f"markup {found.markup.entry} ({len(html)} entries)")
        elif items and not selectors.entry:
            located = locate(tree, items)
            headline = selectors.headline or markup.HEADINGS
            html = [markup.entry(n, url, selectors, headline_at=headline) for n in located.values()]
            pairs = {n: j for j, n in enumerate(located)}
            if html:
                how.append(f"the items' text found in the page ({len(html)} elements)")
    if not html and (selectors.split or not (items or selectors.entry)):
        flat = ticker.find(tree, url, selectors.split)
        if flat is not None:
            how.append(flat[0])
            html = flat[1]

    page_headlines = {title} | {p.headline for p in postings if p.headline}
    merged = merge(items, html, page_headlines, pairs)
    warnings += merged.warnings
    entries = [e for e in merged.entries if e.title or e.body]
    if not entries:
        raise SourceError(_nothing(tree, postings, selectors))
    if len(warnings) > MAX_WARNINGS:  # one per block of a page of 50,000 broken blocks
        warnings[MAX_WARNINGS:] = [f"and {len(warnings) - MAX_WARNINGS} more warnings"]
    return Extraction(
        entries=tuple(newest_first(entries)),
        title=title,
        strategy="; ".join(how),
        warnings=tuple(warnings),
    )


def _nothing(tree: LexborHTMLParser, postings: list[Posting], s: PageSelectors) -> str:
    """Why a page gave no entries: what was looked for and not found."""
    for marker, name in CLIENT_SIDE_EMBEDS.items():
        tag = f"{marker}, " if marker[0].isalpha() else ""
        if tree.css_first(f'{tag}[class*="{marker}"], [id*="{marker}"]') is not None:
            return (
                f"the live blog is a {name} embed drawn in the browser; its entries are "
                "not in the page's HTML (watch its feed or API instead)"
            )
    if s.split:
        return f"no live-blog entries found: no element matches selectors.split {s.split!r}"
    if s.entry:
        tried = f"no element matches selectors.entry {s.entry!r}"
    else:
        tried = f"none of the {len(DEFAULT_MARKUPS)} common entry markups matched"
    if postings:
        kinds = " and ".join(sorted({p.syntax for p in postings}))
        return (
            f"the page declares a LiveBlogPosting ({kinds}) but no entry could be read: "
            f"it lists no liveBlogUpdate items, and {tried}"
        )
    return (
        f"not a live blog: no LiveBlogPosting (JSON-LD or microdata), {tried}, no ticker "
        "(headings that begin with a time)"
    )


def _title(tree: LexborHTMLParser, postings: list[Posting]) -> str:
    for posting in postings:
        if posting.headline and not cut(posting.headline):
            return posting.headline
    title = tree.css_first("title")
    return title.text(strip=True) if title is not None else ""
