"""Channels: named sets of Apprise URLs, with what each service answered.

A send is a success only when every service of the channel accepted the message; Apprise's
per-service results say which did not and why, with secrets redacted.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import apprise

from watcher import log
from watcher.notify import console  # noqa: F401  (registers console://)
from watcher.notify.render import Format

FORMATS = {"text": apprise.NotifyFormat.TEXT, "markdown": apprise.NotifyFormat.MARKDOWN}


@contextmanager
def _quiet() -> Iterator[None]:
    """Apprise logs unparseable URLs in full, secrets and all; we say it our own way."""
    logger = logging.getLogger("apprise")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _instantiate(url: str) -> apprise.NotifyBase | None:
    with _quiet():
        plugin = apprise.Apprise.instantiate(url)
    return plugin if isinstance(plugin, apprise.NotifyBase) else None


def check_url(url: str) -> str | None:
    """Why Apprise cannot use `url`, or None when it can."""
    if _instantiate(url) is None:
        scheme = url.split("://", 1)[0] if "://" in url else url[:0]
        return f"Apprise cannot use this URL ({scheme}://…)" if scheme else "not a URL"
    return None


@dataclass(frozen=True, slots=True)
class Sent:
    ok: bool
    detail: str


class Channel:
    def __init__(self, name: str, urls: Sequence[str]) -> None:
        self.name = name
        self._apprise = apprise.Apprise()
        self.safe_urls: list[str] = []
        for url in urls:
            plugin = _instantiate(url)
            if plugin is None:  # config validation rejects these; be safe all the same
                raise ValueError(f"channel {name}: {check_url(url)}")
            private = str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
            log.add_url_secrets(url, private)
            self.safe_urls.append(private)
            self._apprise.add(plugin)

    @property
    def format(self) -> Format:
        if self.safe_urls and all(u.startswith("console://") for u in self.safe_urls):
            return "ansi" if sys.stdout.isatty() else "text"
        return "markdown"

    def send(self, title: str, body: str) -> Sent:
        fmt = FORMATS.get(self.format, apprise.NotifyFormat.TEXT)
        result = self._apprise.notify(body=body, title=title, body_format=fmt)
        answers = []
        for service in result.results:
            answer = f"{service.name}: {service.status.name.lower()}"
            if not service:
                said = [entry.message for entry in service.logs()]
                answer += f" ({said[-1]})" if said else ""
            answers.append(answer)
        ok = bool(result) and all(result.results)
        return Sent(ok, log.redact("; ".join(answers) or result.status.name.lower()))
