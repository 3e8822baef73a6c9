"""JSON-LD: the `LiveBlogPosting` objects in a page's `application/ld+json` scripts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jstyleson
from selectolax.lexbor import LexborHTMLParser

from watcher.sources.liveblog.structured import Posting, item, posting


def postings(tree: LexborHTMLParser, url: str, warnings: list[str]) -> list[Posting]:
    found = []
    for n, script in enumerate(tree.css('script[type="application/ld+json"]'), 1):
        data = _load(script.text(), n, warnings)
        found += [_posting(obj, url) for obj in _objects(data) if _has_type(obj, "LiveBlogPosting")]
    return found


def _load(source: str, n: int, warnings: list[str]) -> Any:
    try:
        return json.loads(source)
    except (ValueError, RecursionError) as exc:
        error = exc
    try:  # JavaScript comments, which some CMSs leave in (NDTV)
        return jstyleson.loads(source)
    except (ValueError, TypeError, IndexError, RecursionError):
        snippet = " ".join(source.split())[:60]
        warnings.append(f"JSON-LD block {n} is not valid JSON ({error}); skipped: {snippet!r}")
        return None


def _objects(data: Any) -> Iterator[dict[str, Any]]:
    """The objects of a block: itself, the items of a list, those of an `@graph`; walked
    without recursion, as a block may nest lists thousands deep."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(reversed(value))
        elif isinstance(value, dict):
            yield value
            if "@graph" in value:
                stack.append(value["@graph"])


def _has_type(obj: dict[str, Any], name: str) -> bool:
    kind = obj.get("@type")
    return name in kind if isinstance(kind, list) else kind == name


def _posting(obj: dict[str, Any], url: str) -> Posting:
    updates = obj.get("liveBlogUpdate") or []
    updates = updates if isinstance(updates, list) else [updates]
    items = [item(u, u.get("@id"), url) for u in updates if isinstance(u, dict)]
    return posting("JSON-LD", obj.get("headline"), items)
