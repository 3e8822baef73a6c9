"""Entries of an HTML live-blog page. Pure functions over the page's markup.

The page's JSON-LD `LiveBlogPosting` comes first, when it has one. Its fields are trusted
only where they differ between items: some sites copy the page's headline and dates into
every item, or cut `articleBody` short, and for those the entry's HTML is used instead.
The HTML, found with CSS selectors (configured, or the defaults that fit the common
live-blog markups), fills the gaps and serves alone where there is no JSON-LD.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from watcher.htmltext import check_depth, html_to_text, plain_to_text
from watcher.model import Entry, Snapshot
from watcher.sources.base import SourceError
from watcher.sources.dates import newest_first


@dataclass(frozen=True)
class Markup:
    entry: str
    id: str = "id"


# The common live-blog markups, tried in this order; the first that finds entries wins.
DEFAULT_MARKUPS = (
    Markup('article[id^="block-"]'),  # the Guardian
    Markup("[data-ncpost-id]", "data-ncpost-id"),  # News Corp sites
    Markup("article.live-story-post"),
    Markup("div.LiveBlogPost[id]"),
    Markup('article[data-testid="content-post"]'),
    Markup(".liveblog-entry"),
    Markup("main article[id]"),
)
ID_PREFIXES = ("block-", "id_", "liveblog-entry-")
# Embeds whose entries are drawn by a script in the browser: nothing to read in the HTML.
CLIENT_SIDE_EMBEDS = {
    "tickaroo-liveblog": "Tickaroo",
    "wpcom-liveblog-container": "WordPress.com Liveblog",
    "live-center-embed": "Live Center",
    "scribblelive": "ScribbleLive",
    "24liveblog": "24liveblog",
    "arena-liveblog": "Arena",
}
NOT_BODY = "header, footer, nav, aside, button, time, script, style"


class PageSelectors(BaseModel):
    """CSS selectors for a page's entries; `entry` unset tries the common markups."""

    model_config = ConfigDict(extra="forbid")

    entry: str | None = None
    id: str | None = None  # the attribute that holds an entry's id
    headline: str = "h1, h2, h3, h4"
    body: str | None = None
    published: str = "time[datetime]"
    updated: str | None = None
    pinned: str = "#pinned-post, .pinned-post, [data-pinned], .is-pinned"

    @field_validator("entry", "headline", "body", "published", "updated", "pinned")
    @classmethod
    def _valid_css(cls, selector: str | None) -> str | None:
        if selector is not None:
            try:
                LexborHTMLParser("<p></p>").css(selector)
            except SelectolaxError:
                raise ValueError(f"invalid CSS selector {selector!r}") from None
        return selector


def parse_page(markup: str | bytes, url: str, selectors: PageSelectors) -> Snapshot:
    """Entries of a live-blog page, newest first; raises SourceError when there are none,
    MarkupTooDeep (a ValueError) for a page nested too deeply to parse in good time."""
    check_depth(markup)
    tree = LexborHTMLParser(markup)
    posts, updates = _json_ld(tree)
    html_entries = _html_entries(tree, url, selectors)
    entries = _merge(posts, updates, html_entries, url) if updates else html_entries
    if not entries:
        text = markup.decode("utf-8", "replace") if isinstance(markup, bytes) else markup
        for marker, name in CLIENT_SIDE_EMBEDS.items():
            if marker in text:
                raise SourceError(
                    f"the live blog is a {name} embed drawn in the browser; its entries are "
                    "not in the page's HTML (watch its feed or API instead)"
                )
        tried = selectors.entry or ", ".join(m.entry for m in DEFAULT_MARKUPS)
        raise SourceError(f"no live-blog entries found (no JSON-LD LiveBlogPosting; tried {tried})")
    return Snapshot(
        entries=tuple(newest_first(entries)), title=_page_title(tree, posts), partial=True
    )


def normalize_id(raw: str) -> str:
    """An entry id without the markup's decoration: `block-65a1` -> `65a1`."""
    value = raw.strip()
    if "#" in value:
        value = value.rsplit("#", 1)[1]
    for prefix in ID_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


# HTML ------------------------------------------------------------------------------------


def _html_entries(tree: LexborHTMLParser, url: str, selectors: PageSelectors) -> list[Entry]:
    markups = (
        [Markup(selectors.entry, selectors.id or "id")]
        if selectors.entry
        else [replace(m, id=selectors.id or m.id) for m in DEFAULT_MARKUPS]
    )
    pinned = {node.mem_id for box in tree.css(selectors.pinned) for node in _descendants(box)}
    for markup in markups:
        nodes = [n for n in tree.css(markup.entry) if n.mem_id not in pinned]
        if nodes:
            return _dedupe([_html_entry(n, markup.id, url, selectors) for n in nodes])
    return []


def _descendants(node: LexborNode) -> Iterator[LexborNode]:
    yield node
    yield from node.traverse(include_text=False)


def _html_entry(node: LexborNode, id_attr: str, url: str, s: PageSelectors) -> Entry:
    raw_id = node.attributes.get(id_attr) or ""
    headline = node.css_first(s.headline)
    title = html_to_text(headline.html or "") if headline is not None else ""
    published = _time(node, s.published)
    updated = _time(node, s.updated) if s.updated else None
    if s.body:
        body = "\n\n".join(html_to_text(n.html or "", url) for n in node.css(s.body))
    else:
        if headline is not None:
            headline.decompose()
        for extra in node.css(NOT_BODY):
            extra.decompose()
        body = html_to_text(node.html or "", url)
    key = normalize_id(raw_id) if raw_id else None
    link = f"{url.split('#', 1)[0]}#{raw_id}" if raw_id else None
    return Entry(title=title, body=body, key=key, url=link, published=published, updated=updated)


def _time(node: LexborNode, selector: str) -> str | None:
    found = node.css_first(selector)
    if found is None:
        return None
    return found.attributes.get("datetime") or found.text(strip=True) or None


def _dedupe(entries: list[Entry]) -> list[Entry]:
    """The first entry of each id (a pinned copy of an entry elsewhere comes second)."""
    seen: set[str] = set()
    out = []
    for entry in entries:
        if entry.key is not None:
            if entry.key in seen:
                continue
            seen.add(entry.key)
        out.append(entry)
    return out


def _page_title(tree: LexborHTMLParser, posts: Sequence[dict[str, Any]]) -> str:
    for post in posts:
        if isinstance(post.get("headline"), str):
            return str(post["headline"])
    title = tree.css_first("title")
    return title.text(strip=True) if title is not None else ""


# JSON-LD ---------------------------------------------------------------------------------


def _json_ld(tree: LexborHTMLParser) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The LiveBlogPosting objects of the page, and their liveBlogUpdate items."""
    posts: list[dict[str, Any]] = []
    for script in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(script.text())
        except ValueError:
            continue
        posts.extend(obj for obj in _objects(data) if _has_type(obj, "LiveBlogPosting"))
    updates: list[dict[str, Any]] = []
    for post in posts:
        items = post.get("liveBlogUpdate") or []
        updates.extend(
            i for i in (items if isinstance(items, list) else [items]) if isinstance(i, dict)
        )
    return posts, updates


def _objects(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _objects(item)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _objects(data["@graph"])


def _has_type(obj: dict[str, Any], name: str) -> bool:
    kind = obj.get("@type")
    return name in kind if isinstance(kind, list) else kind == name


def _merge(
    posts: list[dict[str, Any]], updates: list[dict[str, Any]], html: list[Entry], url: str
) -> list[Entry]:
    def trusted(field: str) -> bool:
        """Whether the items' values of `field` are their own, not copies of one value."""
        values = {str(u[field]) for u in updates if u.get(field)}
        if not values or (len(updates) > 1 and len(values) == 1):
            return False
        return not values <= {str(p[field]) for p in posts if p.get(field)}

    trust = {f: trusted(f) for f in ("headline", "articleBody", "datePublished", "dateModified")}
    by_id = {e.key: e for e in html if e.key}
    merged: list[Entry] = []
    for item in updates:
        raw = str(item.get("@id") or item.get("url") or "")
        key = normalize_id(raw) if raw else None
        from_html = by_id.pop(key, None) if key else None
        title = _text(item.get("headline")) if trust["headline"] else ""
        body = _text(item.get("articleBody"), url) if trust["articleBody"] else ""
        if from_html is not None:
            title = title or from_html.title
            if _truncated(body) or len(from_html.body) > len(body):
                body = from_html.body
        merged.append(
            Entry(
                title=title,
                body=body,
                key=key,
                url=str(item.get("url"))
                if item.get("url")
                else (from_html.url if from_html else None),
                published=_str(item.get("datePublished"))
                if trust["datePublished"]
                else (from_html.published if from_html else None),
                updated=_str(item.get("dateModified"))
                if trust["dateModified"]
                else (from_html.updated if from_html else None),
            )
        )
    # Entries the JSON-LD leaves out (it often lists only the latest few) come from the HTML.
    merged.extend(e for e in html if e.key is None or e.key in by_id)
    return merged


def _text(value: Any, url: str | None = None) -> str:
    """A JSON-LD text field: plain text by the schema, HTML on some sites."""
    if not isinstance(value, str):
        return ""
    return html_to_text(value, url) if "<" in value else plain_to_text(value)


def _str(value: Any) -> str | None:
    return str(value) if value else None


def _truncated(body: str) -> bool:
    return not body or body.endswith(("…", "...", "[…]"))
