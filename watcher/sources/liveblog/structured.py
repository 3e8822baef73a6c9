"""A live blog's structured data (JSON-LD or microdata), as plain items.

Both say the same thing in two syntaxes: a `LiveBlogPosting` with `liveBlogUpdate` items.
Publishers fill them carelessly (the page's headline copied into every item, bodies cut
at a fixed length, HTML entities left in plain text), so each field of each item is
checked before it is trusted; merge.py decides, entry by entry, what the HTML says better.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from watcher.htmltext import html_to_text, plain_to_text
from watcher.sources.liveblog.keys import distinct, normalize_id


@dataclass(frozen=True, slots=True)
class Item:
    """One `liveBlogUpdate`, its text already reduced to plain text."""

    key: str | None
    url: str | None
    headline: str
    body: str
    published: str | None
    modified: str | None
    headline_cut: bool = False
    body_cut: bool = False


@dataclass(frozen=True, slots=True)
class Posting:
    """One declared `LiveBlogPosting`: where it was found (`JSON-LD`, `microdata`)."""

    syntax: str
    headline: str
    items: tuple[Item, ...]


def posting(syntax: str, headline: Any, items: list[Item]) -> Posting:
    """A LiveBlogPosting, its items' keys kept only where they identify an item."""
    keys = distinct(i.key for i in items)
    return Posting(
        syntax, text(headline), tuple(replace(i, key=k) for i, k in zip(items, keys, strict=True))
    )


def item(fields: Mapping[str, Any], ident: Any, url: str) -> Item:
    """An item from its schema.org fields, in either syntax."""
    link = fields.get("url") if isinstance(fields.get("url"), str) else None
    ident = ident if isinstance(ident, str) else None
    headline, body = text(fields.get("headline")), text(fields.get("articleBody"), url)
    return Item(
        key=normalize_id(ident or link or "") or None,
        url=link,
        headline=headline,
        body=body,
        published=date(fields.get("datePublished")),
        modified=date(fields.get("dateModified")),
        headline_cut=cut(headline),
        body_cut=cut(body),
    )


def text(value: Any, url: str | None = None) -> str:
    """A text field: plain text by the schema, but HTML or entity-encoded on many sites
    (`&#39;`, `&ldquo;`), and now and then both, encoded twice."""
    if isinstance(value, list):
        value = " ".join(v for v in value if isinstance(v, str))
    if not isinstance(value, str):
        return ""
    for _ in range(2):
        if "&" not in value:
            break
        value = html.unescape(value)
    value = without_cms_codes(value)
    return html_to_text(value, url) if "<" in value else plain_to_text(value)


# Codes a CMS leaves in the text for its own templates: `[[ge:rep-locali:…]]`.
_CMS_CODE = re.compile(r"\[\[[\w-]+:[^\[\]\n]*\]\]")  # no `[` inside: linear


def without_cms_codes(value: str) -> str:
    """The text without its CMS's template codes, which no reader sees."""
    return _CMS_CODE.sub(" ", value) if "[[" in value else value


def date(value: Any) -> str | None:
    """A date field as the page gives it (parsed where entries are ordered)."""
    return value.strip() or None if isinstance(value, str) else None


ELLIPSES = ("…", "...", "[…]", "[...]")


def cut(value: str) -> bool:
    """Whether a field visibly stops short (`…&rdq…`: an entity cut, then an ellipsis)."""
    return value.endswith(ELLIPSES)
