"""`feed:` sources: an RSS 2.0, Atom or JSON Feed document over HTTP.

A feed shows only its latest items, so its snapshots are windows: an item that drops off
the end is not a removal.
"""

from __future__ import annotations

from pydantic import Field

from watcher.model import Snapshot
from watcher.sources.base import Fetched, SourceConfig, SourceKind, Target
from watcher.sources.feedformats import parse_feed

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)


class FeedSourceConfig(SourceConfig):
    feed: str = Field(pattern=r"^https?://", description="the feed's URL")


class FeedSource(SourceKind):
    config: FeedSourceConfig

    def targets(self) -> list[Target]:
        return [Target(self.config.name, self.config.name, self.config.feed)]

    async def fetch(self, target: Target, etag: str | None, last_modified: str | None) -> Fetched:
        return await self.context.http.get(target.location, etag, last_modified, ACCEPT)

    def parse(self, fetched: Fetched, target: Target) -> Snapshot:
        body = fetched.body or b""
        return parse_feed(body, fetched.content_type, fetched.url or target.location)
