"""`watcher preview`: what a page or feed gives, run as people run it, nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_watcher
from tests.pages import FIXTURES
from tests.servers import LocalServer


def test_a_page_over_http_with_the_rules_that_would_tag_each_entry(
    tmp_path: Path, make_config
) -> None:
    server = LocalServer()
    try:
        server.serve("/live", (FIXTURES / "br24.html").read_bytes(), content_type="text/html")
        config = make_config(
            "state: state.db\nsources: []\nrules:\n  - name: Kremlin\n    keywords: [Kremlin]\n"
        )
        done = run_watcher("preview", server.url("/live"), "-c", str(config), "--json")
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["kind"] == "page"
    assert found["strategy"] == "ticker: 5 <h2> headings that begin with a time"
    assert [e["tags"] for e in found["entries"]][:2] == [["Kremlin"], []]
    assert (
        found["entries"][0]["title"] == "12.31 Uhr: Kremlin rejects proposal for a winter ceasefire"
    )
    assert not (tmp_path / "state.db").exists()  # nothing stored


def test_the_text_form_names_the_strategy_entries_and_warnings() -> None:
    done = run_watcher("preview", str(FIXTURES / "timesofindia.html"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith("title: ")
    assert lines[2] == (
        "found by: JSON-LD LiveBlogPosting (5 items); the items' text found in the page "
        "(5 elements)"
    )
    assert "warning: 4 structured bodies cut short: the HTML's text used" in lines
    assert "5 entries, newest first:" in lines
    assert (
        "      TOSS: Pune Panthers win toss, opt to bowl against Kolkata Comets in Nagpur" in lines
    )


def test_a_page_that_is_not_a_live_blog_says_what_was_missing() -> None:
    done = run_watcher("preview", str(FIXTURES / "teasers.html"))
    assert done.returncode == 3
    assert done.stdout.splitlines()[1].startswith(
        "nothing found: not a live blog: no LiveBlogPosting (JSON-LD or microdata)"
    )


def test_selectors_on_the_command_line() -> None:
    page = str(FIXTURES / "nzz.html")
    done = run_watcher("preview", page, "--selectors", "{split: h5.time}", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["strategy"] == "split at h5.time"
    bad = run_watcher("preview", page, "--selectors", "{entry: 'div >', colour: red}")
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [
        "--selectors: entry: Value error, invalid CSS selector 'div >'",
        "--selectors: colour: Extra inputs are not permitted",
    ]


def test_page_text_cannot_drive_the_terminal(tmp_path: Path) -> None:
    page = tmp_path / "hostile.html"
    page.write_text(
        '<div class="liveblog-entry" id="e1"><h2>Title\x1b]0;owned\x07 \u202eevil</h2>'
        "<p>Body \x1b[2J text.</p></div>"
    )
    done = run_watcher("preview", str(page))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "\u202e" not in done.stdout
