"""Feeds parse into the same entries whichever path reads them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.feeds import atom, json_feed, rdf, rss, seed_items
from watcher.model import Entry
from watcher.sources.base import SourceError
from watcher.sources.feedformats import _feedparser, _Memo, _xml_feed, parse_feed

ITEMS = seed_items()
XML_FEEDS = {
    "rss": rss(ITEMS),
    "rss content:encoded": rss(ITEMS, content=True),
    "atom html": atom(ITEMS),
    "atom xhtml": atom(ITEMS, "xhtml"),
    "atom text": atom(ITEMS, "text"),
}


def brief(entries: list[Entry] | tuple[Entry, ...]) -> list[tuple[str | None, str, str]]:
    return [(e.key, e.title, e.body) for e in entries]


# Every format whose items get a digest, by the function that writes it.
WRITERS = {
    "rss": rss,
    "rss content:encoded": lambda items: rss(items, content=True),
    "atom html": atom,
    "atom xhtml": lambda items: atom(items, "xhtml"),
    "atom text": lambda items: atom(items, "text"),
    "json feed": json_feed,
}
EDITS = {
    "title": lambda item: replace(item, title=item.title + ", officials say"),
    "body": lambda item: item.with_paragraph("Officials later confirmed the call."),
    "spacing in the body markup": lambda item: replace(
        item, paragraphs=(item.paragraphs[0].replace(" ", "  ", 1), *item.paragraphs[1:])
    ),
}


@pytest.mark.parametrize("edit", list(EDITS))
@pytest.mark.parametrize("name", list(WRITERS))
def test_an_item_as_stored_is_kept_unread_and_an_edit_to_its_text_is_read(
    name: str, edit: str
) -> None:
    write, url = WRITERS[name], "https://example.org/feed"
    first = parse_feed(write(ITEMS).encode(), None, url)
    known = {e.key or "": e.digest or "" for e in first.entries}
    assert all(known.values()) and len(known) == len(ITEMS)

    again = parse_feed(write(ITEMS).encode(), None, url, known)
    assert all(e.kept and (e.title, e.body) == ("", "") for e in again.entries)
    # Kept items keep their dates: a feed that runs oldest first is ordered as before.
    backwards = write(ITEMS[::-1]).encode()
    assert [e.key for e in parse_feed(backwards, None, url, known).entries] == list(known)

    edited = list(ITEMS)
    edited[2] = EDITS[edit](ITEMS[2])
    after = parse_feed(write(edited).encode(), None, url, known)
    (read,) = [e for e in after.entries if not e.kept]
    whole = parse_feed(write(edited).encode(), None, url).entries
    (fresh,) = [e for e in whole if e.key == read.key]
    assert read == fresh and read.key == ITEMS[2].id and read.digest != known[read.key]


@pytest.mark.parametrize("order", ["newest first", "oldest first"])
def test_a_feed_that_repeats_an_id_is_read_whole(order: str) -> None:
    """Items sharing an id are stored as `id`, `id~2`… in date order: a kept item could
    take another's place. Such a feed gives what it gives without digests."""
    url = "https://example.org/feed"
    x, y = ITEMS[1], replace(ITEMS[0], id=ITEMS[1].id)  # y: the same id, newer
    items = [y, x] if order == "newest first" else [x, y]
    known = {x.id: parse_feed(rss([x]).encode(), None, url).entries[0].digest or ""}
    got = parse_feed(rss(items).encode(), None, url, known)
    assert not any(e.kept for e in got.entries)
    assert got == parse_feed(rss(items).encode(), None, url)


@pytest.mark.parametrize("name", list(XML_FEEDS))
def test_fast_path_gives_what_feedparser_gives(name: str) -> None:
    body = XML_FEEDS[name].encode()
    fast = _xml_feed(body, _Memo({}, "https://example.org/feed"))
    assert fast is not None
    assert brief(fast) == brief(_feedparser(body, "application/xml", "https://example.org/feed"))
    assert [e.url for e in fast] == [i.link for i in ITEMS]


@pytest.mark.parametrize(
    "body",
    [*XML_FEEDS.values(), rdf(ITEMS), json_feed(ITEMS)],
    ids=[*XML_FEEDS, "rss 1.0", "json feed"],
)
def test_every_format_gives_the_seed_entries(body: str) -> None:
    snapshot = parse_feed(body.encode(), None, "https://example.org/feed")
    assert snapshot.partial
    assert [e.title for e in snapshot.entries] == [i.title for i in ITEMS]
    assert [e.key for e in snapshot.entries] == [i.id for i in ITEMS]
    assert snapshot.entries[3].body == "\n\n".join(ITEMS[3].paragraphs)


def test_identity_falls_back_to_link_then_hash() -> None:
    by_link = parse_feed(rss(ITEMS, guid=False).encode()).entries
    assert [e.key for e in by_link] == [i.link for i in ITEMS]
    by_hash = parse_feed(rss(ITEMS, guid=False, link=False).encode()).entries
    assert len({e.key for e in by_hash}) == 6
    assert all(e.key and len(e.key) == 16 for e in by_hash)
    # The hash is of title and date, so an edited body keeps its identity.
    edited = [ITEMS[0].with_paragraph("More."), *ITEMS[1:]]
    assert parse_feed(rss(edited, guid=False, link=False).encode()).entries[0].key == by_hash[0].key


def test_oldest_first_feeds_are_put_newest_first() -> None:
    snapshot = parse_feed(rss(list(reversed(ITEMS))).encode())
    assert [e.key for e in snapshot.entries] == [i.id for i in ITEMS]


def test_malformed_xml_goes_to_feedparser() -> None:
    broken = rss(ITEMS).replace("<channel>", "<channel><junk>", 1)
    snapshot = parse_feed(broken.encode())
    assert len(snapshot.entries) == 6


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"<html><body><h1>Live</h1></body></html>", "text/html", "HTML page.*use page:"),
        (b"", None, "not a feed"),
        (b"{not json", "application/json", "not a JSON feed"),
        (b'{"version": "x"}', "application/feed+json", "no 'items' list"),
    ],
)
def test_what_is_not_a_feed_is_an_error(body: bytes, content_type: str | None, error: str) -> None:
    with pytest.raises(SourceError, match=error):
        parse_feed(body, content_type)


def test_entities_in_titles_and_relative_links() -> None:
    item = replace(ITEMS[0], title="Q&A: Putin & Trump", paragraphs=())
    markup = rss([item]).replace("<![CDATA[]]>", '<![CDATA[<a href="/more">more</a>]]>')
    (entry,) = parse_feed(markup.encode(), None, "https://example.org/feed").entries
    assert entry.title == "Q&A: Putin & Trump"
    assert "more (https://example.org/more)" in entry.body


@pytest.mark.parametrize(
    "template",
    [
        "<rss version='2.0' xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
        "<item><guid>a</guid><title>T</title><description>{summary}</description>"
        "<content:encoded>&lt;p&gt;Full text of the entry.&lt;/p&gt;</content:encoded></item>"
        "</channel></rss>",
        "<feed xmlns='http://www.w3.org/2005/Atom'><entry><id>a</id><title>T</title>"
        "<summary>{summary}</summary><content type='html'>&lt;p&gt;Full text of the "
        "entry.&lt;/p&gt;</content></entry></feed>",
        '{{"version": "https://jsonfeed.org/version/1.1", "items": [{{"id": "a", "title": '
        '"T", "summary": "{summary}", "content_text": "Full text of the entry."}}]}}',
    ],
    ids=["rss", "atom", "json feed"],
)
def test_an_entrys_text_is_its_content_and_its_summary_only_without_one(template: str) -> None:
    before = parse_feed(template.format(summary="A teaser.").encode()).entries
    after = parse_feed(template.format(summary="A teaser, edited.").encode()).entries
    assert [e.body for e in before] == [e.body for e in after] == ["Full text of the entry."]
    no_content = template.replace("Full text of the entry.", "").format(summary="A teaser.")
    assert "A teaser." in parse_feed(no_content.encode()).entries[0].body
