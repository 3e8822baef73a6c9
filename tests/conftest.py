from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.common import pg_schema, postgres_answers
from tests.helpers import SEED


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    """A private copy of the seed live blog, in a folder of its own."""
    folder = tmp_path / "blogs"
    folder.mkdir()
    return Path(shutil.copy(SEED, folder / SEED.name))


@pytest.fixture
def make_config(tmp_path: Path):
    def make(text: str, name: str = "watcher.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return make


LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@functools.cache
def _local_postgres() -> str | None:
    """The PostgreSQL server at the default local address, if one answers there."""
    return LOCAL_POSTGRES if postgres_answers(LOCAL_POSTGRES) else None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a schema of this test's own, dropped after."""
    base = os.environ.get("WATCHER_TEST_POSTGRES_URL") or _local_postgres()
    if not base:
        pytest.skip(
            f"no PostgreSQL server at {LOCAL_POSTGRES} and WATCHER_TEST_POSTGRES_URL is not set"
        )
    with pg_schema(base, f"watcher_test_{uuid.uuid4().hex[:12]}") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same store tests on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
