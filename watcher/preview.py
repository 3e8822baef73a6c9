"""`watcher preview`: what watcher would make of one page or feed, with nothing stored.

It is how a user adds a live blog with confidence: which strategy found the entries and
why, the entries (id, time, headline, first words), what looked wrong (cut JSON-LD, copied
headlines, an invalid block), and, given a config, which rules would tag each entry.
Everything printed comes from the page, so it goes through `printable` first.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from selectolax.lexbor import LexborHTMLParser

from watcher.config import Config
from watcher.configfile import ConfigError
from watcher.model import Change, Entry, Kind
from watcher.rules import Ruleset
from watcher.sources.base import SourceError
from watcher.sources.feedformats import parse_feed
from watcher.sources.http import FetchConfig, HttpFetcher
from watcher.sources.liveblog import Extraction, PageSelectors, extract
from watcher.sources.page import decode_html
from watcher.text import printable

WORDS = 24  # of each body, in the text output
NAME = "preview"  # the source name rules see, for a location no source of the config has


@dataclass(frozen=True)
class Preview:
    location: str
    kind: str  # "page" or "feed"
    title: str = ""
    strategy: str = ""
    warnings: tuple[str, ...] = ()
    entries: tuple[Entry, ...] = ()
    tags: tuple[tuple[str, ...], ...] = ()  # per entry, when rules were given
    error: str | None = None
    source: str = NAME  # the source the rules were run as: the config's, if it has this URL


def preview(location: str, selectors: PageSelectors | None, config: Config | None) -> Preview:
    """Reads `location` (a URL or a file) and extracts it; never raises SourceError."""
    source, configured = _configured(location, config)
    selectors = selectors or configured
    fetch = config.fetch if config is not None else FetchConfig()
    try:
        body, content_type, url = _read(location, fetch)
    except SourceError as exc:
        return Preview(location, "page", error=str(exc), source=source)
    kind = "feed" if _is_feed(body, content_type) else "page"
    try:
        if kind == "feed":
            snapshot = parse_feed(body, content_type, url)
            found = Extraction(snapshot.entries, snapshot.title, "a feed: each item is an entry")
        else:
            found = extract(decode_html(body, content_type), url, selectors or PageSelectors())
    except (SourceError, ValueError) as exc:
        return Preview(location, kind, error=str(exc), source=source)
    tags: tuple[tuple[str, ...], ...] = ()
    if config is not None and config.rules:
        rules = Ruleset(config.rules, config.notify)
        tags = tuple(
            rules.tag(Change(Kind.NEW, e.key or "", e), source).tags for e in found.entries
        )
    return Preview(
        location,
        kind,
        found.title,
        found.strategy,
        found.warnings,
        found.entries,
        tags,
        source=source,
    )


def parse_selectors(text: str | None) -> PageSelectors | None:
    """`--selectors '{entry: div.post, headline: h3}'`: a page source's `selectors:`."""
    import yaml
    from pydantic import ValidationError

    if text is None:
        return None
    try:
        value = yaml.safe_load(text)
        return PageSelectors.model_validate(value if value is not None else {})
    except yaml.YAMLError as exc:
        reason = getattr(exc, "problem", None) or exc
        raise ConfigError([f"--selectors: not YAML: {reason}"]) from None
    except ValidationError as exc:
        problems = [
            f"--selectors: {'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise ConfigError(problems) from None


def _configured(location: str, config: Config | None) -> tuple[str, PageSelectors | None]:
    """The name and selectors of the config's source for `location`, if it has one."""
    for source in config.sources if config is not None else []:
        if getattr(source, "page", None) == location:
            return source.name, getattr(source, "selectors", None)
        if getattr(source, "feed", None) == location:
            return source.name, None
    return NAME, None


def _read(location: str, fetch: FetchConfig) -> tuple[bytes, str | None, str]:
    """(body, content type, URL the body came from), as a poll would read it."""
    if location.startswith(("http://", "https://")):

        async def get() -> tuple[bytes, str | None, str]:
            fetcher = HttpFetcher(fetch)
            try:
                fetched = await fetcher.get(location, None, None, "text/html, */*;q=0.8")
            finally:
                await fetcher.aclose()
            return fetched.body or b"", fetched.content_type, fetched.url or location

        return asyncio.run(get())
    path = Path(location)
    try:
        with path.open("rb") as file:
            body = file.read(fetch.max_bytes + 1)
    except OSError as exc:
        raise SourceError(f"cannot read {location}: {exc.strerror or exc}") from None
    if len(body) > fetch.max_bytes:
        raise SourceError(f"{location} is larger than fetch.max_bytes ({fetch.max_bytes})")
    return body, None, _canonical(body) or path.resolve().as_uri()


def _canonical(body: bytes) -> str | None:
    """A saved page's own URL (`<link rel=canonical>`), against which its links resolve."""
    found = LexborHTMLParser(body[:65536]).css_first('link[rel="canonical"]')
    href = found.attributes.get("href") if found is not None else None
    return href if href and href.startswith(("http://", "https://")) else None


def _is_feed(body: bytes, content_type: str | None) -> bool:
    kind = (content_type or "").lower()
    if "html" in kind:
        return False
    if any(word in kind for word in ("rss", "atom", "feed+json", "json", "xml")):
        return True
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"{"):
        return True
    return (head.startswith(b"<?xml") and b"<html" not in head) or head.startswith(
        (b"<rss", b"<feed", b"<rdf")
    )


def write_text(found: Preview, out: TextIO) -> None:
    out.write(f"{printable(found.location)}  ({found.kind})\n")
    if found.error is not None:
        out.write(f"nothing found: {printable(found.error)}\n")
        return
    if found.title:
        out.write(f"title: {printable(found.title)}\n")
    out.write(f"found by: {printable(found.strategy)}\n")
    for warning in found.warnings:
        out.write(f"warning: {printable(warning)}\n")
    out.write(f"{len(found.entries)} entries, newest first:\n")
    for n, entry in enumerate(found.entries, 1):
        when = entry.published or entry.updated or "no time"
        out.write(f"{n:>4}. {printable(entry.key or '(no id)')}  {printable(when)}\n")
        out.write(f"      {printable(entry.title) if entry.title else '(no headline)'}\n")
        words = entry.body.split()
        more = " …" if len(words) > WORDS else ""
        out.write(f"      {printable(' '.join(words[:WORDS]))}{more}\n")
        if found.tags:
            out.write(f"      tags: {', '.join(found.tags[n - 1]) or '(none)'}\n")


def write_json(found: Preview, out: TextIO) -> None:
    entries = [
        {
            "key": e.key,
            "url": e.url,
            "published": e.published,
            "updated": e.updated,
            "title": e.title,
            "body": e.body,
            **({"tags": list(found.tags[n])} if found.tags else {}),
        }
        for n, e in enumerate(found.entries)
    ]
    document = {
        "location": found.location,
        "kind": found.kind,
        "source": found.source,
        "title": found.title,
        "strategy": found.strategy,
        "warnings": list(found.warnings),
        "error": found.error,
        "entries": entries,
    }
    out.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
