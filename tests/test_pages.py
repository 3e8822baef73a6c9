"""Live-blog pages in each publisher markup watcher reads by default: hand-written fixtures
in the shape of real pages (tests/fixtures/pages/README.md says which), so that a clone
without ../shared tests every strategy."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from tests.pages import FIXTURES, URL, changes, kinds, leftovers, read
from watcher.sources.base import SourceError
from watcher.sources.liveblog import PageSelectors, extract, parse_page

LIVE_BLOGS = [
    # fixture, entries a reader sees, first headline, first words of the first body
    ("br24", 5, "12.31 Uhr: Kremlin rejects proposal for a winter ceasefire", "The Kremlin said"),
    ("cnn", 4, "Lander separates from the rocket’s upper stage", "The lunar lander separated"),
    ("guardian", 4, "", "Anna Weber reports from Brussels"),
    ("independent", 4, "Rowing World Cup", "Great Britain’s women’s eight will"),
    ("ndtv", 4, "Lions vs Sharks: It's a wrap!", "Okay, folks! That's it"),
    ("nyt", 4, "Turnout tops 40 percent for the first time in a decade", "Turnout passed 40"),
    ("nzz", 5, "11.04 Uhr: Gotthard road tunnel reopens to traffic", "The Gotthard road tunnel"),
    (
        "reach-events",
        4,
        "Union says talks with rail operators will resume on Monday",
        "Rail strike",
    ),
    ("reach", 5, "Goodnight", "We’re logging off for the night"),
    ("repubblica", 5, "Civil protection: “Ash fall expected to ease by tonight”", "The civil"),
    ("sportowefakty", 5, "", "Full time. Riverside Bulls left no"),
    ("timesofindia", 5, "", "TOSS: Pune Panthers win toss"),
]
CONTROLS = ["article", "teasers", "css-only", "tickaroo-config"]


@pytest.mark.parametrize(("name", "count", "headline", "words"), LIVE_BLOGS)
def test_each_markup_is_read_as_a_reader_sees_it(
    name: str, count: int, headline: str, words: str
) -> None:
    snapshot = read(FIXTURES / f"{name}.html")
    assert len(snapshot.entries) == count
    first = snapshot.entries[0]
    assert (first.title, first.body[: len(words)]) == (headline, words)
    assert leftovers(snapshot) == []
    assert all(e.title or e.body for e in snapshot.entries)


@pytest.mark.parametrize("name", [row[0] for row in LIVE_BLOGS])
def test_an_edit_and_a_new_entry_give_one_event_each(name: str) -> None:
    found = changes(read(FIXTURES / f"{name}.html"), read(FIXTURES / f"{name}.v2.html"))
    assert kinds(found) == {"updated": 1, "new": 1}
    (edit,) = [c for c in found if c.kind.value == "updated"]
    added = "".join(text for op, text in edit.diff if op == 1)
    assert len(added.split()) >= 4  # the sentence added, not a re-shuffle of the entry


@pytest.mark.parametrize("name", CONTROLS)
def test_an_ordinary_article_gives_no_entries_and_says_what_was_missing(name: str) -> None:
    with pytest.raises(SourceError) as caught:
        read(FIXTURES / f"{name}.html")
    message = str(caught.value)
    assert message.startswith("not a live blog: no LiveBlogPosting (JSON-LD or microdata)")
    assert "no ticker" in message


def test_json_ld_text_is_unescaped_and_a_cut_headline_is_not_trusted() -> None:
    page = extract((FIXTURES / "repubblica.html").read_text(), URL, PageSelectors())
    titles = [e.title for e in page.entries]
    assert "Civil protection: “Ash fall expected to ease by tonight”" in titles
    assert not any(t.endswith(("…", "&rdq")) for t in titles)
    assert not any("[[ge:" in e.body for e in page.entries)


def test_each_json_ld_headline_is_trusted_on_its_own() -> None:
    # One item has its own headline; the others copy the page's: those stay unheaded.
    snapshot = read(FIXTURES / "guardian.html")
    titles = [e.title for e in snapshot.entries]
    assert titles.count("") == 2
    assert "Kremlin says Putin has no plans to attend Geneva summit" in titles
    assert not any("Ukraine war live" in t for t in titles)


def test_a_json_ld_body_cut_short_gives_way_to_the_html() -> None:
    snapshot = read(FIXTURES / "timesofindia.html")
    page = extract((FIXTURES / "timesofindia.html").read_text(), URL, PageSelectors())
    assert any("cut short" in w for w in page.warnings)
    # Without ids or markup, the items' text is found in the page: whole, not cut at 96.
    assert max(len(e.body) for e in snapshot.entries) > 120
    assert snapshot.entries[2].body.endswith("in case their top three fail together.")


def test_headlines_that_repeat_the_body_are_not_headlines() -> None:
    # "19:02(IST) TOSS: …" is the body's first words with a time: not a headline.
    assert {e.title for e in read(FIXTURES / "timesofindia.html").entries} == {""}


def test_the_html_body_wins_where_it_holds_more_than_the_json_ld() -> None:
    # The JSON-LD of this entry lacks the list the HTML has: an edit to the list counts.
    snapshot = read(FIXTURES / "reach.html")
    (entry,) = [e for e in snapshot.entries if e.key == "880377"]
    page = (FIXTURES / "reach.html").read_text()
    assert "Bin collections continue to operate." in entry.body
    last = "<li>Bin collections continue to operate.</li>"
    edited = page.replace(last, f"{last}<li>Burial grounds open for funerals only.</li>")
    found = changes(snapshot, parse_page(edited, URL, PageSelectors()))
    assert kinds(found) == {"updated": 1}
    assert "Burial grounds" in "".join(t for op, t in found[0].diff if op == 1)


def test_visible_times_win_over_json_ld_times() -> None:
    snapshot = read(FIXTURES / "independent.html")
    assert snapshot.entries[0].published == "2025-06-14T09:01:52.000Z"


def test_microdata_items_are_read_and_invalid_json_ld_is_named() -> None:
    page = extract((FIXTURES / "ndtv.html").read_text(), URL, PageSelectors())
    assert page.strategy.startswith("microdata LiveBlogPosting (4 items)")
    assert [e.key for e in page.entries] == ["44_parent", "43_parent", "42_parent", "41_parent"]
    assert not any(w.startswith("JSON-LD block") for w in page.warnings)  # // comments read
    assert all("Share" not in e.body and "facebook" not in e.body for e in page.entries)


def test_a_block_that_is_not_json_is_named_and_the_page_still_read() -> None:
    bad = '<script type="application/ld+json">{"@type": "LiveBlogPosting", oops}</script>'
    page = (FIXTURES / "cnn.html").read_text().replace("</head>", f"{bad}</head>", 1)
    found = extract(page, URL, PageSelectors())
    assert len(found.entries) == 4
    assert any(w.startswith("JSON-LD block") and "not valid JSON" in w for w in found.warnings)


def test_a_declared_live_blog_without_readable_entries_names_the_type() -> None:
    page = (
        '<html><body><div itemscope itemtype="https://schema.org/LiveBlogPosting">'
        "<p>Loading…</p></div></body></html>"
    )
    with pytest.raises(SourceError, match=r"declares a LiveBlogPosting \(microdata\)"):
        parse_page(page, URL, PageSelectors())


def test_a_ticker_is_split_at_configured_headings() -> None:
    page = (
        "<html><body><div class='text'><h3>Morning</h3><p>First one.</p><p>More.</p>"
        "<h3>Noon</h3><p>Second one.</p><hr><p>Not an entry.</p></div></body></html>"
    )
    entries = parse_page(page, URL, PageSelectors(split="h3")).entries
    assert [(e.title, e.body) for e in entries] == [
        ("Morning", "First one.\n\nMore."),
        ("Noon", "Second one."),
    ]
    with pytest.raises(SourceError, match=r"no element matches selectors\.split"):
        parse_page(page, URL, PageSelectors(split="h4"))


def test_entries_that_lose_their_ids_are_matched_by_their_text() -> None:
    # A CMS that drops ids on a redesign: no mass of removed and new entries.
    before = read(FIXTURES / "reach.html")
    after = replace(before, entries=tuple(replace(e, key=None) for e in before.entries))
    assert changes(before, after) == []


def test_ids_that_number_entries_by_position_are_not_ids() -> None:
    # The JSON-LD numbers its items from the top (#post1, #post2, …): a new entry
    # renumbers every other one, which must not make them all new.
    v2 = (FIXTURES / "timesofindia.v2.html").read_text()
    renumbered = re.sub(r"#post(\d)", lambda m: f"#post{int(m.group(1)) + 1}", v2)
    found = changes(
        read(FIXTURES / "timesofindia.html"), parse_page(renumbered, URL, PageSelectors())
    )
    assert kinds(found) == {"updated": 1, "new": 1}
