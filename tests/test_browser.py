"""The desk in a real browser (Debian's chromium, driven by Playwright): the daemon on a
seed file and a loopback feed; a change of the feed appears on the open page without a
reload; a source paused from the Sources page is paused for `watcher status`; text from
a page runs nothing. Screenshots of the Desk and Sources pages go to tests/artifacts/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.feeds import rss, seed_items
from tests.helpers import ROOT, Watcher, add_paragraph, free_port, run_watcher, wait_for
from tests.servers import LocalServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt install chromium)"),
]
ARTIFACTS = ROOT / "tests" / "artifacts"
TOKEN = "browser-token-0123456789"
ITEMS = seed_items()


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def desk(seed_copy: Path, make_config: Any) -> Iterator[tuple[str, Path, LocalServer]]:
    server = LocalServer()
    server.serve("/wire.xml", rss(ITEMS[:3]))
    port = free_port()
    config = make_config(
        f"""\
state: state.db
http:
  listen: 127.0.0.1:{port}
  token: {TOKEN}
sources:
  - name: seed
    file: blogs/*.txt
    interval: 1s
    baseline: alert
  - name: wire
    feed: {server.url("/wire.xml")}
    interval: 1s
rules:
  - name: Putin
    keywords: [Putin]
  - name: Riyadh
    keywords: [Riyadh]
"""
    )
    with Watcher("run", "-c", str(config)) as daemon:
        daemon.wait_stderr('"watching"')
        wait_for(lambda: len([x for x in daemon.stderr if '"polled"' in x]) >= 2, what="polls")
        yield f"http://127.0.0.1:{port}", config, server
        assert daemon.stop() == 0
    server.close()


def test_a_change_appears_live_and_a_pause_from_the_page_holds(
    browser: Any, desk: tuple[str, Path, LocalServer], seed_copy: Path
) -> None:
    base, config, server = desk
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(base + "/")
    page.wait_for_selector("#live:not([hidden])")  # the stream is open
    page.evaluate("window.stillThisPage = true")
    assert page.locator("article.event").count() >= 6

    # The wire's first item gains a paragraph: an update, live, with its words marked.
    changed = [ITEMS[0].with_paragraph("Putin said talks in Riyadh could start soon."), *ITEMS[1:3]]
    server.serve("/wire.xml", rss(changed))
    inserted = page.locator("article.event.updated ins", has_text="talks in Riyadh")
    inserted.first.wait_for(timeout=15_000)
    assert page.evaluate("window.stillThisPage") is True  # no reload
    page.screenshot(path=str(ARTIFACTS / "desk.png"))

    # Text from a page that looks like a script shows as text and runs nothing.
    add_paragraph(
        seed_copy,
        "Negotiations will include both Ukraine and Russia, US says",
        'Putin: <script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">',
    )
    page.get_by_text("<script>window.pwned = 1</script>", exact=False).first.wait_for(
        timeout=15_000
    )
    assert page.evaluate("window.pwned") is None

    # Sign in, pause the wire from the Sources page: `watcher status` says it is paused.
    page.goto(base + "/login?next=/sources")
    page.fill("input[name=token]", TOKEN)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(base + "/sources")
    page.locator("tr[data-source^='wire'] button:has-text('pause')").click()
    page.wait_for_url(base + "/sources")
    wait_for(lambda: "paused" in run_watcher("status", "-c", str(config)).stdout, what="paused")
    page.reload()
    assert page.locator("tr[data-source^='wire'] .state").inner_text() == "paused"
    page.screenshot(path=str(ARTIFACTS / "sources.png"))


def test_the_desk_on_a_phone_in_the_dark(browser: Any, desk: tuple[str, Path, LocalServer]) -> None:
    base, _, _ = desk
    context = browser.new_context(
        viewport={"width": 390, "height": 800}, color_scheme="dark", device_scale_factor=1
    )
    page = context.new_page()
    page.goto(base + "/")
    page.wait_for_selector("article.event")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(20, 20, 22)"  # the dark scheme, as the system asks
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing runs off the side of a phone
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "desk-phone-dark.png"))
    context.close()
