"""The plain-text live-blog format of the seed files.

    line 1:  ` date YYYY-MM-DD <page title>`
    line 2:  the standfirst
    then:    entries, newest first: a headline line, then its paragraphs, one a line.

A headline is a short line with no terminal punctuation that does not open with a quotation
mark. Paragraphs end in punctuation or a closing double quote, or open with a quote. A
headline may end in a single quote ("US 'recognising realities on the ground'"), which is
why a trailing single quote alone does not make a paragraph.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from watcher.model import Entry, Snapshot

HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\s+(.+?)\s*$")
MAX_HEADLINE_CHARS = 120
MAX_HEADLINE_WORDS = 20
OPENING_QUOTES = "\"'“‘«„‚‹"
CLOSING_DOUBLE_QUOTES = '"”»'
CLOSERS = "\"'”’»›)]"
TERMINAL = ".!?:;,…"


class ParseError(ValueError):
    """The text is not a live blog in this format."""


@dataclass(frozen=True, slots=True)
class TextBlog:
    date: str
    title: str
    standfirst: str
    entries: tuple[Entry, ...]


def is_headline(line: str) -> bool:
    if len(line) > MAX_HEADLINE_CHARS or len(line.split()) > MAX_HEADLINE_WORDS:
        return False
    if line[0] in OPENING_QUOTES or line[-1] in CLOSING_DOUBLE_QUOTES:
        return False
    core = line.rstrip(CLOSERS)
    return not core or core[-1] not in TERMINAL


def parse(text: str) -> TextBlog:
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise ParseError("empty file")
    header = HEADER.match(lines[0])
    if header is None:
        raise ParseError("line 1: expected ' date YYYY-MM-DD <page title>'")
    standfirst = lines[1].strip() if len(lines) > 1 else ""

    entries: list[Entry] = []
    title = ""
    paragraphs: list[str] = []

    def flush() -> None:
        if title or paragraphs:
            entries.append(Entry(title=title, body="\n\n".join(paragraphs)))

    for raw in lines[2:]:
        line = raw.strip()
        if not line:
            continue
        if is_headline(line):
            flush()
            title, paragraphs = line, []
        else:
            paragraphs.append(line)
    flush()
    return TextBlog(header.group(1), header.group(2), standfirst, tuple(entries))


def snapshot(text: str) -> Snapshot:
    blog = parse(text)
    return Snapshot(entries=blog.entries, title=blog.title)


def render(date: str, title: str, standfirst: str, entries: Sequence[Entry]) -> str:
    """The file text for a blog, so that `parse(render(...))` gives the entries back."""
    lines = [f" date {date} {title}", standfirst]
    for entry in entries:
        if entry.title:
            lines.append(entry.title)
        lines.extend(p for p in entry.body.split("\n\n") if p)
    return "\n".join(lines) + "\n"
