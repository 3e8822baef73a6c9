"""Watch rules: which changes matter to whom.

Keyword semantics: whole words as a reader reads them, case- and accent-insensitive.
Hyphens and apostrophes separate words, so `Putin` matches "Putin's", "Putin’s" and
"anti-Putin", and `Riyadh` matches "Riyadh-based"; `Putin` does not match "Putinism" but
`Putin*` does. The words of a phrase match across any run of whitespace, line breaks
included. Invisible characters in a word (a soft hyphen, a zero-width space) and Cyrillic
or Greek lookalike letters in a Latin word do not hide it: `Putin` matches "Рutin" with a
Cyrillic Р. Words of a URL are not read, so `Kremlin` does not match
"(https://x/kremlin-statement)". A `regex` sees the text as it is, URLs included, so that
a rule can watch for links to a site.

Every keyword of every rule is compiled into one word trie, so matching an entry costs one
pass over its words whatever the number of rules.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from watcher.model import Change, DiffOp, Event, Kind, Match
from watcher.text import WORD, fold, gap_class, words
from watcher.units import Many

_KEYWORD_WORD = re.compile(rf"(?:{WORD.pattern})(\*)?")
TRIGGER, ALL, NONE = 0, 1, 2

# A keyword as the trie sees it: (gap before the word, folded word, is a prefix) per word.
KeywordTokens = tuple[tuple[str, str, bool], ...]


def parse_keyword(keyword: str) -> KeywordTokens:
    """Split a keyword into words; raises ValueError for one that cannot match as written."""
    text = keyword.strip()
    tokens: list[tuple[str, str, bool]] = []
    pos = 0
    for m in _KEYWORD_WORD.finditer(text):
        gap = text[pos : m.start()]
        if tokens and not gap:
            raise ValueError(f"keyword {keyword!r}: '*' may only end a word")
        if not tokens and gap.strip():
            raise ValueError(f"keyword {keyword!r} starts with punctuation; use a regex")
        word = m.group(0).rstrip("*")
        tokens.append((gap_class(gap) if tokens else "", fold(word), m.group(1) is not None))
        pos = m.end()
    if not tokens:
        raise ValueError(f"keyword {keyword!r} has no letters or digits")
    if text[pos:].strip():
        raise ValueError(f"keyword {keyword!r} ends with punctuation; use a regex")
    return tuple(tokens)


class _Node:
    __slots__ = ("ends", "next", "prefix_lengths", "prefixes")

    def __init__(self) -> None:
        self.next: dict[tuple[str, str], _Node] = {}
        self.prefixes: dict[tuple[str, str], _Node] = {}
        self.prefix_lengths: list[int] = []
        self.ends: list[int] = []

    def step(self, gap: str, word: str) -> list[_Node]:
        found = []
        exact = self.next.get((gap, word))
        if exact is not None:
            found.append(exact)
        for length in self.prefix_lengths:
            if length > len(word):
                break
            node = self.prefixes.get((gap, word[:length]))
            if node is not None:
                found.append(node)
        return found


class KeywordMatcher:
    """Finds every occurrence of many keywords in one pass over a text's words."""

    def __init__(self) -> None:
        self._root = _Node()
        self._count = 0

    def add(self, tokens: KeywordTokens) -> int:
        """Adds a keyword; returns the id its hits will carry."""
        node = self._root
        for gap, word, is_prefix in tokens:
            edges = node.prefixes if is_prefix else node.next
            child = edges.get((gap, word))
            if child is None:
                child = edges[(gap, word)] = _Node()
                if is_prefix and len(word) not in node.prefix_lengths:
                    node.prefix_lengths.append(len(word))
                    node.prefix_lengths.sort()
            node = child
        node.ends.append(self._count)
        self._count += 1
        return self._count - 1

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """Every hit as (keyword id, start, end) offsets into `text`."""
        tokens = words(text)
        hits: list[tuple[int, int, int]] = []
        root = self._root
        for i, (start, _, word) in enumerate(tokens):
            frontier = root.step("", word)
            j = i
            while frontier:
                end = tokens[j][1]
                for node in frontier:
                    hits.extend((kid, start, end) for kid in node.ends)
                j += 1
                if j == len(tokens):
                    break
                gap = gap_class(text[end : tokens[j][0]])
                frontier = [n for node in frontier for n in node.step(gap, tokens[j][2])]
        return hits


@dataclass(slots=True)
class _Rule:
    name: str
    on: frozenset[Kind]
    sources: frozenset[str]
    notify: tuple[str, ...]
    whole: bool
    regex: re.Pattern[str] | None
    all_count: int
    priority: bool
    min_change: int
    # keyword id -> (role, index of the `all` keyword)
    roles: dict[int, tuple[int, int]] = field(default_factory=dict)


class RuleConfig(BaseModel):
    """A rule as the config writes it (`rules:`); Ruleset compiles them."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    priority: Literal["normal", "high"] = "normal"  # high: sent at once, past digests
    min_change: int = Field(
        default=0, ge=0, description="words an edit must change to count, e.g. 3"
    )
    keywords: Many[str] = []
    all: Many[str] = []
    none: Many[str] = []
    regex: str | None = None
    on: Many[Literal["new", "updated", "removed"]] = ["new", "updated"]
    sources: Many[str] = []
    notify: Many[str] | None = None
    match: Literal["changed", "whole"] = "changed"

    @field_validator("keywords", "all", "none")
    @classmethod
    def _parse(cls, keywords: list[str]) -> list[str]:
        for keyword in keywords:
            parse_keyword(keyword)
        return keywords

    @field_validator("regex")
    @classmethod
    def _compile(cls, regex: str | None) -> str | None:
        if regex is not None:
            try:
                re.compile(regex)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from None
        return regex


def futile(spec: RuleConfig) -> list[str]:
    """Why a part of a rule can never fire: a keyword (or an `all` keyword) whose own words
    contain one of `none`, so that the veto comes with it every time; an empty `notify`.
    `validate` warns of each."""
    vetoes = KeywordMatcher()
    for keyword in spec.none:
        vetoes.add(parse_keyword(keyword))
    out = []
    for field_name, keywords in (("keywords", spec.keywords), ("all", spec.all)):
        for keyword in keywords:
            if hits := vetoes.find(keyword.replace("*", "")):
                veto = spec.none[hits[0][0]]
                out.append(f"{field_name}: '{keyword}' contains none: '{veto}': it never fires")
    if spec.notify == []:
        out.append("notify is empty: it tags events but sends them nowhere")
    return out


class Ruleset:
    """The compiled rules of a config."""

    def __init__(self, rules: Sequence[RuleConfig], default_notify: Sequence[str]) -> None:
        self._matcher = KeywordMatcher()
        self._rules: list[_Rule] = []
        self._owner: dict[int, int] = {}  # keyword id -> index of its rule
        for index, spec in enumerate(rules):
            rule = _Rule(
                name=spec.name,
                on=frozenset(Kind(k) for k in spec.on),
                sources=frozenset(spec.sources),
                notify=tuple(spec.notify if spec.notify is not None else default_notify),
                whole=spec.match == "whole",
                regex=re.compile(spec.regex, re.IGNORECASE) if spec.regex else None,
                all_count=len(spec.all),
                priority=spec.priority == "high",
                min_change=spec.min_change,
            )
            groups = [(TRIGGER, spec.keywords), (NONE, spec.none)]
            for role, keywords in groups:
                for kw in keywords:
                    rule.roles[self._add(kw, index)] = (role, 0)
            for k, kw in enumerate(spec.all):
                rule.roles[self._add(kw, index)] = (ALL, k)
            self._rules.append(rule)
        self._regex_rules = [i for i, r in enumerate(self._rules) if r.regex is not None]

    def _add(self, keyword: str, rule_index: int) -> int:
        kid = self._matcher.add(parse_keyword(keyword))
        self._owner[kid] = rule_index
        return kid

    def tag(self, change: Change, source: str, source_notify: Sequence[str] = ()) -> Event:
        """The event for a change: the rules that fire on it, their matches, its channels."""
        new_doc = change.entry.document
        updated = change.kind is Kind.UPDATED and change.old is not None
        old_doc = change.old.document if updated and change.old else ""
        hits_new = self._hits(new_doc)
        hits_old = self._hits(old_doc) if updated else {}
        inserted, deleted = changed_spans(change.diff) if updated else ([], [])
        changed_words = changed_word_count(change.diff) if updated else 0

        tags: list[str] = []
        priority = False
        matches: list[Match] = []
        channels: list[str] = list(source_notify)
        for index in sorted(set(hits_new) | set(hits_old) | set(self._regex_rules)):
            rule = self._rules[index]
            if change.kind not in rule.on or (rule.sources and source not in rule.sources):
                continue
            if updated and changed_words < rule.min_change:
                continue
            new_triggers = self._triggers(rule, hits_new.get(index, []), new_doc)
            old_triggers = self._triggers(rule, hits_old.get(index, []), old_doc)
            if updated and not rule.whole:
                new_triggers = [h for h in new_triggers if _overlaps(inserted, h[0], h[1])]
                old_triggers = [h for h in old_triggers if _overlaps(deleted, h[0], h[1])]
            elif updated:
                old_triggers = []
            if not new_triggers and not old_triggers:
                continue
            roles = [rule.roles[kid] for kid, _, _ in hits_new.get(index, [])]
            if any(role == NONE for role, _ in roles):
                continue
            if len({k for role, k in roles if role == ALL}) < rule.all_count:
                continue
            tags.append(rule.name)
            priority = priority or rule.priority
            spans = set(new_triggers) | {
                (s, e) for kid, s, e in hits_new[index] if rule.roles[kid][0] == ALL
            }
            matches.extend(Match(rule.name, s, e, new_doc[s:e]) for s, e in sorted(spans))
            matches.extend(Match(rule.name, s, e, old_doc[s:e], old=True) for s, e in old_triggers)
            channels.extend(c for c in rule.notify if c not in channels)
        return Event(change, tuple(tags), tuple(matches), tuple(dict.fromkeys(channels)), priority)

    def _hits(self, text: str) -> dict[int, list[tuple[int, int, int]]]:
        grouped: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for hit in self._matcher.find(text):
            grouped[self._owner[hit[0]]].append(hit)
        return grouped

    @staticmethod
    def _triggers(
        rule: _Rule, hits: list[tuple[int, int, int]], text: str
    ) -> list[tuple[int, int]]:
        spans = [(s, e) for kid, s, e in hits if rule.roles[kid][0] == TRIGGER]
        if rule.regex is not None and text:
            spans.extend(m.span() for m in rule.regex.finditer(text) if m.end() > m.start())
        return spans


def changed_spans(diff: Sequence[DiffOp]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Inserted spans (offsets in the new text) and deleted spans (in the old text)."""
    inserted: list[tuple[int, int]] = []
    deleted: list[tuple[int, int]] = []
    old_pos = new_pos = 0
    for op, text in diff:
        if op == 0:
            old_pos += len(text)
            new_pos += len(text)
        elif op > 0:
            if WORD.search(text):
                inserted.append((new_pos, new_pos + len(text)))
            new_pos += len(text)
        else:
            if WORD.search(text):
                deleted.append((old_pos, old_pos + len(text)))
            old_pos += len(text)
    return inserted, deleted


def changed_word_count(diff: Sequence[DiffOp]) -> int:
    """How many words an edit inserted or deleted."""
    return sum(len(WORD.findall(text)) for op, text in diff if op != 0)


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether [start, end) overlaps any of the sorted, disjoint `spans`."""
    i = bisect_left(spans, (start, start))
    if i > 0 and spans[i - 1][1] > start:
        return True
    return i < len(spans) and spans[i][0] < end
