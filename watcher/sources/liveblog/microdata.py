"""schema.org microdata: `LiveBlogPosting` elements and their `liveBlogUpdate` items,
read by extruct (the W3C microdata algorithm, itemref and nesting included)."""

from __future__ import annotations

from typing import Any

from watcher.sources.liveblog.structured import Posting, item, posting

TYPE = "LiveBlogPosting"


def postings(markup: str, url: str, warnings: list[str]) -> list[Posting]:
    """The page's microdata LiveBlogPostings; microdata that cannot be read is a warning,
    and the other strategies are still tried."""
    # A second parse (by lxml, for extruct), so only where the page declares one.
    if "itemscope" not in markup or TYPE not in markup:
        return []
    import lxml.html
    from extruct.w3cmicrodata import MicrodataExtractor

    try:
        parser = lxml.html.HTMLParser(encoding="utf-8")
        tree = lxml.html.fromstring(markup.encode("utf-8", "replace"), parser=parser)
        found = MicrodataExtractor(nested=True).extract_items(tree, url)
        return [_posting(item, url) for item in _all(found) if _is(item, TYPE)]
    except Exception as exc:  # a third party's parser, on hostile markup: any error
        warnings.append(f"microdata not read: {type(exc).__name__}: {exc}")
        return []


def _all(items: Any) -> list[dict[str, Any]]:
    """Every item, nested ones too: a LiveBlogPosting may sit inside a WebPage."""
    out: list[dict[str, Any]] = []
    stack = list(items) if isinstance(items, list) else [items]
    while stack:
        item = stack.pop(0)
        if isinstance(item, list):
            stack[:0] = item
        elif isinstance(item, dict) and "type" in item:
            item.setdefault("properties", {})  # extruct leaves it out when there are none
            out.append(item)
            stack += [v for v in item["properties"].values() if isinstance(v, dict | list)]
    return out


def _is(item: dict[str, Any], name: str) -> bool:
    kinds = item.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return any(isinstance(k, str) and k.rsplit("/", 1)[-1] == name for k in kinds)


def _posting(found: dict[str, Any], url: str) -> Posting:
    props = found["properties"]
    updates = props.get("liveBlogUpdate") or []
    updates = updates if isinstance(updates, list) else [updates]
    items = [
        item(u["properties"], u.get("id"), url)
        for u in updates
        if isinstance(u, dict) and isinstance(u.get("properties"), dict)
    ]
    return posting("microdata", props.get("headline"), items)
