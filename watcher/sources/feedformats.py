"""RSS, Atom and JSON Feed documents parsed into entries. Pure functions over bytes.

Well-formed RSS 2.0 and Atom 1.0, most feeds in the wild, are read with lxml, about ten
times faster than feedparser (0.5 ms against 5 ms for 40 items, see benchmarks/); every
other document (RSS 0.9x and 1.0, malformed XML, odd encodings) goes to feedparser, which
copes with anything. Both give the same entries, which the tests check on every fixture.
JSON Feed is plain JSON. Entry identity: guid or id, then link, then a hash of title and
published date.

Each item of RSS, Atom and JSON Feed gets a digest of its markup as written, stored with
its entry. Given the stored digests, an item whose digest is its entry's is not reduced
to text again: it comes out `kept`, and the pipeline fills in its stored words. Reducing
HTML to text was most of the cost of a changed feed, where most items are as they were.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from lxml import etree

from watcher import __version__
from watcher.htmltext import html_to_text, plain_to_text
from watcher.model import Entry, Snapshot
from watcher.sanitize import key as stored_key
from watcher.sources.base import SourceError
from watcher.sources.dates import newest_first

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC_DATE = "{http://purl.org/dc/elements/1.1/}date"
XHTML = "http://www.w3.org/1999/xhtml"
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)


def parse_feed(
    body: bytes,
    content_type: str | None = None,
    url: str | None = None,
    known: Mapping[str, str] | None = None,
) -> Snapshot:
    """Entries of a feed, newest first; raises SourceError when it is not a feed.
    `known`: the stored entries' digests by key (see above)."""
    memo = _Memo(known or {}, url)
    head = body[:64].lstrip()
    if (content_type and "json" in content_type) or head.startswith(b"{"):
        entries = _json_feed(body, memo)
    else:
        entries = _xml_feed(body, memo) or _feedparser(body, content_type, url)
    if known and _kept_repeats(entries):
        # Items sharing an id are stored as `id`, `id~2`… in date order (sanitize.bound),
        # which an item cannot know by itself: such a feed is read whole.
        return parse_feed(body, content_type, url)
    return Snapshot(entries=tuple(newest_first(entries)), partial=True)


def _kept_repeats(entries: list[Entry]) -> bool:
    keys = Counter(stored_key(e.key) for e in entries if e.key)
    return any(e.kept and keys[stored_key(e.key or "")] > 1 for e in entries)


# Part of every digest: a version of watcher may read an item into other words.
_SALT = f"watcher {__version__}\x00".encode()


@dataclass
class _Memo:
    known: Mapping[str, str]
    url: str | None

    def digest(self, markup: bytes) -> str:
        """The item as written, and the feed's URL its relative links resolve against."""
        return hashlib.blake2b(
            _SALT + markup + b"\x00" + (self.url or "").encode(), digest_size=16
        ).hexdigest()

    def kept(
        self,
        guid: str | None,
        link: str | None,
        digest: str,
        published: str | None,
        updated: str | None,
    ) -> Entry | None:
        """A kept entry when the item's digest is its stored entry's (with its dates, by
        which newest_first orders)."""
        raw = _raw_key(guid, link)
        if raw and self.known.get(stored_key(raw)) == digest:
            return replace(_entry(guid, link, "", "", published, updated, digest), kept=True)
        return None


def _raw_key(guid: str | None, link: str | None) -> str:
    return (guid or "").strip() or (link or "").strip()


def _entry(
    guid: str | None,
    link: str | None,
    title: str,
    body: str,
    published: str | None,
    updated: str | None,
    digest: str | None = None,
) -> Entry:
    key = (
        _raw_key(guid, link)
        or (hashlib.sha1(f"{title}\x00{published or ''}".encode()).hexdigest()[:16])
    )
    return Entry(
        title=title,
        body=body,
        key=key,
        url=link.strip() if link else None,
        published=published.strip() if published else None,
        updated=updated.strip() if updated else None,
        digest=digest,
    )


# JSON Feed -----------------------------------------------------------------------------


def _json_feed(body: bytes, memo: _Memo) -> list[Entry]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"not a JSON feed: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise SourceError("not a JSON feed: no 'items' list")
    entries = []
    for item in doc["items"]:
        if not isinstance(item, dict):
            continue
        guid, link = _str(item.get("id")), _str(item.get("url"))
        published, updated = _str(item.get("date_published")), _str(item.get("date_modified"))
        digest = memo.digest(json.dumps(item, sort_keys=True).encode())
        if kept := memo.kept(guid, link, digest, published, updated):
            entries.append(kept)
            continue
        url = memo.url
        html = item.get("content_html")
        text = (
            html_to_text(html, url)
            if isinstance(html, str)
            else plain_to_text(str(item.get("content_text") or ""))
        )
        title = html_to_text(str(item.get("title") or ""))
        entries.append(
            _entry(
                guid,
                link,
                title,
                text or html_to_text(str(item.get("summary") or "")),
                published,
                updated,
                digest,
            )
        )
    return entries


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None


# RSS 2.0 and Atom 1.0 with lxml -------------------------------------------------------


def _xml_feed(body: bytes, memo: _Memo) -> list[Entry] | None:
    """Entries of well-formed RSS 2.0 or Atom 1.0; None for anything else."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        if "depth" in str(exc).lower():  # over libxml2's limit: feedparser would only be slower
            raise SourceError(f"XML nested too deeply ({exc})") from None
        return None
    except ValueError:
        return None
    if root.tag == "rss":
        channel = root.find("channel")
        return (
            [_rss_item(item, memo) for item in channel.iterfind("item")]
            if channel is not None
            else None
        )
    if root.tag == f"{ATOM}feed":
        return [_atom_entry(entry, memo) for entry in root.iterfind(f"{ATOM}entry")]
    return None


def _rss_item(item: etree._Element, memo: _Memo) -> Entry:
    fields: dict[str, etree._Element] = {}
    for child in item:
        if isinstance(child.tag, str):
            fields.setdefault(child.tag, child)

    def text(tag: str) -> str | None:
        element = fields.get(tag)
        return element.text if element is not None else None

    guid = text("guid")
    link = text("link")
    if not link and guid and fields["guid"].get("isPermaLink", "true") == "true" and "://" in guid:
        link = guid
    published = text("pubDate") or text(DC_DATE)
    digest = memo.digest(etree.tostring(item))
    if kept := memo.kept(guid, link, digest, published, None):
        return kept
    url = memo.url
    # The fullest text: the content, the description where the content is empty.
    body = html_to_text(text(CONTENT) or "", link or url) or html_to_text(
        text("description") or "", link or url
    )
    return _entry(
        guid,
        link,
        html_to_text(text("title") or ""),
        body,
        published,
        None,
        digest,
    )


def _atom_entry(entry: etree._Element, memo: _Memo) -> Entry:
    fields: dict[str, etree._Element] = {}
    link = None
    for child in entry:
        if child.tag == f"{ATOM}link":
            if link is None and child.get("rel", "alternate") == "alternate":
                link = child.get("href")
        elif isinstance(child.tag, str):
            fields.setdefault(child.tag, child)

    def text(tag: str) -> str | None:
        element = fields.get(f"{ATOM}{tag}")
        return element.text if element is not None else None

    digest = memo.digest(etree.tostring(entry))
    if kept := memo.kept(text("id"), link, digest, text("published"), text("updated")):
        return kept
    base = link or memo.url
    body = ""
    for tag in ("content", "summary"):  # the fullest text that is not empty
        element = fields.get(f"{ATOM}{tag}")
        if element is not None and (body := _atom_text(element, base)):
            break
    title = fields.get(f"{ATOM}title")
    return _entry(
        text("id"),
        link,
        _atom_text(title, base) if title is not None else "",
        body,
        text("published"),
        text("updated"),
        digest,
    )


def _atom_text(element: etree._Element, base: str | None) -> str:
    kind = element.get("type", "text")
    if kind == "xhtml":
        markup = "".join(
            etree.tostring(child, method="html", encoding="unicode") for child in _strip_ns(element)
        )
        return html_to_text(markup, base)
    if kind == "html":
        return html_to_text(element.text or "", base)
    return plain_to_text(element.text or "")


def _strip_ns(element: etree._Element) -> etree._Element:
    """A copy of an xhtml container without namespaces, so it serialises as plain HTML."""
    copy = etree.fromstring(etree.tostring(element))
    for node in copy.iter():
        if isinstance(node.tag, str) and node.tag.startswith(f"{{{XHTML}}}"):
            node.tag = node.tag.split("}", 1)[1]
    etree.cleanup_namespaces(copy)
    if len(copy) == 1 and copy[0].tag == "div":
        return copy[0]
    return copy


# Anything else with feedparser -------------------------------------------------------


def _feedparser(body: bytes, content_type: str | None, url: str | None) -> list[Entry]:
    import feedparser  # on first use: most processes never meet an unusual feed

    headers = {"content-type": content_type or "application/xml"}
    if url:
        headers["content-location"] = url
    parsed = feedparser.parse(
        body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    if not parsed.get("version") and not parsed.entries:
        if b"<html" in body[:4096].lower():
            raise SourceError("not a feed but an HTML page (for a live-blog page, use page:)")
        problem = parsed.get("bozo_exception")
        raise SourceError(f"not a feed ({problem})" if problem else "not a feed")
    return [_feedparser_entry(e, url) for e in parsed.entries]


def _feedparser_entry(e: Any, url: str | None) -> Entry:
    link = e.get("link")
    body = ""
    for detail in [*(e.get("content") or [])[:1], e.get("summary_detail") or {}]:
        value = detail.get("value") or ""
        kind = detail.get("type", "text/html")
        body = html_to_text(value, link or url) if "html" in kind else plain_to_text(value)
        if body:  # the fullest text that is not empty
            break
    title = e.get("title") or ""
    title_kind = (e.get("title_detail") or {}).get("type", "text/html")
    title = html_to_text(title) if "html" in title_kind else plain_to_text(title)
    # dict.get: FeedParserDict would map a missing "updated" to "published", with a warning.
    return _entry(e.get("id"), link, title, body, e.get("published"), dict.get(e, "updated"))
