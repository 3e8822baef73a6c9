"""Email alerts through a real SMTP server on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import SEED_TITLE, add_paragraph, run_watcher, wait_for
from tests.servers import MailServer


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer()
    yield server
    server.close()


def parts(message: object) -> tuple[str, str]:
    plain = message.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    html = message.get_body(("html",)).get_content()  # type: ignore[attr-defined]
    return plain, html


def test_email_alert_has_html_and_plain_parts_with_matches_and_changes(
    seed_copy: Path, make_config, mail: MailServer
) -> None:
    config = make_config(
        f"""\
state: state.db
sources:
  - name: live
    file: blogs/*.txt
channels:
  email: "{mail.url()}"
rules:
  - name: Putin
    keywords: [Putin]
    notify: [email]
"""
    )
    assert run_watcher("check", "-c", str(config)).returncode == 0  # silent baseline
    add_paragraph(
        seed_copy,
        "Europe can't turn Uncle Sam into 'Uncle Sucker', says Hegseth",
        "Hegseth said Putin would be watching Europe's response closely.",
    )
    done = run_watcher("check", "-c", str(config))
    assert done.returncode == 0, done.stderr
    (message,) = mail.messages
    assert (
        message["Subject"]
        == "Updated: Europe can't turn Uncle Sam into 'Uncle Sucker', says Hegseth"
    )
    assert message["To"] == "desk@example.org"
    assert re.fullmatch(r"[0-9a-f]{32}", message["X-Watcher-Key"])  # the same on every try
    plain, html = parts(message)
    assert re.search(r"<ins>.*Hegseth said <b>Putin</b> would be watching.*</ins>", html, re.S)
    assert "{+Hegseth said Putin would be watching Europe's response closely.+}" in plain
    assert f"{SEED_TITLE} (live/000_cda4f8f913c75e77.txt) · Putin" in plain  # the blog, its file
    # Paragraphs stay paragraphs in the plain-text part: a blank line between them.
    lines = plain.replace("\r\n", "\n")
    assert "NATO headquarters in Brussels.\n\nHe said that Europe" in lines
    assert "“Europe has to spend more.”\n\n{+Hegseth said" in lines


def test_digest_email_lists_every_alert(seed_copy: Path, make_config, mail: MailServer) -> None:
    config = make_config(
        f"""\
state: state.db
sources:
  - name: live
    file: blogs/*.txt
    baseline: alert
channels:
  email:
    url: "{mail.url()}"
    digest: 1s
rules:
  - name: Putin
    keywords: [Putin]
    notify: [email]
"""
    )
    assert run_watcher("check", "-c", str(config)).returncode == 0
    # The digest window (1 s) had not passed when the first check ended: nothing sent yet.
    assert mail.messages == []
    # A later check, once the window has passed, sends the four alerts as one message.
    wait_for(lambda: run_watcher("check", "-c", str(config)) and mail.messages, what="the digest")
    (message,) = mail.messages
    assert message["Subject"].endswith(" and 3 more · live/000_cda4f8f913c75e77.txt")
    assert message["Subject"].startswith("New: ")
    plain, html = parts(message)
    assert html.count("<h3>") == 4
    assert "New: Kremlin says Putin and Trump may speak again by phone" in plain
