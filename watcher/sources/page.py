"""`page:` sources: an HTML live-blog page over HTTP.

Pages paginate, so a snapshot is a window: an entry that drops off the end is not a
removal. Entries without ids fall back to the text matching of plain-text sources.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from pydantic import Field

from watcher.model import Snapshot, Target
from watcher.sources.base import Fetched, Parser, SourceConfig
from watcher.sources.http import WebSource
from watcher.sources.liveblog import PageSelectors, parse_page


class PageSourceConfig(SourceConfig):
    page: str = Field(pattern=r"^https?://", description="the live blog's URL")
    selectors: PageSelectors = PageSelectors()


class PageSource(WebSource):
    key = "page"
    model = PageSourceConfig
    config: PageSourceConfig
    accept = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"

    @property
    def url(self) -> str:
        return self.config.page

    def parser(self, known: Mapping[str, str]) -> Parser:
        return functools.partial(parse_fetched_page, self.config.selectors)


def parse_fetched_page(selectors: PageSelectors, fetched: Fetched, target: Target) -> Snapshot:
    markup = decode_html(fetched.body or b"", fetched.content_type)
    return parse_page(markup, fetched.url or target.location, selectors)


def decode_html(body: bytes, content_type: str | None) -> str:
    """The page's text, in the charset its header or its <meta> names, else UTF-8."""
    charset = _charset(content_type or "")
    if charset is None:
        head = body[:4096].decode("ascii", "replace")
        found = _META_CHARSET.search(head)
        charset = found.group(1) if found else None
    try:
        return body.decode(charset or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", "replace")


def _charset(content_type: str) -> str | None:
    found = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.I)
    return found.group(1) if found else None


_META_CHARSET = re.compile(r"<meta[^>]+charset=[\"']?([\w.:-]+)", re.I)
