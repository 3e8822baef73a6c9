"""The `selectors:` of a page source, and the common live-blog markups tried without them."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, field_validator
from selectolax.lexbor import LexborHTMLParser, SelectolaxError


@dataclass(frozen=True)
class Markup:
    """One shape of live-blog entry element: its selector and the attribute of its id."""

    entry: str
    id: str = "id"
    # A generic shape (`main article[id]`) is tried only where the page shows it is a
    # live blog: on an ordinary article it matches teaser cards.
    generic: bool = False
    headline: str | None = None  # where the shape's headline is not a heading element


# Tried in this order; the first that finds entries wins.
DEFAULT_MARKUPS = (
    Markup('article[id^="block-"]'),  # the Guardian
    Markup("[data-ncpost-id]", "data-ncpost-id"),  # News Corp sites
    Markup("div.live-event-entry[id]"),  # Reach plc: Mirror, CorkBeo
    Markup("div.live-events__entry[id]"),  # Reach plc: Express
    Markup("section.liveblog__post[id]"),  # la Repubblica
    Markup('[data-component-name="live-story-post"]'),  # CNN
    Markup(".liveStoryPost"),  # CNN
    Markup('[data-testid="live-blog-post"]'),  # NYT, Sky
    Markup("article.live-story-post"),
    Markup("div.LiveBlogPost[id]"),
    Markup('article[data-testid="content-post"]'),
    Markup('div[id^="post-"]:has(amp-timeago)'),  # the Independent
    Markup('li.liv-blg_li[id$="_parent"]', headline=".liv-blg_ttl"),  # NDTV
    Markup("div.coventry[id]", headline=".coventry__header"),  # WP SportoweFakty
    Markup(".liveblog-entry"),
    Markup("main article[id]", generic=True),
)


class PageSelectors(BaseModel):
    """CSS selectors for a page's entries; `entry` unset tries the common markups.

    `split` describes a flat ticker instead: one heading per entry, whose body is the
    sibling elements up to the next heading.
    """

    model_config = ConfigDict(extra="forbid")

    entry: str | None = None
    split: str | None = None
    id: str | None = None  # the attribute that holds an entry's id
    headline: str | None = None  # default: the markup's, else the first heading
    body: str | None = None
    published: str = "time[datetime], amp-timeago[datetime], time[data-time]"
    updated: str | None = None
    pinned: str = "#pinned-post, .pinned-post, [data-pinned], .is-pinned"

    @field_validator("entry", "split", "headline", "body", "published", "updated", "pinned")
    @classmethod
    def _valid_css(cls, selector: str | None) -> str | None:
        if selector is not None:
            try:
                LexborHTMLParser("<p></p>").css(selector)
            except SelectolaxError:
                raise ValueError(f"invalid CSS selector {selector!r}") from None
        return selector
