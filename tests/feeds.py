"""Feeds and live-blog pages built from the seed, in every format the sources read."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from tests.helpers import SEED
from watcher.sources import textblog

START = datetime(2025, 2, 13, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    paragraphs: tuple[str, ...]
    published: datetime
    link: str | None = None

    @property
    def html(self) -> str:
        return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in self.paragraphs)

    def with_paragraph(self, text: str) -> Item:
        return replace(self, paragraphs=(*self.paragraphs, text))


def seed_items(site: str = "https://example.org/live") -> list[Item]:
    """The seed's six entries as feed items, newest first, a minute apart."""
    entries = textblog.parse(SEED.read_text(encoding="utf-8")).entries
    return [
        Item(
            id=f"{site}#block-{100 + len(entries) - i}",
            title=e.title,
            paragraphs=tuple(e.body.split("\n\n")),
            published=START - timedelta(minutes=i),
            link=f"{site}#block-{100 + len(entries) - i}",
        )
        for i, e in enumerate(entries)
    ]


def rss(items: list[Item], guid: bool = True, link: bool = True, content: bool = False) -> str:
    out = []
    for item in items:
        parts = [f"<title>{html.escape(item.title)}</title>"]
        if link and item.link:
            parts.append(f"<link>{html.escape(item.link)}</link>")
        if guid:
            parts.append(f'<guid isPermaLink="false">{html.escape(item.id)}</guid>')
        parts.append(f"<pubDate>{format_datetime(item.published)}</pubDate>")
        body = f"<![CDATA[{item.html}]]>"
        parts.append(
            f"<content:encoded>{body}</content:encoded>"
            if content
            else f"<description>{body}</description>"
        )
        out.append(f"<item>{''.join(parts)}</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        "<title>Live</title><link>https://example.org/live</link><description>d</description>"
        f"{''.join(out)}</channel></rss>"
    )


def atom(items: list[Item], content_type: str = "html") -> str:
    out = []
    for item in items:
        if content_type == "xhtml":
            content = f'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">{item.html}</div></content>'
        elif content_type == "text":
            text = html.escape("\n\n".join(item.paragraphs))
            content = f'<content type="text">{text}</content>'
        else:
            content = f'<content type="html">{html.escape(item.html)}</content>'
        out.append(
            f"<entry><id>{html.escape(item.id)}</id><title>{html.escape(item.title)}</title>"
            f'<link rel="alternate" href="{html.escape(item.link or "")}"/>'
            f"<published>{item.published.isoformat()}</published>"
            f"<updated>{item.published.isoformat()}</updated>{content}</entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Live</title><id>urn:live</id><updated>{START.isoformat()}</updated>"
        f"{''.join(out)}</feed>"
    )


def rdf(items: list[Item]) -> str:
    """RSS 1.0, which only feedparser reads."""
    out = "".join(
        f'<item rdf:about="{html.escape(i.id)}"><title>{html.escape(i.title)}</title>'
        f"<link>{html.escape(i.link or i.id)}</link>"
        f"<description>{html.escape(i.html)}</description>"
        f"<dc:date>{i.published.isoformat()}</dc:date></item>"
        for i in items
    )
    return (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<channel rdf:about="https://example.org/"><title>Live</title><link>https://example.org/</link>'
        f"<description>d</description></channel>{out}</rdf:RDF>"
    )


def json_feed(items: list[Item]) -> str:
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Live",
            "items": [
                {
                    "id": i.id,
                    "url": i.link,
                    "title": i.title,
                    "content_html": i.html,
                    "date_published": i.published.isoformat(),
                }
                for i in items
            ],
        }
    )


def guardian_page(items: list[Item], pinned: Item | None = None, json_ld: str = "") -> str:
    """A live-blog page in the Guardian's markup: article#block-… with header h2 and time."""

    def block(item: Item) -> str:
        block_id = item.id.rsplit("#", 1)[1]
        return (
            f'<article id="{block_id}" class="block">'
            f'<header><time datetime="{item.published.isoformat()}">{item.published:%H.%M}</time>'
            f"<h2>{html.escape(item.title)}</h2></header>"
            f'<div class="block-elements">{item.html}</div>'
            "<footer><button>Share</button></footer></article>"
        )

    pin = f'<div id="pinned-post">{block(pinned)}</div>' if pinned else ""
    return (
        "<!doctype html><html><head><title>Ukraine-Russia war latest</title>"
        f"{json_ld}</head><body><main>{pin}{''.join(block(i) for i in items)}</main></body></html>"
    )


def live_blog_json_ld(
    items: list[Item], copy_headline: bool = False, cut_bodies: bool = False
) -> str:
    """A JSON-LD LiveBlogPosting inside a @graph, as many sites publish it."""
    page_headline = "Ukraine-Russia war latest"
    updates = [
        {
            "@type": ["BlogPosting"],
            "@id": i.id,
            "url": i.link,
            "headline": page_headline if copy_headline else i.title,
            "articleBody": ("\n\n".join(i.paragraphs)[:40] + "…")
            if cut_bodies
            else "\n\n".join(i.paragraphs),
            "datePublished": i.published.isoformat(),
        }
        for i in items
    ]
    data = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebPage", "name": "x"},
            {
                "@type": ["LiveBlogPosting", "NewsArticle"],
                "headline": page_headline,
                "liveBlogUpdate": updates,
            },
        ],
    }
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'
