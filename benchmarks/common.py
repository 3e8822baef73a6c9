"""What the benchmarks share: their tables written into benchmarks/README.md, a
PostgreSQL schema of their own, and the memory of a process tree."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from watcher.store.engine import normalize_url

README = Path(__file__).resolve().parent / "README.md"


def write_section(key: str, text: str) -> None:
    """`text` between the README's `<!-- key:start -->` and `<!-- key:end -->` marks."""
    start_mark, end_mark = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    current = README.read_text()
    start, end = current.index(start_mark) + len(start_mark), current.index(end_mark)
    README.write_text(f"{current[:start]}\n{text}\n{current[end:]}")


def postgres_answers(base_url: str) -> bool:
    """Whether a PostgreSQL server answers at `base_url` (within 2 s)."""
    engine = sa.create_engine(normalize_url(base_url), connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            return True
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


@contextlib.contextmanager
def pg_schema(base_url: str, name: str) -> Iterator[str]:
    """A schema of its own on the PostgreSQL server, dropped after: a URL whose
    search_path is that schema."""
    admin = sa.create_engine(normalize_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    joiner = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{joiner}options=-csearch_path%3D{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


def tree_memory_mb(pid: int) -> float:
    """Memory of a process and all its descendants, in MB: their proportional set sizes,
    so that the pages forked parsers share with the daemon count once, not once each."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text().splitlines()
            total += int(next(ln.split()[1] for ln in rollup if ln.startswith("Pss:")))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, StopIteration):
            continue
    return total / 1024
