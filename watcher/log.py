"""Logging: key=value lines on a terminal, JSON lines elsewhere, and for the journal short
lines with a `<N>` priority prefix (so that `journalctl -p warning` separates failures);
secrets always redacted.

Channel URLs carry tokens and passwords. Every secret known to the process is registered
here, and the formatter scrubs it from every line, whichever library logged it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

_SECRETS: set[str] = set()
_PATTERN: re.Pattern[str] | None = None
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
MASK = "***"


def add_secret(value: str) -> None:
    """Never print `value` in a log line again. Short values would mask common words."""
    global _PATTERN
    for form in {value, unquote(value)}:
        if len(form) >= 4 and form not in _SECRETS:
            _SECRETS.add(form)
            _PATTERN = None


def add_url_secrets(url: str, private_url: str | None = None) -> None:
    """Register the secret parts of a URL: its password, and every part of it that the
    masked form (`private_url`, from Apprise) hides."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        password = None
    if password:
        add_secret(password)
    if private_url is not None:
        for piece in re.split(r"[/:@?&=#,]+", url):
            if len(piece) >= 6 and piece not in private_url and unquote(piece) not in private_url:
                add_secret(piece)


def redact(text: str) -> str:
    global _PATTERN
    if not _SECRETS:
        return text
    if _PATTERN is None:
        alternatives = sorted(_SECRETS, key=len, reverse=True)
        _PATTERN = re.compile("|".join(map(re.escape, alternatives)))
    return _PATTERN.sub(MASK, text)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        parts = [f"{stamp} {record.levelname.lower():7} {record.getMessage()}"]
        for key, value in _fields(record).items():
            text = str(value)
            quoted = not text or any(c.isspace() for c in text)  # a newline too: one line
            parts.append(f"{key}={json.dumps(text) if quoted else text}")
        if record.exc_info:
            parts.append("\n" + self.formatException(record.exc_info))
        return redact(" ".join(parts))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **{
                k: v if isinstance(v, int | float | bool) else str(v)
                for k, v in _fields(record).items()
            },
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, ensure_ascii=False))


_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}  # syslog's


class JournalFormatter(KeyValueFormatter):
    """A line for journald: its syslog priority as a `<N>` prefix, no time and no level
    word (the journal stamps each line and keeps its priority), key=value fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record).split(None, 2)[2]  # without the time and the level
        prefix = f"<{_PRIORITY.get(record.levelname, 6)}>"
        return "\n".join(prefix + part for part in line.split("\n"))


def to_journal(stream: TextIO) -> bool:
    """Whether `stream` is the journal: systemd sets JOURNAL_STREAM to its device:inode."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


class _SchedulerSkips(logging.Filter):
    """APScheduler's "maximum number of running instances reached" as one short line
    that names the source."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances" in str(record.msg) and record.args:
            job = record.args[0] if isinstance(record.args, tuple) else None
            record.msg, record.args = "poll still running; this one skipped", ()
            record.source = getattr(job, "id", str(job))
        return True


def setup(level: str = "info", stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    formatter: logging.Formatter
    if to_journal(stream):
        formatter = JournalFormatter()
    else:
        formatter = KeyValueFormatter() if stream.isatty() else JsonFormatter()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apprise", "apscheduler", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").addFilter(_SchedulerSkips())
