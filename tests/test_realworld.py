"""Real live blogs and feeds as publishers served them, read from ../shared/realworld/
(never copied here: the module skips where that folder is absent). Its README.txt says
what a reader sees on each page; these tests hold watcher to it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.pages import changes, kinds, leftovers, read
from watcher.model import Snapshot
from watcher.preview import preview, write_text
from watcher.sources.base import SourceError
from watcher.sources.feedformats import parse_feed

REALWORLD = ROOT.parent / "shared" / "realworld"
pytestmark = pytest.mark.skipif(not REALWORLD.is_dir(), reason=f"{REALWORLD} is absent")
PAGES = REALWORLD / "pages"
SIM = REALWORLD / "sim"

# page, entries a reader sees, and the first three: headline, else the body's first words
LIVE_BLOGS = [
    (
        "guardian_2023-05-15_russia-ukraine-live",
        10,
        [
            "Jennifer Rankin reports from Brussels",
            "Ukrainian president, Volodymyr Zelenskiy, on Monday lauded",
            "Stoltenberg: no point discussing how Ukraine can join Nato if it does not prevail in "
            "war first",
        ],
    ),
    (
        "independent_2023-08-14_womens-world-cup-live",
        10,
        ["Women’s World Cup", "Women’s World Cup", "Women’s World Cup"],
    ),
    (
        "express_2024-07-18_harry-meghan-live",
        9,
        [
            "The only person Prince Harry and Meghan Markle trust to look after Archie and Lilibet",
            "Meghan Markle 'turned and hissed' at a staffer leaving her in 'tears'",
            "Meghan Markle fails to compete with Princess Kate as survey reveals very telling "
            "results",
        ],
    ),
    (
        "mirror_2024-08-05_uk-riots-live",
        30,
        [
            "Loud bang heard at Plymouth scene",
            "Plymouth protests erupt in violence as multiple people injured by rioters 'throwing "
            "stones'",
            "Bus routes changed to avoid potential trouble in Plymouth",
        ],
    ),
    (
        "corkbeo_2020_level-3-live",
        26,
        [
            "Goodnight",
            "In case you missed this earlier",
            "Another Cork favourite preparing to shut up shop for the next three weeks",
        ],
    ),
    (
        "timesofindia_2020_ipl-csk-srh-liveblog",
        8,
        [
            "TOSS: Sunrisers Hyderabad win toss, opt to bat",
            "Hello and welcome to the Live coverage of Match 14",
            "For SRH to succeed, they need to find that one dependable Indian big-hitter",
        ],
    ),
    (
        "ndtv_2023_ind-vs-sl-live",
        40,
        [
            "India vs Sri Lanka: It's a wrap!",
            "IND vs SL Live Score: Shami named Player of the Match",
            "IND vs SL Live Score: India enter semi-finals!",
        ],
    ),
    (
        "repubblica_2023-11-02_israele-hamas-diretta",
        79,
        [
            "Oms: “A Gaza fermi 14 ospedali su 36, gli altri in sovraccarico”",
            "Netanyahu non ha approvato la benzina per ospedali di Gaza",
            "Hezbollah, 2 droni esplosivi contro militari Israele",
        ],
    ),
    (
        "sportowefakty_2020_unia-falubaz-relacja",
        53,
        [
            "Koniec. Fogo Unia Leszno nie pozostawiła złudzeń",
            "Bieg 15 65.06 sek. 57 1 : 5 33",
            "Piotr Protasiewicz pojedzie teraz po raz 2600.",
        ],
    ),
    (
        "br24_2024-08-27_nahost-ticker",
        7,
        [
            "12.31 Uhr: Ultraorthodoxe jüdische Zeitung lehnt Tempelberg-Aussagen von "
            "Sicherheitsminister ab",
            "11.39 Uhr: Offenbar mehrere Kinder bei israelischen Angriffen getötet",
            "11.13 Uhr: Palästinenser mutmaßlich von Siedlern erschossen",
        ],
    ),
    (
        "nzz_2024-07-18_israel-gaza-ticker",
        12,
        [
            "11.04 Uhr: Israelische Drohne tötet offenbar libanesischen Extremisten",
            "06.20 Uhr: USA schliessen provisorischen Hafen vor Gaza-Küste",
            "15.32 Uhr: Weiterhin tödliche Angriffe im Gazastreifen",
        ],
    ),
]
CONTROLS = [
    "repubblica_2024-12-30_carter-reazioni",
    "metro_2024-07-17_kings-speech",
    "faz_2024-04-17_article-control",
    "euronews_2026-01-06_article-control",
]


def _shown(title: str, body: str, expected: str) -> str:
    """What the reader's list names an entry by: its headline, else its first words."""
    text = title or body.replace("\u200b", "")
    return text[: len(expected)]


@pytest.mark.parametrize(("name", "count", "first"), LIVE_BLOGS, ids=[r[0] for r in LIVE_BLOGS])
def test_each_live_blog_as_its_reader_sees_it(name: str, count: int, first: list[str]) -> None:
    snapshot = read(PAGES / f"{name}.html")
    assert len(snapshot.entries) == count
    shown = [_shown(e.title, e.body, x) for e, x in zip(snapshot.entries, first, strict=False)]
    assert shown == first
    assert leftovers(snapshot) == []
    assert all(e.title or e.body for e in snapshot.entries)


@pytest.mark.parametrize("name", CONTROLS)
def test_ordinary_articles_give_no_entries(name: str) -> None:
    with pytest.raises(SourceError, match=r"^not a live blog: no LiveBlogPosting"):
        read(PAGES / f"{name}.html")


@pytest.mark.parametrize(
    "path",
    sorted(PAGES.glob("*.html")) + sorted((REALWORLD / "feeds").glob("*")),
    ids=lambda p: p.name,
)
def test_preview_shows_what_each_page_and_feed_gives(path: Path) -> None:
    found = preview(str(path), None, None)
    if path.stem in CONTROLS:
        assert found.error is not None and found.error.startswith("not a live blog")
        return
    assert found.error is None and found.entries and found.strategy
    out = io.StringIO()
    write_text(found, out)
    assert f"{len(found.entries)} entries, newest first:" in out.getvalue()


def test_bodies_the_json_ld_cuts_are_read_whole() -> None:
    guardian = read(PAGES / "guardian_2023-05-15_russia-ukraine-live.html")
    assert not any(e.body.endswith("membershi") for e in guardian.entries)
    india = read(PAGES / "timesofindia_2020_ipl-csk-srh-liveblog.html")
    assert all(len(e.body) > 110 for e in india.entries[1:])  # the JSON-LD stops at 96


def test_the_html_list_the_json_ld_drops_is_in_the_entry() -> None:
    cork = read(PAGES / "corkbeo_2020_level-3-live.html")
    (entry,) = [e for e in cork.entries if e.key == "2259111"]
    assert entry.body.count("\n") >= 9  # its nine list items, one a line


SIMS = sorted(p.name for p in SIM.glob("*.v2*")) if SIM.is_dir() else []


def _original(sim: str) -> Path:
    folder = PAGES if sim.endswith(".html") else REALWORLD / "feeds"
    return folder / (sim.split(".v2", maxsplit=1)[0] + (".html" if sim.endswith(".html") else ""))


def _parse(path: Path) -> Snapshot:
    if path.suffix == ".html":
        return read(path)
    return parse_feed(path.read_bytes(), None, "https://news.example.org/feed")


@pytest.mark.parametrize("sim", SIMS)
def test_each_replayed_edit_gives_the_events_it_should(sim: str) -> None:
    found = changes(_parse(_original(sim)), _parse(SIM / sim))
    if "html-list-only" in sim:
        expected = {"updated": 1}  # one list item, in the HTML only
    elif "summary-only" in sim:
        expected = {"new": 1}  # a feed entry's text is its content, not its summary
    else:
        expected = {"updated": 1, "new": 1}
    assert kinds(found) == expected
    for change in found:
        if change.kind.value == "updated":
            added = "".join(t for op, t in change.diff if op == 1)
            assert len(added.split()) >= 3, change.diff
