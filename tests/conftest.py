from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
