"""Items without markup of their own (obfuscated class names, no ids), found by their text
in the page: each item's first words are looked up in the page's visible text, and its
element is the largest around them that holds no other item's text.

One pass over the text nodes builds an index of where each begins; each item is then one
lookup, so a page of many items costs what its text does, not items times text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from selectolax.lexbor import LexborHTMLParser, LexborNode

from watcher.sources.liveblog.merge import PROBE, norm
from watcher.sources.liveblog.structured import Item

KEY = PROBE // 2  # characters from a text node's start that index it
_INVISIBLE = frozenset(("script", "style", "noscript", "template", "title", "head"))


def locate(tree: LexborHTMLParser, items: Sequence[Item]) -> dict[int, LexborNode]:
    """item index -> the element that holds the item's text, for the items found."""
    if tree.body is None:
        return {}
    starts: dict[str, list[tuple[int, LexborNode]]] = {}  # first KEY chars -> where
    chunks: list[str] = []
    at = 0
    for node in tree.body.traverse(include_text=True):
        parent = node.parent
        if not node.is_text_node or parent is None or parent.tag in _INVISIBLE:
            continue
        chunk = norm(node.text_content or "")
        if chunk:
            chunks.append(chunk)
            starts.setdefault(chunk[:KEY], []).append((at, parent))
            at += len(chunk) + 1
    text = " ".join(chunks)
    anchors: dict[int, LexborNode] = {}
    for n, item in enumerate(items):
        probe = norm(item.body)[:PROBE]
        if len(probe) < KEY:
            continue
        for offset, parent in starts.get(probe[:KEY], ()):
            if text.startswith(probe, offset):
                anchors[n] = parent
                break
    return _own_elements(anchors) if len(anchors) >= 2 else {}


def _own_elements(anchors: dict[int, LexborNode]) -> dict[int, LexborNode]:
    """For each item, its anchor's highest ancestor that holds no other item's anchor."""
    chains = {n: _ancestors(a) for n, a in anchors.items()}
    shared = Counter(node.mem_id for chain in chains.values() for node in chain)
    out = {}
    for n, chain in chains.items():
        own = [node for node in chain if shared[node.mem_id] == 1]
        if own:
            out[n] = own[-1]
    return out


def _ancestors(node: LexborNode) -> list[LexborNode]:
    """`node` and its ancestors up to <body>, nearest first."""
    chain = []
    current: LexborNode | None = node
    while current is not None and current.tag not in ("body", "html", None):
        chain.append(current)
        current = current.parent
    return chain
