"""Channels: named sets of Apprise URLs, with what each service answered.

A send is a success only when every service of the channel accepted the message; Apprise's
per-service results say which did not and why, with secrets redacted.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import apprise

from watcher import log
from watcher.notify import console  # noqa: F401  (registers console://)
from watcher.notify.escape import Format

FORMATS = {
    "text": apprise.NotifyFormat.TEXT,
    "ansi": apprise.NotifyFormat.TEXT,
    "markdown": apprise.NotifyFormat.MARKDOWN,
    "html": apprise.NotifyFormat.HTML,
}
EMAIL_SCHEMES = ("mailto://", "mailtos://")
# Where each kind of service carries a message's key (Apprise's class names).
_WEBHOOK = "Idempotency-Key"  # the IETF httpapi draft's name
KEY_HEADERS = {
    "NotifyJSON": _WEBHOOK,
    "NotifyXML": _WEBHOOK,
    "NotifyForm": _WEBHOOK,
    "NotifyEmail": "X-Watcher-Key",
}


class _Said(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _quiet() -> Iterator[_Said]:
    """Apprise logs unparseable URLs in full, secrets and all; we say it our own way,
    with its reason (the warnings it logs) in hand."""
    logger = logging.getLogger("apprise")
    level, propagate, said = logger.level, logger.propagate, _Said()
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    logger.addHandler(said)
    try:
        yield said
    finally:
        logger.removeHandler(said)
        logger.setLevel(level)
        logger.propagate = propagate


def _instantiate(url: str) -> tuple[apprise.NotifyBase | None, list[str]]:
    with _quiet() as said:
        plugin = apprise.Apprise.instantiate(url)
    return (plugin if isinstance(plugin, apprise.NotifyBase) else None), said.messages


def _reason(message: str, url: str) -> str:
    """Apprise's warning without the URL's own words in it (a token it calls invalid
    is still a token)."""
    for part in re.split(r"[/:?&=@#]+", url.split("://", 1)[-1]):
        if len(part) >= 3:
            message = message.replace(part, "…")
    return message.replace("~", "").strip().rstrip(":.").strip()


def check_url(url: str) -> str | None:
    """Why Apprise cannot use `url`, or None when it can."""
    plugin, said = _instantiate(url)
    if plugin is not None:
        return None
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if not scheme:
        return "not a URL"
    problem = f"Apprise cannot use this URL ({scheme}://…)"
    reasons = [_reason(m, url) for m in said if not m.startswith(("Could not load", "Unparse"))]
    if reasons:
        problem += f": {reasons[0]}"
    elif any(m.startswith("Unparse") for m in said):
        problem += ": no service of that name, or the URL is not written as it expects"
    if url.startswith(EMAIL_SCHEMES) and "from=" not in url:
        problem += " (say who sends: ?from=watcher@example.org)"
    return problem


@dataclass(frozen=True, slots=True)
class Sent:
    ok: bool
    answers: tuple[str, ...]  # what each service of the channel answered

    @property
    def detail(self) -> str:
        return "; ".join(self.answers)


class Channel:
    def __init__(self, name: str, urls: Sequence[str], fmt: Format | None = None) -> None:
        self.name = name
        self._format = fmt
        self._apprise = apprise.Apprise()
        self._lock = threading.Lock()  # a key set on a service holds for one send
        self.safe_urls: list[str] = []
        for url in urls:
            plugin, _ = _instantiate(url)
            if plugin is None:  # config validation rejects these; be safe all the same
                raise ValueError(f"channel {name}: {check_url(url)}")
            private = str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
            log.add_url_secrets(url, private)
            self.safe_urls.append(private)
            self._apprise.add(plugin)

    @contextmanager
    def _keyed(self, key: str | None) -> Iterator[None]:
        with self._lock:
            keyed = []
            for plugin in self._apprise:
                header = KEY_HEADERS.get(type(plugin).__name__)
                headers = getattr(plugin, "headers", None)
                # A header the URL sets itself (`+Idempotency-Key=…`) is the user's: kept.
                if key and header and isinstance(headers, dict) and header not in headers:
                    headers[header] = key
                    keyed.append((headers, header))
            try:
                yield
            finally:
                for headers, header in keyed:
                    headers.pop(header, None)

    @property
    def format(self) -> Format:
        """The configured format, else: the terminal's for the console, HTML for a channel
        with email (with a plain-text part), markdown for the rest (Slack and the like).

        With email, HTML even beside other services: the email then carries the HTML
        rendered here, with feed text escaped once, rather than what Python-Markdown makes
        of markdown; Apprise turns the HTML into markdown for Slack with `<`, `>` and `&`
        escaped."""
        if self.safe_urls and all(u.startswith("console://") for u in self.safe_urls):
            return "ansi" if sys.stdout.isatty() else "text"
        if self._format is not None:
            return self._format
        if any(u.startswith(EMAIL_SCHEMES) for u in self.safe_urls):
            return "html"
        return "markdown"

    def send(self, title: str, body: str, key: str | None = None) -> Sent:
        """Sends to every service; a success only if every one of them accepted it.

        `key` names the message across its tries, in a header where the service has
        headers (KEY_HEADERS): a receiver that has seen it can drop a second copy."""
        with self._keyed(key):
            result = self._apprise.notify(body=body, title=title, body_format=FORMATS[self.format])
        answers = []
        for service in result.results:
            answer = f"{service.name}: {service.status.name.lower()}"
            said = [entry.message for entry in service.logs()]
            if said and not service:
                answer += f" ({said[-1]})"
            answers.append(log.redact(answer))
        ok = bool(result) and all(result.results)
        return Sent(ok, tuple(answers) or (result.status.name.lower(),))
