"""`feed:` sources: an RSS 2.0, Atom or JSON Feed document over HTTP.

A feed shows only its latest items, so its snapshots are windows: an item that drops off
the end is not a removal.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from pydantic import Field

from watcher.model import Snapshot, Target
from watcher.sources.base import Fetched, Parser, SourceConfig
from watcher.sources.feedformats import parse_feed
from watcher.sources.http import WebSource


class FeedSourceConfig(SourceConfig):
    feed: str = Field(pattern=r"^https?://", description="the feed's URL")


class FeedSource(WebSource):
    key = "feed"
    model = FeedSourceConfig
    config: FeedSourceConfig
    accept = (
        "application/rss+xml, application/atom+xml, application/feed+json, "
        "application/json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
    )

    @property
    def url(self) -> str:
        return self.config.feed

    def parser(self, known: Mapping[str, str]) -> Parser:
        return functools.partial(parse_fetched_feed, dict(known))


def parse_fetched_feed(known: dict[str, str], fetched: Fetched, target: Target) -> Snapshot:
    body = fetched.body or b""
    return parse_feed(body, fetched.content_type, fetched.url or target.location, known)
