from __future__ import annotations

from watcher.diff import word_diff
from watcher.model import Alert, Change, Entry, Kind, StoredEntry
from watcher.notify.render import render, render_diff
from watcher.rules import RuleConfig, Ruleset

RULES = Ruleset([RuleConfig(name="Putin", keywords=["Putin"])], ["console"])


def alert_for(change: Change) -> Alert:
    return Alert.of(RULES.tag(change, "live"), "live/blog.txt", 0.0, 1)


def test_new_entry_markdown_bolds_matches() -> None:
    change = Change(
        Kind.NEW, "k", Entry("Putin calls Trump", "Putin’s call lasted an hour.", url="https://x/1")
    )
    title, body = render(alert_for(change), "markdown")
    assert title == "New: Putin calls Trump"
    assert body.splitlines()[:2] == ["live/blog.txt · Putin", "<https://x/1>"]
    assert body.endswith("**Putin**’s call lasted an hour.")


def test_plain_text_has_no_markers_and_terminal_is_bold() -> None:
    change = Change(Kind.NEW, "k", Entry("Talks", "Putin spoke."))
    assert render(alert_for(change), "text")[1].endswith("\n\nPutin spoke.")
    assert "\x1b[1mPutin\x1b[22m spoke." in render(alert_for(change), "ansi")[1]


def test_update_shows_the_word_diff_with_matches() -> None:
    old = "Trump spoke on Wednesday."
    new = "Trump and Putin spoke on Wednesday."
    change = Change(
        Kind.UPDATED,
        "k",
        Entry("Call", new),
        StoredEntry(1, "k", "Call", old, 0),
        word_diff(f"Call\n\n{old}", f"Call\n\n{new}"),
    )
    alert = alert_for(change)
    assert render(alert, "text")[1].endswith("Call\n\nTrump {+and Putin+} spoke on Wednesday.")
    assert render(alert, "markdown")[1].endswith("Trump _and **Putin**_ spoke on Wednesday.")


def test_long_unchanged_text_is_cut_around_the_change() -> None:
    filler = " ".join(f"word{i}" for i in range(400))
    ops = word_diff(f"{filler} end.", f"{filler} Putin end.")
    text = render_diff(ops)
    assert text.startswith("… word") and text.endswith("{+Putin+} end.")
    assert len(text) < 400


def test_entry_without_headline_uses_its_first_sentence() -> None:
    change = Change(Kind.REMOVED, "k", Entry("", "Putin spoke. Then more."))
    assert render(alert_for(change), "text")[0] == "Removed: Putin spoke."


def test_an_alert_names_its_live_blog_and_the_entrys_time() -> None:
    entry = Entry("Putin calls Trump", "Putin spoke.", published="2025-02-13T11:00:00+01:00")
    event = RULES.tag(Change(Kind.NEW, "k", entry), "live")
    alert = Alert.of(event, "live/blog.txt", 0.0, 1, blog="Ukraine war live")
    for fmt in ("text", "markdown"):
        first = render(alert, fmt)[1].splitlines()[0]
        assert first == "Ukraine war live (live/blog.txt) · 2025-02-13 10:00 UTC · Putin"
    html = render(alert, "html")[1]
    assert "<b>Ukraine war live</b> (live/blog.txt) · 2025-02-13 10:00 UTC · Putin" in html
