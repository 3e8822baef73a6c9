"""Text from sources made safe for the format it goes out in.

Whoever writes a watched feed writes this text: it is data, never markup. It is stripped
of control and bidi characters and escaped for HTML or markdown (Slack's `<!channel>`,
`<@U…>` and `<url|text>` included); only http(s) URLs become links.
"""

from __future__ import annotations

import html
import re
from typing import Literal
from urllib.parse import quote, urlsplit

from watcher.text import printable

Format = Literal["text", "markdown", "html", "ansi"]

# Markdown that text could use to become markup: HTML, autolinks and Slack's <!channel>,
# <@U…> and <url|text> (`<`, `>`), links and images (`[`, `]`), emphasis and code that
# would pair with the alert's own marks, headings, and the backslash itself. An `_` inside
# a word (snake_case, URLs) is no emphasis and stays as it is; a `&` that would read as an
# entity is spelled as one.
_MARKDOWN = re.compile(r"[\\`*~\[\]<>]|(?<![^\W_])_|_(?![^\W_])|^[ \t]*#|&(?=#?\w+;)", re.MULTILINE)
# What a URL may not carry unencoded: what would end it early or be read as markup. Past
# the host, brackets too: Python-Markdown reads `[x](y)` as a link even inside `<url>`.
_URL_UNSAFE = re.compile(r"[\s<>\"'`\\^{|}]")
_PATH_UNSAFE = re.compile(r"[\[\]]")


def http_url(url: str | None) -> str:
    """`url` when it is http(s), ready to be a link target, else "": javascript:, data:
    and the like run code or reach local files when clicked."""
    encoded = _URL_UNSAFE.sub(_percent, printable(url or "").strip())
    try:
        parts = urlsplit(encoded)
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    host_end = len(parts.scheme) + len("://") + len(parts.netloc)
    return encoded[:host_end] + _PATH_UNSAFE.sub(_percent, encoded[host_end:])


def _percent(found: re.Match[str]) -> str:
    return quote(found[0], safe="")


def escape(text: str, fmt: Format) -> str:
    text = printable(text)
    if fmt == "html":
        return html.escape(text)
    if fmt == "markdown":
        return _MARKDOWN.sub(_markdown_escape, text)
    return text


def _markdown_escape(found: re.Match[str]) -> str:
    # A backslash escape, which Slack's converter in Apprise turns into its own (`\<` to
    # `&lt;`) and the email's Python-Markdown honours for every punctuation mark.
    char = found[0]
    return "&amp;" if char == "&" else f"{char[:-1]}\\{char[-1]}"


def link(url: str | None, fmt: Format) -> str:
    """The entry's link as `fmt` shows it: in markdown an autolink, inside which no reader
    looks for markup (nor Slack, to which Apprise passes it as `<url>`)."""
    target = http_url(url)
    if target and fmt == "markdown":
        return f"<{target}>"
    return html.escape(target) if fmt == "html" else target
