"""Live-blog pages: JSON-LD first, HTML to fill the gaps, the common markups by default."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.feeds import guardian_page, live_blog_json_ld, seed_items
from watcher.config import parse
from watcher.configfile import ConfigError
from watcher.sources.base import SourceError
from watcher.sources.liveblog import PageSelectors, normalize_id, parse_page

URL = "https://example.org/live"
ITEMS = seed_items(URL)
DEFAULT = PageSelectors()


def test_guardian_markup_by_default() -> None:
    snapshot = parse_page(guardian_page(ITEMS), URL, DEFAULT)
    assert snapshot.partial and snapshot.title == "Ukraine-Russia war latest"
    assert [e.title for e in snapshot.entries] == [i.title for i in ITEMS]
    assert [e.key for e in snapshot.entries] == [str(106 - n) for n in range(6)]
    first = snapshot.entries[0]
    assert first.body == "\n\n".join(ITEMS[0].paragraphs)  # no time, header or share button
    assert first.published == ITEMS[0].published.isoformat()
    assert first.url == f"{URL}#block-106"


def test_pinned_copy_is_not_counted_twice() -> None:
    snapshot = parse_page(guardian_page(ITEMS, pinned=ITEMS[3]), URL, DEFAULT)
    assert [e.key for e in snapshot.entries] == [str(106 - n) for n in range(6)]


@pytest.mark.parametrize(
    ("markup", "key"),
    [
        ('<div data-ncpost-id="abc"><h3>H</h3><p>Body text.</p></div>', "abc"),
        ('<article class="live-story-post" id="id_77"><h2>H</h2><p>Body text.</p></article>', "77"),
        ('<div class="LiveBlogPost" id="p9"><h2>H</h2><p>Body text.</p></div>', "p9"),
        ('<article data-testid="content-post" id="c1"><h2>H</h2><p>Body text.</p></article>', "c1"),
        (
            '<div class="liveblog-entry" id="liveblog-entry-5"><h4>H</h4><p>Body text.</p></div>',
            "5",
        ),
    ],
)
def test_common_markups(markup: str, key: str) -> None:
    (entry,) = parse_page(f"<html><body>{markup}</body></html>", URL, DEFAULT).entries
    assert (entry.key, entry.title, entry.body) == (key, "H", "Body text.")


def test_headline_is_optional_and_ids_are_too() -> None:
    page = '<div class="liveblog-entry"><p>Only a paragraph. And more.</p></div>'
    (entry,) = parse_page(page, URL, DEFAULT).entries
    assert (entry.key, entry.title, entry.body) == (None, "", "Only a paragraph. And more.")


def test_json_ld_with_graph_and_type_lists() -> None:
    page = guardian_page([], json_ld=live_blog_json_ld(ITEMS))
    snapshot = parse_page(page, URL, DEFAULT)
    assert [e.title for e in snapshot.entries] == [i.title for i in ITEMS]
    assert [e.key for e in snapshot.entries] == [str(106 - n) for n in range(6)]
    assert snapshot.entries[2].body == "\n\n".join(ITEMS[2].paragraphs)


def test_copied_headlines_and_cut_bodies_come_from_the_html() -> None:
    json_ld = live_blog_json_ld(ITEMS, copy_headline=True, cut_bodies=True)
    snapshot = parse_page(guardian_page(ITEMS, json_ld=json_ld), URL, DEFAULT)
    assert [e.title for e in snapshot.entries] == [i.title for i in ITEMS]
    assert [e.body for e in snapshot.entries] == ["\n\n".join(i.paragraphs) for i in ITEMS]


def test_json_ld_fills_gaps_with_html_entries_it_leaves_out() -> None:
    # The JSON-LD lists the latest two entries only; the HTML has all six.
    snapshot = parse_page(guardian_page(ITEMS, json_ld=live_blog_json_ld(ITEMS[:2])), URL, DEFAULT)
    assert [e.key for e in snapshot.entries] == [str(106 - n) for n in range(6)]


def test_live_blog_posting_without_updates_uses_the_html() -> None:
    json_ld = (
        '<script type="application/ld+json">{"@type": "LiveBlogPosting", "headline": "x"}</script>'
    )
    snapshot = parse_page(guardian_page(ITEMS, json_ld=json_ld), URL, DEFAULT)
    assert len(snapshot.entries) == 6


def test_broken_json_ld_is_ignored() -> None:
    json_ld = '<script type="application/ld+json">{broken</script>'
    assert len(parse_page(guardian_page(ITEMS, json_ld=json_ld), URL, DEFAULT).entries) == 6


def test_custom_selectors() -> None:
    page = (
        '<section class="feed"><div class="post" data-key="a1"><span class="t">Title</span>'
        '<div class="txt"><p>Hello.</p></div><span class="when">2025-02-13T10:00:00Z</span>'
        "</div></section>"
    )
    selectors = PageSelectors(
        entry="div.post", id="data-key", headline=".t", body=".txt", published=".when"
    )
    (entry,) = parse_page(page, URL, selectors).entries
    assert (entry.key, entry.title, entry.body, entry.published) == (
        "a1",
        "Title",
        "Hello.",
        "2025-02-13T10:00:00Z",
    )


@pytest.mark.parametrize(
    ("marker", "name"),
    [
        ("tickaroo-liveblog", "Tickaroo"),
        ("wpcom-liveblog-container", "WordPress.com"),
        ("live-center-embed", "Live Center"),
    ],
)
def test_client_side_embed_is_an_error_that_says_so(marker: str, name: str) -> None:
    page = f'<html><body><div class="{marker}" data-id="1"></div></body></html>'
    with pytest.raises(SourceError, match=f"{name}.*drawn in the browser"):
        parse_page(page, URL, DEFAULT)


def test_page_without_entries_is_an_error_that_says_what_was_missing() -> None:
    with pytest.raises(SourceError, match=r"not a live blog: no LiveBlogPosting.*no ticker"):
        parse_page("<html><body><p>Sorry, page not found.</p></body></html>", URL, DEFAULT)


def test_articles_in_main_are_entries_only_on_a_page_that_shows_it_is_a_live_blog() -> None:
    card = '<article id="c{n}7"><h2>Story {n}</h2><p>Teaser {n}.</p>{time}</article>'
    teasers = "".join(card.format(n=n, time="") for n in range(3))
    with pytest.raises(SourceError, match="not a live blog"):
        parse_page(f"<html><body><main>{teasers}</main></body></html>", URL, DEFAULT)
    stamp = '<time datetime="2025-02-13T10:0{m}:00Z">10:0{m}</time>'
    timed = "".join(card.format(n=n, time=stamp.format(m=5 - n)) for n in range(3))
    entries = parse_page(f"<html><body><main>{timed}</main></body></html>", URL, DEFAULT).entries
    assert [(e.key, e.title, e.body) for e in entries] == [
        (f"c{n}7", f"Story {n}", f"Teaser {n}.") for n in range(3)
    ]


def test_entries_without_ids_keep_their_order_and_text() -> None:
    items = [replace(i, id="", link=None) for i in ITEMS]
    page = "".join(f'<div class="liveblog-entry"><h2>{i.title}</h2>{i.html}</div>' for i in items)
    entries = parse_page(page, URL, DEFAULT).entries
    assert [e.key for e in entries] == [None] * 6
    assert [e.title for e in entries] == [i.title for i in ITEMS]


def test_normalize_id() -> None:
    assert normalize_id("https://x.org/live#block-65a1") == "65a1"
    assert normalize_id("id_42") == "42"
    assert normalize_id("liveblog-entry-7") == "7"
    assert normalize_id("post-1288914") == normalize_id("#liveblogPost1288914") == "1288914"
    assert normalize_id("post-") == "post-"


def test_invalid_selector_is_a_config_error(tmp_path) -> None:
    text = "sources:\n  - name: p\n    page: https://x.org/\n    selectors:\n      entry: 'div >'\n"
    with pytest.raises(ConfigError) as caught:
        parse(text, tmp_path / "w.yaml")
    assert caught.value.problems == [
        f"{tmp_path / 'w.yaml'}:5: sources[0].selectors.entry: invalid CSS selector 'div >'"
    ]
