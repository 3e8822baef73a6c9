"""Whoever writes one watched feed writes the text: it reaches every wire as data, never as
markup, a mention, a link or a terminal command."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apprise.conversion.format import markdown_to_html
from apprise.plugins.slack import NotifySlack

from tests.helpers import add_paragraph, run_watcher
from tests.servers import LocalServer, MailServer
from watcher.diff import word_diff
from watcher.model import Alert, Kind, Match, Target
from watcher.notify.channels import Channel
from watcher.notify.escape import Format
from watcher.notify.render import render, render_digest
from watcher.store import Store, entries, revisions

HOSTILE = (
    "<!channel> <!here> <@U123> <http://evil|click here> [x](javascript:alert(1)) "
    "<script>alert(1)</script> <img src=x onerror=alert(1)> **bold** "
    "\x1b]0;pwned\x07 \x1b[2J \u202eevil"
)
# What no wire nor terminal may get: C0 but tab and newline, DEL, C1 (ESC and BEL among
# them) and the bidi controls.
UNPRINTABLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
# The elements the alert's own HTML uses; anything else came from the feed.
OWN_TAGS = {"p", "br", "b", "strong", "em", "ins", "del", "span", "a", "h3", "hr"}
# The hostile text as a reader should see it: every character of it, but the controls.
SHOWN = (
    "<!channel> <!here> <@U123> <http://evil|click here> [x](javascript:alert(1)) "
    "<script>alert(1)</script> <img src=x onerror=alert(1)> **bold** evil"
)
OLD = "Putin said so."


def hostile_alert(url: str | None = "javascript:alert(1)") -> Alert:
    """An update that adds the hostile text as a paragraph, under a hostile headline."""
    title = f"Talks {HOSTILE}"
    body = f"{OLD}\n\n{HOSTILE}"
    at = len(title) + 2
    return Alert(
        source="live/blog",
        kind=Kind.UPDATED,
        key="k",
        title=title,
        body=body,
        url=url,
        tags=("Putin",),
        matches=(Match("Putin", at, at + 5, "Putin"),),
        diff=tuple(word_diff(f"{title}\n\n{OLD}", f"{title}\n\n{body}")),
        created_at=0.0,
        event_id=1,
    )


class Elements(HTMLParser):
    """The elements, attributes and link targets of an HTML document, as a browser reads
    them."""

    def __init__(self, document: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.links: list[str] = []
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            if name in ("href", "src"):
                self.links.append(value or "")


def inert_html(document: str) -> Elements:
    """The document's elements, asserting that none came from the feed."""
    found = Elements(document)
    assert found.tags <= OWN_TAGS, found.tags - OWN_TAGS
    assert not [a for a in found.attributes if a.startswith("on")]
    assert all(link.startswith(("http://", "https://")) for link in found.links), found.links
    assert not [link for link in found.links if link.startswith("http://evil")]
    return found


def part(message: EmailMessage, kind: str) -> str | None:
    """The text of the message's plain or HTML part (its lines as text ends them), None if
    it has none."""
    found = message.get_body((kind,))
    return None if found is None else str(found.get_content()).replace("\r\n", "\n")


def assert_printable(*texts: str) -> None:
    for text in texts:
        assert not UNPRINTABLE.search(text), repr(text)


def slack_texts(payload: Any) -> list[str]:
    """Every title and text of a Slack payload: what Slack formats and shows."""
    if isinstance(payload, list):
        return [text for item in payload for text in slack_texts(item)]
    if not isinstance(payload, dict):
        return []
    own = [v for k, v in payload.items() if k in ("title", "text") and isinstance(v, str)]
    return own + slack_texts(list(payload.values()))


@dataclass
class Wires:
    hook: LocalServer
    slack: LocalServer
    mail: MailServer

    @property
    def urls(self) -> list[str]:
        return [
            f"json://127.0.0.1:{self.hook.port}/hook",
            "slack://T1234/B1234/abcd1234",
            self.mail.url(),
            "console://",
        ]

    def slack_payload(self) -> Any:
        # Slack's plugin wants "ok" back and calls the send a failure; it was posted.
        (got,) = self.slack.requests
        assert got.path == "/services/T1234/B1234/abcd1234"
        return got.json()


@pytest.fixture
def wires(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wires]:
    """A webhook receiver, an SMTP server, and Slack: Apprise's own plugin, with its
    webhook host pointed at a loopback receiver."""
    hook, slack, mail = LocalServer(), LocalServer(), MailServer()
    monkeypatch.setattr(NotifySlack, "webhook_url", slack.url("/services"))
    yield Wires(hook, slack, mail)
    hook.close()
    slack.close()
    mail.close()


@pytest.mark.parametrize("digest", [False, True], ids=["alert", "digest"])
@pytest.mark.parametrize("fmt", [None, "text", "markdown", "html"])
def test_each_wire_gets_the_feed_text_as_text(
    wires: Wires, capsys: pytest.CaptureFixture[str], fmt: Format | None, digest: bool
) -> None:
    channel = Channel("desk", wires.urls, fmt)
    alert = hostile_alert()
    channel.send(
        *(render_digest([[alert]], channel.format) if digest else render(alert, channel.format))
    )

    (hooked,) = wires.hook.accepted
    hook = hooked.json()
    slack = slack_texts(wires.slack_payload())
    (mail,) = wires.mail.messages
    plain, html = part(mail, "plain") or "", part(mail, "html")
    console = capsys.readouterr().out
    assert_printable(hook["title"], hook["message"], *slack, mail["Subject"], plain, console)
    assert "Putin" in console
    if not digest:  # the title is text in every format: a subject, a header, a field
        assert hook["title"] == mail["Subject"] == f"Updated: Talks {SHOWN}"

    # Slack: no mention, channel ping or link of the feed's; each shows as it was written.
    assert not [text for text in slack if "<" in text]
    shown = " ".join(slack)
    assert "&lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &lt;http://evil|click here&gt;" in shown
    assert "[x](javascript:alert(1)) &lt;script&gt;" in shown

    # The email's HTML, whatever the channel's format: no element, handler or link of the
    # feed's, and no link at all (the entry's was javascript:).
    if html is not None:
        assert inert_html(html).links == []
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" in plain

    if channel.format == "markdown":
        assert "*Putin*" in shown and "\\*\\*bold\\*\\*" in shown
        assert "\\<script\\>alert(1)\\</script\\>" in hook["message"]
        inert_html(markdown_to_html(hook["message"]))
    elif channel.format == "html":
        assert "*Putin*" in shown  # Apprise made Slack markdown of the alert's HTML
        inert_html(hook["message"])
        assert html is not None and "<b>Putin</b>" in html and "<ins>" in html
        assert "{+<!channel> <!here> <@U123>" in plain
        assert "<p>" not in console and "{+<!channel> <!here> <@U123>" in console  # as text
    else:
        assert "<script>alert(1)</script>" in hook["message"]  # text, declared as text


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "https:no-host",
    ],
)
@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "ansi"])
def test_a_link_that_is_not_http_is_left_out(url: str, fmt: Format) -> None:
    alert = replace(hostile_alert(url), title="Talks", body=OLD, diff=(), kind=Kind.NEW)
    alert = replace(alert, matches=())
    for title, body in (render(alert, fmt), render_digest([[alert]], fmt)):
        assert url.split(":", 1)[0].strip().lower() not in (title + body).lower()


def test_an_http_link_cannot_close_its_own_markup(wires: Wires) -> None:
    url = 'https://example.org/live#"><script>alert(1)</script>|<!channel> [x](javascript:y)'
    encoded = (
        "https://example.org/live#%22%3E%3Cscript%3Ealert(1)%3C/script%3E%7C%3C!channel%3E"
        "%20%5Bx%5D(javascript:y)"
    )
    alert = replace(hostile_alert(url), title="Talks", body=OLD)
    Channel("mail", [wires.mail.url()]).send(*render(alert, "html"))
    Channel("chat", wires.urls[:3], "markdown").send(*render(alert, "markdown"))

    for mail in wires.mail.messages:  # the email's HTML, from ours and from markdown
        assert inert_html(part(mail, "html") or "").links == [encoded]
    assert f"\n<{encoded}>\n" in wires.hook.accepted[0].json()["message"]
    assert f"<{encoded}>" in " ".join(slack_texts(wires.slack_payload()))


LIVE = """\
 date 2025-02-13 Live
Standfirst.
Talks in Riyadh
{text} Putin said so.
"""


def test_check_sends_a_hostile_file_as_text_on_every_channel(
    tmp_path: Path, make_config, wires: Wires
) -> None:
    (tmp_path / "blogs").mkdir()
    (tmp_path / "blogs" / "live.txt").write_text(LIVE.format(text=HOSTILE), encoding="utf-8")
    desk = f'["json://127.0.0.1:{wires.hook.port}/mixed", "{wires.mail.url()}", "console://"]'
    config = make_config(
        f"""\
state: state.db
sources:
  - name: live
    file: blogs/*.txt
    baseline: alert
channels:
  desk:
    url: {desk}
  chat: "json://127.0.0.1:{wires.hook.port}/chat"
rules:
  - name: Putin
    keywords: [Putin]
    notify: [desk, chat]
"""
    )
    done = run_watcher("check", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_printable(done.stdout)
    assert "<!channel> <!here> <@U123>" in done.stdout  # the console: text, shown as such

    (mixed_hook,) = wires.hook.got("/mixed")
    (chat_hook,) = wires.hook.got("/chat")
    (mail,) = wires.mail.messages
    # Email beside a webhook: HTML, the email's as the webhook's.
    mixed = mixed_hook.json()["message"]
    inert_html(mixed)
    assert "<b>Putin</b>" in mixed
    inert_html(part(mail, "html") or "")
    assert mail["Subject"] == "New: Talks in Riyadh"
    # A webhook alone: markdown, with nothing of the feed's live in it.
    chat = chat_hook.json()["message"]
    assert "\\<!channel\\> \\<!here\\> \\<@U123\\> \\<http://evil|click here\\>" in chat
    assert "\\[x\\](javascript:alert(1)) \\<script\\>" in chat and "**Putin**" in chat
    inert_html(markdown_to_html(chat))


def test_status_history_and_diff_print_stored_text_without_controls(
    seed_copy: Path, make_config
) -> None:
    peer = LocalServer()
    peer.close()  # nothing listens there: the alerts stay pending, with an error
    config = make_config(
        f"""\
state: state.db
sources:
  - name: live
    file: blogs/*.txt
channels:
  hook: "json://127.0.0.1:{peer.port}/hook"
rules:
  - name: Putin
    keywords: [Putin]
    notify: [hook]
"""
    )
    assert run_watcher("check", "-c", str(config)).returncode == 0
    add_paragraph(seed_copy, "US 'recognising realities on the ground'", "Putin agreed.")
    assert run_watcher("check", "-c", str(config)).returncode == 0

    # What the store holds came from feeds and servers: write it as a hostile one would.
    db = config.parent / "state.db"
    key = f"k\x1b]8;;https://evil\x07{HOSTILE}"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        entry = conn.execute(sa.select(entries.c.id).where(entries.c.revision == 2)).scalar_one()
        conn.execute(entries.update().where(entries.c.id == entry).values(key=key))
        conn.execute(revisions.update().where(revisions.c.entry_id == entry).values(title=HOSTILE))
    engine.dispose()
    store = Store(f"sqlite:///{db}")
    name = f"live/{seed_copy.name}"
    store.record_failure(Target(name, "live", str(seed_copy)), "file", f"HTTP 500 {HOSTILE}")
    store.delivery_failed([d.id for d in store.pending()], f"JSON: failure ({HOSTILE})", None)
    store.close()

    outputs = [
        run_watcher(*args, "-c", str(config))
        for args in (
            ["status"],
            ["history", "live"],
            ["history", "live", key],
            ["diff", "live", key],
        )
    ]
    for done in outputs:
        assert done.returncode == 0, done.stderr
        assert_printable(done.stdout)
    status, entries_list, revision_list, diff = (o.stdout for o in outputs)
    assert "HTTP 500 <!channel> <!here> <@U123>" in status
    assert "hook: failed: JSON: failure (<!channel>" in status
    assert "<script>alert(1)</script>" in entries_list and "evil" in revision_list
    assert "{+Putin agreed.+}" in diff
