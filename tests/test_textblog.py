from __future__ import annotations

import pytest

from tests.helpers import SEED
from watcher.model import Entry
from watcher.sources import textblog

HEADLINES = [
    "US can no longer be 'permanent guarantor'",
    "Europe can't turn Uncle Sam into 'Uncle Sucker', says Hegseth",
    "Negotiations will include both Ukraine and Russia, US says",
    "US 'recognising realities on the ground'",
    "Ukraine to participate in talks 'one way or another', says Russia",
    "Kremlin says Putin and Trump may speak again by phone before meeting",
]


def test_seed_has_six_entries_newest_first() -> None:
    blog = textblog.parse(SEED.read_text(encoding="utf-8"))
    assert blog.date == "2025-02-13"
    assert blog.title.startswith("Ukraine-Russia war latest")
    assert blog.standfirst.startswith("US president hailed")
    assert [e.title for e in blog.entries] == HEADLINES


def test_paragraphs_without_headline_stay_in_their_entry() -> None:
    blog = textblog.parse(SEED.read_text(encoding="utf-8"))
    realities = blog.entries[3].body.split("\n\n")
    assert len(realities) == 4
    assert realities[2] == "US Secretary Pete Hegseth is holding a press conference currently."
    assert realities[3].startswith("He said called for Nato allies")
    # Quoted paragraphs, opening or closing with a quote, are never headlines.
    first = blog.entries[0].body.split("\n\n")
    assert first[-1] == "“That shift has to happen”"
    assert len(first) == 7


@pytest.mark.parametrize(
    ("line", "headline"),
    [
        ("US can no longer be 'permanent guarantor'", True),
        ("Kremlin says Putin and Trump may speak again", True),
        ("The Kremlin has said that Putin and Trump may speak again.", False),
        ("“That shift has to happen”", False),
        ('"Make no mistake," he said', False),
        ("He added: “Europe has to spend more.”", False),
        ("Is this the end?", False),
        ("He said (in Brussels.)", False),
        ("Key events", True),
        ("word " * 30, False),
    ],
)
def test_headline_rule(line: str, headline: bool) -> None:
    assert textblog.is_headline(line.strip()) is headline


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty file"),
        ("\n\n  \n", "empty file"),
        ("no header here\nstandfirst\n", "line 1"),
    ],
)
def test_bad_text_is_a_parse_error(text: str, error: str) -> None:
    with pytest.raises(textblog.ParseError, match=error):
        textblog.parse(text)


def test_render_gives_back_the_entries() -> None:
    blog = textblog.parse(SEED.read_text(encoding="utf-8"))
    again = textblog.parse(textblog.render(blog.date, blog.title, blog.standfirst, blog.entries))
    assert again == blog


def test_header_only_blog_has_no_entries() -> None:
    blog = textblog.parse(" date 2025-02-13 Title\nStandfirst\n")
    assert blog.entries == ()
    assert textblog.render("2025-02-13", "Title", "Standfirst", [Entry("H", "P.")]).endswith(
        "H\nP.\n"
    )
