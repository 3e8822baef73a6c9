"""The desk's routes through aiohttp's test client, against a real store on both
backends, filled by `watcher check` over the seed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import feedparser
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient as _TestClient
from aiohttp.test_utils import TestServer

from tests.helpers import add_paragraph, run_watcher
from watcher.config import load
from watcher.store import PAUSED, EventFilter, Store
from watcher.web import Site, install, live

pytestmark = pytest.mark.anyio
TestClient = _TestClient[web.Request, web.Application]
TOKEN = "desk-token-0123456789"
CONFIG = """\
state: "{state}"
http:
  listen: 127.0.0.1:9
  token: "{token}"
sources:
  - name: live
    file: blogs/*.txt
    baseline: alert
rules:
  - name: Putin
    keywords: [Putin]
  - name: Riyadh
    keywords: [Riyadh]
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def config_path(seed_copy: Path, make_config, store_url: str) -> Path:
    path: Path = make_config(CONFIG.format(state=store_url, token=TOKEN))
    done = run_watcher("check", "-c", str(path))
    assert done.returncode == 0, done.stderr
    return path


async def _client(path: Path, token: bool = True) -> AsyncIterator[TestClient]:
    config = load(path)
    if not token:
        config = config.model_copy(update={"http": None})
    store = Store(config.state_url)
    app = web.Application()
    install(app, Site(store, lambda: config))
    async with _TestClient(TestServer(app)) as client:
        yield client
    store.close()


@pytest.fixture
async def client(config_path: Path) -> AsyncIterator[TestClient]:
    async for found in _client(config_path):
        yield found


async def test_the_desk_lists_events_newest_first_with_filters(client: TestClient) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = await response.text()
    ids = [int(i) for i in re.findall(r'data-id="(\d+)"', html)]
    assert len(ids) == 6 and ids == sorted(ids, reverse=True)
    putin = await (await client.get("/?rule=Putin")).text()
    assert 0 < putin.count("<article") < 6 and "<mark>Putin</mark>" in putin
    assert (await (await client.get("/?source=live&kind=new")).text()).count("<article") == 6
    older = await (await client.get(f"/?before={ids[2]}")).text()
    assert re.findall(r'data-id="(\d+)"', older) == [str(i) for i in ids[3:]]


@pytest.mark.parametrize(
    "path",
    [
        "/?kind=bogus",
        "/?rule=Nobody",
        "/?source=elsewhere",
        "/?before=abc",
        "/?before=-1",
        "/search?q=x&since=yesterday",
        "/search?q=x&since=2025-02-30T10:00",
        "/alerts?status=lost",
        "/entries/1?a=99",
        "/?before=%C2%B2",  # a superscript two: a digit to str.isdigit, not to int()
    ],
)
async def test_bad_filters_and_keys_are_400(client: TestClient, path: str) -> None:
    response = await client.get(path)
    assert response.status == 400, path
    assert ":" in await response.text()  # which parameter, and what it takes


@pytest.mark.parametrize(
    "path", ["/nowhere", "/entries/999999", "/entries/abc", "/feeds/rule/Nobody.atom"]
)
async def test_unknown_routes_and_ids_are_404(client: TestClient, path: str) -> None:
    assert (await client.get(path)).status == 404


async def test_sources_entry_search_and_alerts_pages(client: TestClient) -> None:
    sources = await (await client.get("/sources")).text()
    assert "live/000_cda4f8f913c75e77.txt" in sources and ">ok<" in sources
    assert "Ukraine-Russia war latest" in sources  # the blog's own title
    found = await (await client.get("/search?q=Riyadh")).text()
    link = re.search(r'href="(/entries/\d+)\?b=1"', found)
    assert link is not None
    entry = await client.get(link.group(1))
    assert entry.status == 200 and "Riyadh" in await entry.text()
    for typed in ['"unclosed', "AND OR (", "';--"]:
        assert (await client.get("/search", params={"q": typed})).status == 200
    alerts = await (await client.get("/alerts")).text()
    assert alerts.count('<tr class="status-done"') == 4  # the four tagged, to the console


async def test_a_held_poll_shows_as_held(
    seed_copy: Path, config_path: Path, client: TestClient
) -> None:
    text = seed_copy.read_text(encoding="utf-8")
    seed_copy.write_text(text[: len(text) // 6], encoding="utf-8")  # most entries gone at once
    assert run_watcher("check", "-c", str(config_path)).returncode == 0
    assert '<span class="state">held</span>' in await (await client.get("/sources")).text()


async def test_actions_need_the_token_and_a_csrf_token(
    client: TestClient, config_path: Path
) -> None:
    def paused() -> bool:
        store = Store(load(config_path).state_url)
        try:
            return any(c.name == "live" and c.next_due >= PAUSED for c in store.claim_rows())
        finally:
            store.close()

    assert (await client.post("/sources/live/pause", allow_redirects=False)).status == 401
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    assert (await client.post("/sources/live/pause", headers=wrong)).status == 401
    assert not paused()
    # The login form sets a session; a post from it without the CSRF token is refused.
    login = await client.post("/login", data={"token": "wrong"}, allow_redirects=False)
    assert login.status == 401
    login = await client.post(
        "/login", data={"token": TOKEN, "next": "/sources"}, allow_redirects=False
    )
    assert login.status == 303 and login.headers["Location"] == "/sources"
    assert (
        "HttpOnly" in login.headers["Set-Cookie"]
        and "SameSite=Strict" in login.headers["Set-Cookie"]
    )
    refused = await client.post("/sources/live/pause", data={}, allow_redirects=False)
    assert refused.status == 403 and not paused()
    page = await (await client.get("/sources")).text()
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf is not None and TOKEN not in page
    done = await client.post(
        "/sources/live/pause", data={"csrf": csrf.group(1)}, allow_redirects=False
    )
    assert done.status == 303 and paused()
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert (
        await client.post("/sources/live/resume", headers=right, allow_redirects=False)
    ).status == 303
    assert not paused()
    assert (await client.post("/sources/nowhere/poll", headers=right)).status == 404
    # A redirect after signing in stays on this site.
    away = await client.post(
        "/login", data={"token": TOKEN, "next": "//evil.example/"}, allow_redirects=False
    )
    assert away.headers["Location"] == "/"


async def test_tokens_and_cookies_that_are_not_ascii_are_wrong_not_errors(
    client: TestClient,
) -> None:
    client.session.cookie_jar.update_cookies({"watcher_session": "\u00e9t\u00e9.x"})
    assert (await client.get("/")).status == 200
    odd = {"Authorization": "Bearer d\u00e9sk"}
    assert (await client.post("/sources/live/pause", headers=odd)).status == 401
    login = await client.post("/login", data={"token": "t\u00f6ken"}, allow_redirects=False)
    assert login.status == 401


async def test_a_stream_sends_what_came_after_the_page_first(client: TestClient) -> None:
    html = await (await client.get("/")).text()
    ids = [int(i) for i in re.findall(r'data-id="(\d+)"', html)]
    assert f"/stream?after={ids[0]}" in html  # the page's newest
    for ask in ({"params": {"after": ids[2]}}, {"headers": {"Last-Event-ID": str(ids[2])}}):
        stream = await client.get("/stream", **ask)
        said = b""
        while said.count(b"event: event") < 2:
            said += await stream.content.readany()
        assert f"id: {ids[1]}".encode() in said and f"id: {ids[0]}".encode() in said
        stream.close()


async def test_without_a_token_the_desk_is_read_only(config_path: Path) -> None:
    async for client in _client(config_path, token=False):
        assert (await client.get("/")).status == 200
        right = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.post("/sources/live/pause", headers=right)).status == 403


async def test_atom_feeds_per_rule_and_source(client: TestClient) -> None:
    for path in ("/feeds/rule/Putin.atom", f"/feeds/source/{quote('live')}.atom"):
        response = await client.get(path)
        assert response.status == 200 and response.content_type == "application/atom+xml"
        parsed = feedparser.parse(await response.read())
        assert not parsed.bozo and parsed.entries
        assert all(e.title.startswith("New: ") for e in parsed.entries)


async def test_text_from_a_page_is_text_on_the_desk(
    seed_copy: Path, config_path: Path, client: TestClient
) -> None:
    add_paragraph(
        seed_copy,
        "Negotiations will include both Ukraine and Russia, US says",
        'Putin <script>alert(1)</script> <img src=x onerror="alert(2)"> and <b>bold</b>',
    )
    assert run_watcher("check", "-c", str(config_path)).returncode == 0
    html = await (await client.get("/")).text()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=" in html


async def test_a_new_event_reaches_an_open_stream(
    seed_copy: Path, config_path: Path, client: TestClient
) -> None:
    stream = await client.get("/stream?rule=Putin")
    assert stream.headers["Content-Type"] == "text/event-stream"
    add_paragraph(
        seed_copy,
        "Negotiations will include both Ukraine and Russia, US says",
        "Putin agreed to meet in Riyadh.",
    )
    assert run_watcher("check", "-c", str(config_path)).returncode == 0
    said = b""
    while b"\n\n" not in said.split(b"event: event", 1)[-1]:
        said += await stream.content.readany()
    assert b"event: event" in said and b"<ins>" in said and b"<mark>Putin</mark>" in said
    stream.close()


async def test_a_page_that_never_reads_is_let_go(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "QUEUE", 2)
    store = Store(load(config_path).state_url)
    try:
        feed = live.Feed(store)
        idle = feed.subscribe()
        await feed.look()  # six events from the start: more than the queue holds
        assert idle not in feed._pages
        left = [idle.get_nowait() for _ in range(idle.qsize())]
        assert left[-1] is None  # its stream ends
        assert feed.last == store.last_event_id()
        assert store.desk_events(EventFilter())  # nothing else touched
    finally:
        store.close()
