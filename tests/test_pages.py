"""Live-blog pages in each publisher markup watcher reads by default: hand-written fixtures
in the shape of real pages (tests/fixtures/pages/README.md says which), so that a clone
without ../shared tests every strategy."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from tests.pages import FIXTURES, URL, changes, kinds, leftovers, read
from watcher.model import Snapshot
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


# Pages built to break the merge: each failed before the review that found it.


def _blog(posts: list[tuple[str, str]], ld: list[dict[str, str]] | None = None) -> str:
    """A Guardian-shaped page of (id, body) posts, newest first, with a JSON-LD of `ld`."""
    blocks = "".join(f'<article id="block-{i}"><p>{b}</p></article>' for i, b in posts)
    script = ""
    if ld is not None:
        data = {"@type": "LiveBlogPosting", "headline": "Live", "liveBlogUpdate": ld}
        script = f'<script type="application/ld+json">{json.dumps(data)}</script>'
    return f"<html><head><title>Live</title>{script}</head><body>{blocks}</body></html>"


BODIES = {
    "a": "The minister arrived in Brussels this morning for talks.",
    "b": "Talks on the grain corridor resumed after a short break.",
    "c": "A statement is expected later this afternoon, officials said.",
    "d": "The minister has left the building without speaking to reporters.",
}


def _ld(ids: str, headlines: bool = True) -> list[dict[str, str]]:
    return [
        {
            "@id": f"#block-{i}",
            "articleBody": BODIES[i],
            **({"headline": f"H {i}"} if headlines else {}),
        }
        for i in ids
    ]


def test_json_ld_listed_oldest_first_is_merged_entry_by_entry() -> None:
    # The new post is in the JSON-LD before the HTML shows it.
    before = _blog([(i, BODIES[i]) for i in "cba"], _ld("abc"))
    after = _blog([(i, BODIES[i]) for i in "cba"], _ld("abcd"))
    found = changes(
        parse_page(before, URL, PageSelectors()), parse_page(after, URL, PageSelectors())
    )
    assert [(c.kind.value, c.key) for c in found] == [("new", "d")]


def test_a_number_every_id_shares_identifies_no_entry() -> None:
    # la Repubblica's ids carry the article's number: 419364605_event79.
    posts = [(f"419364605_{i}", BODIES[i]) for i in "ba"]
    ld = [{"@id": f"#e{i}-419364605", "articleBody": BODIES[i]} for i in "dba"]
    entries = parse_page(_blog(posts, ld), URL, PageSelectors()).entries
    assert [e.body for e in entries] == [BODIES["d"], BODIES["b"], BODIES["a"]]


def test_entries_that_begin_alike_are_not_new_again() -> None:
    start = "Wicket! India lose another one here at the crease: "
    kohli, gill = f"{start}Kohli goes for 12 runs.", f"{start}Gill goes for 40 runs."
    rain = "Rain has stopped play for now, the covers are on."

    def page(posts: list[tuple[str, str]]) -> str:
        cut = [{"headline": "Live", "articleBody": f"{b[:60]}…"} for _, b in posts]
        return _blog(posts, cut)

    before = parse_page(page([("k2", kohli), ("k1", rain)]), URL, PageSelectors())
    after = parse_page(page([("k3", gill), ("k2", kohli), ("k1", rain)]), URL, PageSelectors())
    assert [(c.kind.value, c.entry.body) for c in changes(before, after)] == [("new", gill)]


def test_a_headline_is_trusted_by_its_item_alone() -> None:
    # Whether five items share "Breaking" must not change as the blog grows.
    ld = [
        {"headline": "Breaking", "articleBody": f"Update number {n} of the day, told at length."}
        for n in range(10)
    ]
    grown = [
        {"headline": "Other", "articleBody": f"Fresh update {n} of the day, told at length."}
        for n in range(2)
    ]
    page = '<html><head><script type="application/ld+json">{}</script></head><body></body></html>'

    def read_ld(items: list[dict[str, str]]) -> Snapshot:
        data = {"@type": "LiveBlogPosting", "headline": "Live", "liveBlogUpdate": items}
        return parse_page(page.format(json.dumps(data)), URL, PageSelectors())

    assert kinds(changes(read_ld(ld), read_ld(grown + ld))) == {"new": 2}


def test_a_promo_box_for_a_live_blog_does_not_make_teasers_entries() -> None:
    page = (
        (FIXTURES / "teasers.html")
        .read_text()
        .replace(
            "<main",
            '<aside class="related-liveblog"><a href="/live">Follow live</a></aside><main',
            1,
        )
    )
    with pytest.raises(SourceError, match="not a live blog"):
        parse_page(page, URL, PageSelectors())


def test_structured_data_that_cannot_be_read_is_a_warning_and_the_html_still_read() -> None:
    deep = '<script type="application/ld+json">' + "[" * 5000 + "]" * 5000 + "</script>"
    broken = '<div itemscope itemtype="https://schema.org/LiveBlogPosting"><a itemprop="url" href="http://[oops">x</a></div>'
    page = (FIXTURES / "cnn.html").read_text().replace("</body>", f"{deep}{broken}</body>", 1)
    found = extract(page, URL, PageSelectors())
    assert len(found.entries) == 4
    assert any(w.startswith("microdata not read") for w in found.warnings)


def test_ids_that_number_html_entries_from_the_top_are_not_ids() -> None:
    def page(bodies: list[str]) -> str:
        posts = "".join(
            f'<div class="live-event-entry" id="entry{n}"><p>{b}</p></div>'
            for n, b in enumerate(bodies, 1)
        )
        return f"<html><body>{posts}</body></html>"

    old = [BODIES[i] for i in "cba"]
    found = changes(
        parse_page(page(old), URL, PageSelectors()),
        parse_page(page([BODIES["d"], *old]), URL, PageSelectors()),
    )
    assert kinds(found) == {"new": 1}


def test_ticker_text_outside_elements_is_cleaned_like_the_rest() -> None:
    page = (
        "<div><h3>12:01 One</h3>loose \u202etext [[ge:x:1]]  here<h3>12:02 Two</h3><p>b</p>"
        "<h3>12:03 Three</h3><p>c</p></div>"
    )
    (first, *_) = parse_page(page, URL, PageSelectors()).entries
    assert first.body == "loose text here"


def test_a_byline_with_its_date_after_the_text_is_not_the_entrys_text() -> None:
    snapshot = read(FIXTURES / "independent.html")
    assert not any(re.search(r"Sam Porter|\d{4} \d\d:\d\d$", e.body) for e in snapshot.entries)
