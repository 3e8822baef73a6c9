"""Entry ids as pages write them, reduced to what identifies the entry."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

# Decoration around the CMS's own id: `block-65a1`, `#liveblogPost1288914` and
# `post-1288914` (the Independent's JSON-LD and HTML) name the same entry.
ID_PREFIXES = ("block-", "id_", "liveblog-entry-", "liveblogPost", "post-")


def normalize_id(raw: str) -> str:
    """An entry id without the markup's decoration: `block-65a1` -> `65a1`."""
    value = raw.strip()
    if "#" in value:
        value = value.rsplit("#", 1)[1]
    for prefix in ID_PREFIXES:
        if value.startswith(prefix) and len(value) > len(prefix):
            return value[len(prefix) :]
    return value


def distinct(keys: Iterable[str | None]) -> list[str | None]:
    """Each key, or None where it does not identify its entry: a value several entries
    share (the page's own URL, say), or numbers by position (`post1`, `post2`, … from
    the top: a new entry shifts them all)."""
    listed = list(keys)
    if _positional(listed):
        return [None] * len(listed)
    counts = Counter(k for k in listed if k)
    return [k if k and counts[k] == 1 else None for k in listed]


def _positional(keys: list[str | None]) -> bool:
    found = [_NUMBERED.fullmatch(k) if k else None for k in keys]
    if len(keys) < 2 or not all(found):
        return False
    prefixes = {m.group(1) for m in found if m}
    numbers = [int(m.group(2)) for m in found if m]
    return (
        len(prefixes) == 1
        and numbers[0] in (0, 1)
        and numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    )


_NUMBERED = re.compile(r"(\D*)(\d+)")
