"""Text helpers shared by diffing and matching: word tokens, folding, normalising."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache

# Unicode format characters (category Cf: soft hyphen, zero-width space, joiners, word
# joiner, BOM, bidi marks...) are invisible: a reader sees "Pu\u00adtin" as "Putin". The
# list is Unicode 14's, Python 3.11's (a test checks it against unicodedata): building it
# from unicodedata at import would cost 0.2 s.
FORMAT_CHARS = (
    r"\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    r"\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    r"\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    r"\U000e0020-\U000e007f"
)
_INVISIBLE = re.compile(f"[{FORMAT_CHARS}]+")

# A word is a run of letters and digits, format characters between them included, so that
# a soft hyphen does not split one: hyphens, apostrophes and underscores separate words, so
# "Riyadh-based" holds "Riyadh" and "Putin's" holds "Putin". (Possessive quantifiers: the
# two classes are disjoint, so backtracking never helps, and not preparing for it halves
# what looking for format characters after each word costs.)
WORD = re.compile(rf"[^\W_]++(?:[{FORMAT_CHARS}]++[^\W_]++)*+")

# Tokens for the word diff: words, runs of whitespace, and single other characters, so that
# a changed comma shows as a comma rather than as the whole word beside it.
DIFF_TOKEN = re.compile(rf"{WORD.pattern}|\s+|[\W_]")

# A link target: words in it are not read, so keywords do not match them. The HTML reducer
# writes a link as "text (https://site/path)"; a bare URL runs to the next whitespace.
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_LINK_TARGET = re.compile(r"\(https?://\S*\)", re.IGNORECASE)

_QUOTES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "–": "-", "—": "-", "‐": "-"})

# Cyrillic and Greek letters that read as Latin ones. Capitals are mapped before case
# folding, each case to what it looks like: Cyrillic Н reads as H but н as nothing Latin,
# Greek Ν as N but ν as v. Lowercase letters only where a reader takes them for Latin.
_LOOKALIKES = str.maketrans(
    {
        **dict(zip("АВЕКМНОРСТУХІЈЅԚԜӀҮ", "ABEKMHOPCTYXIJSQWIY", strict=True)),
        **dict(zip("аеорсухіјѕԁһԛԝӏ", "aeopcyxijsdhqwl", strict=True)),
        **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX", strict=True)),
        **dict(zip("οναριυ", "ovapiu", strict=True)),
    }
)


@lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """The form of a word as a reader reads it: 'Zelenský' -> 'zelensky', 'Рutin' -> 'putin'.

    Case, accents and format characters are dropped. A word that mixes Latin letters with
    Cyrillic or Greek ones is a disguise, not a real word, so its lookalike letters become
    Latin; a word wholly in Cyrillic or Greek keeps its letters, so that it matches its own
    capitals and lowercase alike and never a Latin keyword.
    """
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", _INVISIBLE.sub("", word))
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    if not letters.isascii() and any(unicodedata.name(c, "").startswith("LATIN") for c in letters):
        letters = letters.translate(_LOOKALIKES)
    return letters.casefold()


def gap_class(gap: str) -> str:
    """What separates two words, reduced to what a phrase must match.

    Any run of whitespace is one space; otherwise the punctuation itself, with curly quotes
    and dashes made straight, so that "Putin’s" and "Putin's" are the same phrase. Format
    characters and a link target in parentheses are not read: "Saudi (https://x) capital"
    is "Saudi capital".
    """
    if "://" in gap:
        gap = _LINK_TARGET.sub(" ", gap)
    stripped = _INVISIBLE.sub("", "".join(gap.split()))
    if not stripped:
        return " "
    return stripped.translate(_QUOTES)


def words(text: str) -> list[tuple[int, int, str]]:
    """Each word a reader reads in `text` as (start, end, folded word): none inside a URL."""
    return [
        (m.start(), m.end(), fold(m.group()))
        for start, end in _outside_urls(text)
        for m in WORD.finditer(text, start, end)
    ]


def _outside_urls(text: str) -> Iterator[tuple[int, int]]:
    """The spans of `text` between its URLs; a text without "://" is one span."""
    pos = 0
    if "://" in text:
        for url in _URL.finditer(text):
            yield pos, url.start()
            pos = url.end()
    yield pos, len(text)


def word_set(text: str) -> frozenset[str]:
    return frozenset(fold(w) for w in WORD.findall(text))


def normalize(text: str, ignore: Iterable[str]) -> str:
    """The form of `text` in which differences that `ignore` names do not count.

    `ignore` holds any of "whitespace", "punctuation" and "case"; ignoring either of the
    first two ignores format characters too, which are as invisible as a space.
    """
    ignored = set(ignore)
    if "punctuation" in ignored:
        text = " ".join(WORD.findall(text))
        if not text.isascii():  # format characters are left only inside words
            text = _INVISIBLE.sub("", text)
    elif "whitespace" in ignored:
        text = " ".join(_INVISIBLE.sub("", text).split())
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


# C0 controls but tab and newline, DEL, C1, the bidi marks, overrides and isolates that
# make text read other than it is stored, and lone surrogates (only JSON escapes make
# them, and no encoder, nor PostgreSQL, takes them).
_CONTROL = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
_CONTROLS = re.compile(_CONTROL)
# And on a terminal, whole escape sequences: CSI; OSC, DCS and the other strings, when
# terminated; any other ESC with what follows it.
_UNPRINTABLE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]?|" + _CONTROL
)


def without_controls(text: str) -> str:
    """`text` as a browser shows it: control, bidi-override and surrogate characters
    deleted (a page's ESC is not a terminal's), tabs and newlines kept."""
    return _CONTROLS.sub("", text)


def printable(text: str) -> str:
    """`text` without what would act on a terminal (clear it, retitle the window, hide a
    link) or reorder what a reader sees; tabs and newlines stay."""
    return _UNPRINTABLE.sub("", text)


def counted(n: int, word: str) -> str:
    """`1 source`, `2 sources`: what a person reads in a summary."""
    return f"{n} {word}{'' if n == 1 else 's'}"
