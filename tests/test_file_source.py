"""A broken seed file fails alone, says why, and never touches what the store holds."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.helpers import SEED, add_paragraph, run_watcher
from watcher.store import current, entries, events, revisions, sources

CONFIG = """\
state: state.db
sources:
  - name: one
    file: blogs/000_cda4f8f913c75e77.txt
    baseline: alert
  - name: two
    file: other/blog.txt
    baseline: alert
rules:
  - name: Putin
    keywords: [Putin]
"""


def _missing(p: Path) -> None:
    p.unlink()


def _directory(p: Path) -> None:
    p.unlink()
    p.mkdir()


def _unreadable(p: Path) -> None:
    p.chmod(0)


BREAKAGES: dict[str, tuple[Callable[[Path], object], str]] = {
    "missing": (_missing, "file not found"),
    "empty": (lambda p: p.write_bytes(b""), "empty file"),
    "blank": (lambda p: p.write_bytes(b"\n \n"), "empty file"),
    "directory": (_directory, "Is a directory"),
    "not utf-8": (
        lambda p: p.write_bytes(SEED.read_bytes().replace(b"Putin", b"Put\xefn")),
        "not UTF-8",
    ),
    "binary": (
        lambda p: p.write_bytes(os.urandom(2048).replace(b"\x00", b"") + b"\x00"),
        "binary file",
    ),
    "no header": (lambda p: p.write_text("garbage\nmore garbage\n"), "line 1"),
    "no entries": (
        lambda p: p.write_text(" date 2025-02-13 Title\nStandfirst\n"),
        "no entries found",
    ),
}
if os.geteuid() != 0:  # root reads files whatever their mode
    BREAKAGES["unreadable"] = (_unreadable, "Permission denied")


def state(db: Path) -> dict[str, Any]:
    """What the store holds: source one's entries, and counts for both sources."""
    one = sa.select(sources.c.id).where(sources.c.name == "one").scalar_subquery()
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        found = {
            "entries": conn.execute(
                sa.select(entries.c.key, revisions.c.title, revisions.c.body, entries.c.removed_at)
                .select_from(current(entries))
                .where(entries.c.source_id == one)
                .order_by(entries.c.id)
            ).all(),
            "revisions": conn.execute(sa.select(sa.func.count()).select_from(revisions)).scalar(),
            "events": conn.execute(sa.select(events.c.kind).order_by(events.c.id)).scalars().all(),
        }
    engine.dispose()
    return found


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_broken_file_fails_alone_and_keeps_state(
    breakage: str, seed_copy: Path, make_config
) -> None:
    config = make_config(CONFIG)
    other = config.parent / "other" / "blog.txt"
    other.parent.mkdir()
    shutil.copy(SEED, other)
    assert run_watcher("check", "-c", str(config)).returncode == 0
    db = config.parent / "state.db"
    before = state(db)
    assert len(before["entries"]) == 6

    break_it, reason = BREAKAGES[breakage]
    break_it(seed_copy)
    add_paragraph(other, "US 'recognising realities on the ground'", "Putin said nothing.")
    done = run_watcher("check", "-c", str(config), "--json")

    assert done.returncode == 3
    failure = next(json.loads(line) for line in done.stderr.splitlines() if "poll failed" in line)
    assert failure["source"] == "one" and reason in failure["reason"]
    # The other source went on: its update was found.
    assert [json.loads(line)["source"] for line in done.stdout.splitlines()] == ["two"]
    after = state(db)
    assert after["entries"] == before["entries"]
    assert after["revisions"] == before["revisions"] + 1
    assert after["events"] == [*before["events"], "updated"]
    assert "removed" not in after["events"]

    # Repaired, the file is just as it was: no event at all.
    if seed_copy.is_dir():
        seed_copy.rmdir()
    seed_copy.chmod(0o644) if seed_copy.exists() else None
    shutil.copy(SEED, seed_copy)
    repaired = run_watcher("check", "-c", str(config), "--json")
    assert (repaired.returncode, repaired.stdout) == (0, "")
