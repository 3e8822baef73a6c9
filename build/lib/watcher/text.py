"""Text helpers shared by diffing and matching: word tokens, folding, normalising."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# A word is a run of letters and digits: hyphens, apostrophes and underscores separate
# words, so "Riyadh-based" holds "Riyadh" and "Putin's" holds "Putin".
WORD = re.compile(r"[^\W_]+")

# Tokens for the word diff: words, runs of whitespace, and single other characters, so that
# a changed comma shows as a comma rather than as the whole word beside it.
DIFF_TOKEN = re.compile(r"[^\W_]+|\s+|[\W_]")

_QUOTES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "–": "-", "—": "-", "‐": "-"})


@lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """Case- and accent-insensitive form of a word: 'Zelenskýy' -> 'zelenskyy'."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def gap_class(gap: str) -> str:
    """What separates two words, reduced to what a phrase must match.

    Any run of whitespace is one space; otherwise the punctuation itself, with curly quotes
    and dashes made straight, so that "Putin’s" and "Putin's" are the same phrase.
    """
    stripped = "".join(gap.split())
    if not stripped:
        return " "
    return stripped.translate(_QUOTES)


def words(text: str) -> list[tuple[int, int, str]]:
    """Each word of `text` as (start, end, folded word)."""
    return [(m.start(), m.end(), fold(m.group())) for m in WORD.finditer(text)]


def word_set(text: str) -> frozenset[str]:
    return frozenset(fold(w) for w in WORD.findall(text))


def normalize(text: str, ignore: Iterable[str]) -> str:
    """The form of `text` in which differences that `ignore` names do not count.

    `ignore` holds any of "whitespace", "punctuation" and "case".
    """
    ignored = set(ignore)
    if "punctuation" in ignored:
        text = " ".join(WORD.findall(text))
    elif "whitespace" in ignored:
        text = " ".join(text.split())
    if "case" in ignored:
        text = text.casefold()
    return text


def first_sentence(text: str, limit: int = 100) -> str:
    """A stand-in headline for an entry that has none."""
    line = text.strip().split("\n", 1)[0]
    match = re.match(r"(.+?[.!?])(\s|$)", line)
    sentence = match.group(1) if match else line
    if len(sentence) > limit:
        sentence = sentence[: limit - 1].rsplit(" ", 1)[0] + "…"
    return sentence


def slug(text: str, limit: int = 60) -> str:
    """A readable, stable key made from a headline: 'us-can-no-longer-be-permanent'."""
    parts = [fold(w) for w in WORD.findall(text)]
    out = ""
    for part in parts:
        candidate = f"{out}-{part}" if out else part
        if len(candidate) > limit:
            break
        out = candidate
    return out or "entry"
