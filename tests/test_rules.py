from __future__ import annotations

import re
import sys
import unicodedata
from typing import Any

import pytest

from watcher.diff import compare, word_diff
from watcher.htmltext import html_to_text
from watcher.model import Change, Entry, Kind, Snapshot, StoredEntry
from watcher.rules import RuleConfig, Ruleset, parse_keyword
from watcher.text import FORMAT_CHARS


def ruleset(*rules: dict[str, Any], default_notify: tuple[str, ...] = ("console",)) -> Ruleset:
    return Ruleset([RuleConfig(**r) for r in rules], default_notify)


def new(text: str, title: str = "") -> Change:
    return Change(Kind.NEW, "k", Entry(title, text))


def updated(old: str, new_text: str) -> Change:
    before = StoredEntry(1, "k", "", old, 0)
    return Change(Kind.UPDATED, "k", Entry("", new_text), before, word_diff(old, new_text))


# (keyword, text, matches?) — the keyword semantics the README documents.
KEYWORD_CASES = [
    ("Putin", "Putin said", True),
    ("Putin", "PUTIN said", True),
    ("Putin", "putin said", True),
    ("Putin", "Putin's army", True),
    ("Putin", "Putin’s army", True),
    ("Putin", "the anti-Putin camp", True),
    ("Putin", "Vladimir Putin.", True),
    ("Putin", "Putinism is rising", False),
    ("Putin", "an input", False),
    ("Putin*", "Putinism is rising", True),
    ("Putin*", "Putin said", True),
    ("Putin*", "the Put in", False),
    ("Riyadh", "a Riyadh-based firm", True),
    ("Riyadh", "Riyadhs", False),
    ("Zelensky", "Zelenský spoke", True),
    ("Zelenský", "ZELENSKY spoke", True),
    ("São Paulo", "in Sao Paulo today", True),
    ("Nato", "NATO headquarters", True),
    ("Saudi capital", "the Saudi capital Riyadh", True),
    ("Saudi capital", "the Saudi\n   capital", True),
    ("Saudi capital", "the Saudi\tcapital", True),
    ("Saudi capital", "Saudi. Capital", False),
    ("Saudi capital", "capital Saudi", False),
    ("peace talks", "peace-talks", False),
    ("Riyadh-based", "Riyadh–based", True),
    ("Putin's", "Putin’s call", True),
    ("Saudi Arab*", "Saudi Arabian envoy", True),
    ("defence spending", "defence  spending rose", True),
    ("Putin", "Pu\u00adtin said", True),
    ("Pu\u00adtin", "Putin said", True),
    ("Kanzler", "Bundes\u00adkanzler", False),
    ("Putin", "Рutin said", True),
    ("Рutin", "Putin said", True),
    ("Путин", "ПУТИН заявил", True),
    ("ПУТИН", "путин заявил", True),
    ("Putin", "Путин заявил", False),
    ("BBC", "ВВС", False),
    ("Kremlin", "the Kremlin (https://kremlin.ru/events)", True),
    ("Kremlin", "read this (https://x.com/kremlin-statement)", False),
    ("Kremlin", "see https://x.com/kremlin-statement.", False),
    ("Saudi capital", "the Saudi (https://x.com/sa) capital", True),
    ("Saudi capital", "the Saudi https://x.com/sa capital", False),
]


@pytest.mark.parametrize(("keyword", "text", "expected"), KEYWORD_CASES)
def test_keyword_semantics(keyword: str, text: str, expected: bool) -> None:
    event = ruleset({"name": "r", "keywords": [keyword]}).tag(new(text), "s")
    assert (event.tags == ("r",)) is expected


def test_matched_spans_point_at_the_words() -> None:
    text = "Talks in Riyadh: Putin’s envoy met the Saudi  capital's hosts."
    event = ruleset(
        {"name": "putin", "keywords": ["Putin"]},
        {"name": "saudi", "keywords": ["Riyadh", "Saudi capital"]},
    ).tag(new(text), "s")
    assert event.tags == ("putin", "saudi")
    assert [(m.rule, m.text) for m in event.matches] == [
        ("putin", "Putin"),
        ("saudi", "Riyadh"),
        ("saudi", "Saudi  capital"),
    ]
    assert all(text[m.start : m.end] == m.text for m in event.matches)


# Texts that read as "Putin said" or "Obama said" to a reader but hide the name from a
# plain comparison of characters.
DISGUISED = [
    "Pu\u00adtin",  # soft hyphen
    html_to_text("<p>Pu&shy;tin</p>"),
    "P\u200butin",  # zero-width space
    "Pu\u200dtin",  # zero-width joiner
    "Put\ufeffin",  # byte order mark
    "\u2066Pu\u2060tin\u2069",  # bidi isolate around, word joiner inside
    "Рutin",  # Cyrillic Р
    "PUТІN",  # Cyrillic Т and І
    "Οbama",  # Greek Ο
    "ΟΒΑMΑ",  # Greek capitals but for the M
    "Р\u00adutіn",  # Cyrillic Р and і with a soft hyphen
]


@pytest.mark.parametrize("disguised", DISGUISED, ids=ascii)
def test_disguised_keywords_are_tagged_where_they_are(disguised: str) -> None:
    text = f"Talks: {disguised} said"
    event = ruleset(
        {"name": "putin", "keywords": ["Putin"]}, {"name": "obama", "keywords": ["Obama"]}
    ).tag(new(text), "s")
    assert len(event.tags) == 1
    (match,) = event.matches
    word = disguised.strip("\u2066\u2069")
    assert not word.isascii()  # what a reader sees is not what the text holds
    assert (match.start, match.end) == (text.index(word), text.index(word) + len(word))
    assert match.text == word


def test_format_chars_are_every_unicode_format_character() -> None:
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    format_chars = [c for c in every if unicodedata.category(c) == "Cf"]
    assert re.findall(f"[{FORMAT_CHARS}]", every) == format_chars


def test_link_targets_are_not_read_but_their_text_is() -> None:
    text = html_to_text(
        '<p>Read <a href="https://x.com/kremlin-statement">the statement</a>. The '
        '<a href="/kremlin">Kremlin</a> said</p>',
        "https://site.org/",
    )
    assert text == (
        "Read the statement (https://x.com/kremlin-statement). "
        "The Kremlin (https://site.org/kremlin) said"
    )
    event = ruleset({"name": "kremlin", "keywords": ["Kremlin"]}).tag(new(text), "s")
    assert [(m.start, m.text) for m in event.matches] == [(text.index("Kremlin"), "Kremlin")]


def test_all_and_none_do_not_read_link_targets() -> None:
    change = new("Putin spoke (https://x.com/trump-biden).")
    rules = ruleset(
        {"name": "all", "keywords": ["Putin"], "all": ["Trump"]},
        {"name": "none", "keywords": ["Putin"], "none": ["Biden"]},
    )
    assert rules.tag(change, "s").tags == ("none",)


def test_regex_reads_link_targets() -> None:
    # A regex sees the raw text, so that a rule can watch for links to a site.
    rules = ruleset({"name": "kremlin-links", "regex": r"kremlin\.ru"})
    event = rules.tag(new("the statement (https://kremlin.ru/events/1)"), "s")
    assert [m.text for m in event.matches] == ["kremlin.ru"]


@pytest.mark.parametrize("ignore", [("whitespace", "punctuation"), ("whitespace",)])
def test_an_inserted_invisible_character_is_no_update(ignore: tuple[str, ...]) -> None:
    stored = [StoredEntry(1, "k", "", "Putin spoke on Wednesday.", 0)]
    for hidden in ("Pu\u00adtin spoke on Wednesday.", "Putin spoke on\u200b Wednesday."):
        snapshot = Snapshot((Entry("", hidden, key="k"),))
        assert compare(stored, snapshot, ignore).changes == ()


@pytest.mark.parametrize("keyword", ["", "  ", "--", "C++", "Pu*tin", "#hashtag"], ids=repr)
def test_keywords_that_cannot_match_are_rejected(keyword: str) -> None:
    with pytest.raises(ValueError):
        parse_keyword(keyword)


def test_all_and_none() -> None:
    rules = ruleset({"name": "talks", "keywords": ["Putin"], "all": ["Trump"], "none": ["Biden"]})
    assert rules.tag(new("Putin and Trump spoke."), "s").tags == ("talks",)
    assert rules.tag(new("Putin spoke."), "s").tags == ()
    assert rules.tag(new("Putin and Trump spoke, unlike Biden."), "s").tags == ()


def test_regex_is_a_trigger_too() -> None:
    rules = ruleset({"name": "money", "regex": r"[£$€]\d+(bn|mn)"})
    event = rules.tag(new("the £900mn the US has invested"), "s")
    assert event.tags == ("money",)
    assert [m.text for m in event.matches] == ["£900mn"]


def test_update_fires_only_on_changed_text() -> None:
    old = "Putin spoke to Trump on Wednesday."
    rules = ruleset(
        {"name": "putin", "keywords": ["Putin"]}, {"name": "riyadh", "keywords": ["Riyadh"]}
    )
    unrelated = rules.tag(updated(old, old + " Talks will be held in Riyadh."), "s")
    assert unrelated.tags == ("riyadh",)
    relevant = rules.tag(updated(old, old + " Putin also called Macron."), "s")
    assert relevant.tags == ("putin",)
    (match,) = relevant.matches
    assert match.start > len(old) and match.text == "Putin"


def test_update_that_deletes_a_keyword_fires() -> None:
    rules = ruleset({"name": "putin", "keywords": ["Putin"]})
    event = rules.tag(updated("Putin and Trump spoke.", "Trump spoke."), "s")
    assert event.tags == ("putin",)
    assert event.matches[0].old


def test_match_whole_fires_on_any_update() -> None:
    old = "Putin spoke to Trump on Wednesday."
    rules = ruleset({"name": "putin", "keywords": ["Putin"], "match": "whole"})
    assert rules.tag(updated(old, old + " More soon."), "s").tags == ("putin",)


def test_on_and_sources_filters() -> None:
    rules = ruleset(
        {"name": "gone", "keywords": ["Putin"], "on": ["removed"]},
        {"name": "bbc", "keywords": ["Putin"], "sources": ["bbc"]},
    )
    assert rules.tag(new("Putin spoke."), "guardian").tags == ()
    assert rules.tag(new("Putin spoke."), "bbc").tags == ("bbc",)
    removed = Change(Kind.REMOVED, "k", Entry("", "Putin spoke."))
    assert rules.tag(removed, "guardian").tags == ("gone",)


def test_channels_are_the_union_of_the_fired_rules() -> None:
    rules = ruleset(
        {"name": "a", "keywords": ["Putin"], "notify": ["slack"]},
        {"name": "b", "keywords": ["Riyadh"], "notify": ["email", "slack"]},
        {"name": "c", "keywords": ["Kyiv"]},
    )
    assert rules.tag(new("Putin in Riyadh."), "s").channels == ("slack", "email")
    assert rules.tag(new("Kyiv."), "s").channels == ("console",)
    assert rules.tag(new("Nothing here."), "s", source_notify=["ops"]).channels == ("ops",)


def test_many_rules_one_matcher() -> None:
    # A thousand rules: each still fires on its own word and only on it.
    rules = ruleset(
        *({"name": f"r{i}", "keywords": [f"word{i}", f"phrase {i}"]} for i in range(1000))
    )
    event = rules.tag(new("Here word17 and phrase 998 appear, not word17x."), "s")
    assert event.tags == ("r17", "r998")


def test_min_change_ignores_small_edits() -> None:
    rules = ruleset({"name": "putin", "keywords": ["Putin"], "min_change": 3, "match": "whole"})
    old = "Putin spoke to Trump on Wednesday."
    assert rules.tag(updated(old, old.replace("Wednesday", "Thursday")), "s").tags == ()
    assert rules.tag(updated(old, old + " They agreed to meet soon."), "s").tags == ("putin",)
    assert rules.tag(new(old), "s").tags == ("putin",)  # min_change is about edits


def test_priority_high_marks_the_event() -> None:
    rules = ruleset(
        {"name": "flash", "keywords": ["ceasefire"], "priority": "high"},
        {"name": "putin", "keywords": ["Putin"]},
    )
    assert rules.tag(new("Putin spoke."), "s").priority is False
    assert rules.tag(new("Putin agreed a ceasefire."), "s").priority is True
