"""Alerts as people read them: a title and a body in text, markdown, HTML or a terminal.

Pure functions. Matches are highlighted (bold in markdown, HTML and on a terminal,
unmarked in plain text); an update shows its word diff: `[-deleted-]` and `{+inserted+}`
in text, `<del>`/`<ins>` in HTML, struck through and italic in markdown. Titles and bodies
come from Jinja2 templates, a channel's own or the defaults below.

Whoever writes a watched feed writes the text here: it is data, never markup. Every piece
of it goes through escape.py for the body's format.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from watcher.model import Alert, DiffOp, Kind, Match
from watcher.notify.escape import Format, escape, link
from watcher.sanitize import CUT, cut
from watcher.sources.dates import timestamp
from watcher.text import first_sentence, printable

if TYPE_CHECKING:
    import jinja2

CONTEXT = 240  # characters of unchanged text kept on each side of a change
EXCERPT = 300  # characters of an entry's text in a digest

# In HTML the change marks are also spelled out in hidden text, so that the plain-text
# part that mail clients show (Apprise derives it from the HTML) still marks them.
_HIDDEN = '<span style="display:none">{}</span>'


@dataclass(frozen=True)
class Style:
    match: tuple[str, str]
    inserted: tuple[str, str]
    deleted: tuple[str, str]


STYLES: dict[Format, Style] = {
    "text": Style(("", ""), ("{+", "+}"), ("[-", "-]")),
    "markdown": Style(("**", "**"), ("_", "_"), ("~~", "~~")),
    "ansi": Style(("\x1b[1m", "\x1b[22m"), ("\x1b[32m", "\x1b[39m"), ("\x1b[31;9m", "\x1b[39;29m")),
    "html": Style(
        ("<b>", "</b>"),
        ("<ins>" + _HIDDEN.format("{+"), _HIDDEN.format("+}") + "</ins>"),
        ("<del>" + _HIDDEN.format("[-"), _HIDDEN.format("-]") + "</del>"),
    ),
}
# HTML on a page of our own (the desk): its stylesheet marks the changes, and no plain-text
# part is derived from it.
WEB = Style(("<mark>", "</mark>"), ("<ins>", "</ins>"), ("<del>", "</del>"))
LABELS = {
    Kind.NEW: "New",
    Kind.UPDATED: "Updated",
    Kind.REMOVED: "Removed",
    Kind.DOWN: "Source down",
    Kind.UP: "Source back",
    Kind.FLOOD: "Too many changes",
}

DEFAULT_TITLE = "{{ label }}: {{ title }}"
DEFAULT_BODY = """\
{% if blog %}{{ blog }} ({{ sources | join(", ") }}){% else %}{{ sources | join(", ") }}{% endif %}
{%- if published %} · {{ published }}{% endif %}{% if tags %} · {{ tags | join(", ") }}{% endif %}
{%- if url %}
{{ url }}{% endif %}

{{ diff or text }}"""
DEFAULT_HTML_BODY = """\
<p><b>{% if blog %}{{ blog }}</b> ({{ sources | join(", ") }}){% else %}\
{{ sources | join(", ") }}</b>{% endif %}
{%- if published %} · {{ published }}{% endif %}{% if tags %} · {{ tags | join(", ") }}{% endif %}
{%- if url %}<br><a href="{{ url }}">{{ url }}</a>{% endif %}</p>
{{ diff or text }}"""
# A sample alert, for trying templates at `validate` and for `watcher test-notify`.
_SAMPLE_TITLE = "Kremlin says Putin and Trump may speak again by phone"
_SAMPLE_OLD = "The Kremlin has said that Putin and Trump may speak again over the phone."
_SAMPLE_NEW = "Talks could take place in Riyadh."
_SAMPLE_AT = len(_SAMPLE_TITLE) + 2 + _SAMPLE_OLD.index("Putin")
SAMPLE = Alert(
    source="sample/live-blog",
    kind=Kind.UPDATED,
    key="sample-entry",
    title=_SAMPLE_TITLE,
    body=f"{_SAMPLE_OLD}\n\n{_SAMPLE_NEW}",
    url="https://example.org/live#block-1",
    tags=("Putin",),
    matches=(Match("Putin", _SAMPLE_AT, _SAMPLE_AT + 5, "Putin"),),
    diff=((0, f"{_SAMPLE_TITLE}\n\n{_SAMPLE_OLD}\n\n"), (1, _SAMPLE_NEW)),
    created_at=0.0,
    event_id=0,
)


def when(stamp: str | None) -> str:
    """An entry's time as a desk reads it, `2025-02-13 10:00 UTC`, from what the source
    wrote (ISO 8601 or RFC 822); as written when it cannot be read, "" when none."""
    if not stamp:
        return ""
    seconds = timestamp(stamp)
    if seconds is None:
        return stamp
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def clipped(alert: Alert, limit: int) -> Alert:
    """The alert with at most `limit` characters of entry text, and of inserted and
    deleted text: a 9 MB entry must not become a 9 MB message. A cut is marked; matches
    past it are not shown."""
    diff: list[DiffOp] = []
    room = limit
    for op, text in alert.diff:
        if op != 0 and len(text) > room:
            diff.append((op, cut(text, max(room, len(CUT) + 1))))
            break
        diff.append((op, text))
        room -= len(text) if op != 0 else 0
    body = cut(alert.body, limit)
    if body is alert.body and len(diff) == len(alert.diff):
        return alert
    return dataclasses.replace(alert, body=body, diff=tuple(diff))


def headline(alert: Alert) -> str:
    if alert.kind in (Kind.DOWN, Kind.UP, Kind.FLOOD):
        return alert.source
    return alert.title or first_sentence(alert.body) or alert.key


def _paragraphs(marked: str, fmt: Format) -> str:
    if fmt != "html":
        return marked
    # One paragraph a line: the plain-text part Apprise derives from the HTML keeps a
    # blank line between paragraphs only where the HTML has a line break between them.
    blocks = [b.replace("\n", "<br>") for b in marked.split("\n\n") if b.strip()]
    return "\n".join(f"<p>{b}</p>" for b in blocks)


def body_text(
    alert: Alert, fmt: Format, limit: int | None = None, style: Style | None = None
) -> str:
    """The entry's text (the headline is the title) with matches highlighted."""
    if alert.kind is Kind.DOWN:
        return _paragraphs(escape(f"{alert.source} failed: {alert.body}", fmt), fmt)
    if alert.kind is Kind.UP:
        return _paragraphs(escape(f"{alert.source} is polled successfully again.", fmt), fmt)
    if alert.kind is Kind.FLOOD:
        held = (
            f"{alert.source}: {alert.body}. The poll is held; if the next poll confirms it, "
            "its changes are stored without an alert for each."
        )
        return _paragraphs(escape(held, fmt), fmt)
    body = alert.body
    if limit is not None and len(body) > limit:
        body = body[:limit].rsplit(" ", 1)[0] + " …"
    spans = sorted((m.start, m.end) for m in alert.matches if not m.old)
    offset = len(alert.document) - len(alert.body)
    return _paragraphs(_mark(body, offset, spans, (style or STYLES[fmt]).match, fmt), fmt)


def render_diff(
    diff: Sequence[DiffOp],
    matches: Iterable[Match] = (),
    fmt: Format = "text",
    cut: bool = True,
    style: Style | None = None,
) -> str:
    """The new text with its changes marked; long unchanged stretches cut to their ends,
    unless `cut` is False."""
    style = style or STYLES[fmt]
    new_spans = sorted((m.start, m.end) for m in matches if not m.old)
    old_spans = sorted((m.start, m.end) for m in matches if m.old)
    out: list[str] = []
    old_pos = new_pos = 0
    for i, (op, text) in enumerate(diff):
        if op == 0 and not cut:
            out.append(_mark(text, new_pos, new_spans, style.match, fmt))
            old_pos += len(text)
            new_pos += len(text)
        elif op == 0:
            out.append(_elide(text, new_pos, new_spans, fmt, i == 0, i == len(diff) - 1))
            old_pos += len(text)
            new_pos += len(text)
        elif op > 0:
            out.append(_wrap(_mark(text, new_pos, new_spans, style.match, fmt), style.inserted))
            new_pos += len(text)
        else:
            out.append(_wrap(_mark(text, old_pos, old_spans, style.match, fmt), style.deleted))
            old_pos += len(text)
    return _paragraphs("".join(out), fmt)


def context(alert: Alert, fmt: Format, sources: Sequence[str] = ()) -> dict[str, Any]:
    """The tokens templates see, each already escaped for `fmt` (and `text` and `diff`
    marked in it), so that a template cannot let a feed's text through as markup."""
    updated = alert.kind is Kind.UPDATED and bool(alert.diff)
    wrap = Markup if fmt == "html" else str

    def escaped(text: str) -> str:
        return wrap(escape(text, fmt))

    return {
        "source": escaped(alert.source),
        "blog": escaped(alert.blog),
        "published": escaped(when(alert.published)),
        "sources": [escaped(s) for s in list(sources) or [alert.source]],
        "kind": alert.kind.value,
        "label": LABELS[alert.kind],
        "title": escaped(headline(alert)),
        "url": wrap(link(alert.url, fmt)),
        "tags": [escaped(t) for t in alert.tags],
        "matches": [escaped(text) for text in dict.fromkeys(m.text for m in alert.matches)],
        "text": wrap(body_text(alert, fmt)),
        "diff": wrap(render_diff(alert.diff, alert.matches, fmt)) if updated else "",
        "time": alert.created_at,
        "event_id": alert.event_id,
    }


@lru_cache(maxsize=256)
def template(source: str, fmt: Format) -> jinja2.Template:
    """A compiled template; raises jinja2.TemplateSyntaxError. Jinja2 loads on first use:
    `check` and channels with the default layout never need it."""
    import jinja2

    env = jinja2.Environment(
        autoescape=fmt == "html", undefined=jinja2.StrictUndefined, keep_trailing_newline=False
    )
    return env.from_string(source)


def check_template(source: str, fmt: Format) -> None:
    """Raises ValueError saying what is wrong with a template, if anything is."""
    import jinja2

    try:
        template(source, fmt).render(context(SAMPLE, fmt))
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"template error: {exc.message} (template line {exc.lineno})") from None
    except jinja2.TemplateError as exc:
        raise ValueError(f"template error: {exc.message or exc}") from None


def render(
    alert: Alert,
    fmt: Format,
    title: str | None = None,
    body: str | None = None,
    sources: Sequence[str] = (),
) -> tuple[str, str]:
    """(title, body) of one alert, from the given templates or the defaults. The title is
    plain text in every format: a subject line, a Slack header, a webhook's field."""
    title_template = template(title or DEFAULT_TITLE, "text")
    default_body = DEFAULT_HTML_BODY if fmt == "html" else DEFAULT_BODY
    body_template = template(body or default_body, fmt)
    heading = title_template.render(context(alert, "text", sources))
    return " ".join(heading.split()), body_template.render(context(alert, fmt, sources)).strip()


def render_digest(groups: Sequence[Sequence[Alert]], fmt: Format) -> tuple[str, str]:
    """One message for several alerts (each group: one alert seen on several sources)."""
    sources = list(dict.fromkeys(a.source for group in groups for a in group))
    # The subject names the first headline and how many more: a desk reads it in a list.
    top = groups[0][0]
    more = f" and {len(groups) - 1} more" if len(groups) > 1 else ""
    where = ", ".join(sources[:3]) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")
    title = printable(f"{LABELS[top.kind]}: {headline(top)}{more} · {where}")
    parts = []
    for group in groups:
        alert = group[0]
        about = ", ".join(dict.fromkeys(a.source for a in group))
        if alert.blog:
            about = f"{alert.blog} ({about})"
        if alert.published:
            about += f" · {when(alert.published)}"
        if alert.tags:
            about += " · " + ", ".join(alert.tags)
        if alert.kind is Kind.UPDATED and alert.diff:
            text = render_diff(alert.diff, alert.matches, fmt)
        else:
            text = body_text(alert, fmt, EXCERPT)
        heading = escape(f"{LABELS[alert.kind]}: {headline(alert)}", fmt)
        about, url = escape(about, fmt), link(alert.url, fmt)
        if fmt == "html":
            anchor = f'<br><a href="{url}">{url}</a>' if url else ""
            parts.append(f"<h3>{heading}</h3><p>{about}{anchor}</p>{text}")
        else:
            heading = f"**{heading}**" if fmt == "markdown" else heading
            parts.append("\n".join(filter(None, [heading, about, url, "", text])))
    separator = "<hr>" if fmt == "html" else "\n\n" + "─" * 20 + "\n\n"
    return title, separator.join(parts)


def _elide(
    text: str, offset: int, spans: list[tuple[int, int]], fmt: Format, first: bool, last: bool
) -> str:
    marks = STYLES[fmt].match
    head = "" if first else text[:CONTEXT]
    tail = "" if last else text[-CONTEXT:]
    if len(text) <= len(head) + len(tail) + 20:
        return _mark(text, offset, spans, marks, fmt)
    if head:
        head = head.rsplit(" ", 1)[0]
    if tail:
        tail = tail.split(" ", 1)[-1]
    tail_at = offset + len(text) - len(tail)
    gap = "\n…\n" if "\n" in text else " … "
    gap = gap.lstrip() if not head else gap.rstrip() if not tail else gap
    return _mark(head, offset, spans, marks, fmt) + gap + _mark(tail, tail_at, spans, marks, fmt)


def _wrap(text: str, marks: tuple[str, str]) -> str:
    # Keep surrounding whitespace outside the markers so that they hug the words.
    stripped = text.strip()
    if not stripped:
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return f"{lead}{marks[0]}{stripped}{marks[1]}{trail}"


def _mark(
    text: str, offset: int, spans: Iterable[tuple[int, int]], marks: tuple[str, str], fmt: Format
) -> str:
    """`text` (found at `offset` in its document), escaped for `fmt`, with the parts
    inside `spans` marked."""
    if not marks[0]:
        return escape(text, fmt)
    out, pos = [], 0
    end_of_text = offset + len(text)
    for span_start, span_end in spans:
        start, end = max(span_start, offset) - offset, min(span_end, end_of_text) - offset
        if start >= end or start < pos:
            continue
        out.append(escape(text[pos:start], fmt))
        out.append(f"{marks[0]}{escape(text[start:end], fmt)}{marks[1]}")
        pos = end
    out.append(escape(text[pos:], fmt))
    return "".join(out)
