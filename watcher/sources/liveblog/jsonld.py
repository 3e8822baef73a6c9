"""JSON-LD: the `LiveBlogPosting` objects in a page's `application/ld+json` scripts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import jstyleson
from selectolax.lexbor import LexborHTMLParser

from watcher.sources.liveblog.keys import distinct, normalize_id
from watcher.sources.liveblog.structured import Item, Posting, cut, date, text


def postings(tree: LexborHTMLParser, url: str, warnings: list[str]) -> list[Posting]:
    found = []
    for n, script in enumerate(tree.css('script[type="application/ld+json"]'), 1):
        data = _load(script.text(), n, warnings)
        found += [_posting(obj, url) for obj in _objects(data) if _has_type(obj, "LiveBlogPosting")]
    return found


def _load(source: str, n: int, warnings: list[str]) -> Any:
    try:
        return json.loads(source)
    except ValueError as exc:
        error = exc
    try:  # JavaScript comments, which some CMSs leave in (NDTV)
        return jstyleson.loads(source)
    except (ValueError, TypeError, IndexError):
        snippet = " ".join(source.split())[:60]
        warnings.append(f"JSON-LD block {n} is not valid JSON ({error}); skipped: {snippet!r}")
        return None


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


def _posting(obj: dict[str, Any], url: str) -> Posting:
    updates = obj.get("liveBlogUpdate") or []
    updates = updates if isinstance(updates, list) else [updates]
    items = [_item(u, url) for u in updates if isinstance(u, dict)]
    keys = distinct(i.key for i in items)
    return Posting(
        "JSON-LD",
        text(obj.get("headline")),
        tuple(replace(i, key=k) for i, k in zip(items, keys, strict=True)),
    )


def _item(obj: dict[str, Any], url: str) -> Item:
    link = obj.get("url") if isinstance(obj.get("url"), str) else None
    ident = obj.get("@id") if isinstance(obj.get("@id"), str) else None
    headline, body = text(obj.get("headline")), text(obj.get("articleBody"), url)
    return Item(
        key=normalize_id(ident or link or "") or None,
        url=link,
        headline=headline,
        body=body,
        published=date(obj.get("datePublished")),
        modified=date(obj.get("dateModified")),
        headline_cut=cut(headline, obj.get("headline")),
        body_cut=cut(body, obj.get("articleBody")),
    )
