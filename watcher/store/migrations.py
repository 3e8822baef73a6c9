"""Versioned schema migrations, the same for SQLite and PostgreSQL.

A new database is created at the current version. An older one is brought up one
version at a time, each step in one transaction with its version bump. A database newer
than this code is refused rather than misread. Instances starting together take turns:
SQLite's write lock, PostgreSQL's advisory lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from watcher.store.engine import StoreError
from watcher.store.schema import claims, meta, metadata, sources

logger = logging.getLogger(__name__)
SCHEMA_VERSION = 8
_LOCK = 0x77617463  # "watc": the advisory lock that migrations hold on PostgreSQL


def _add_columns(conn: Connection, *columns: tuple[str, str, str]) -> None:
    """(table, column, SQL type) each added unless there already."""
    for table, column, kind in columns:
        if column not in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))


def _v2(conn: Connection) -> None:
    """Claims: which instance polls a source, or drains a channel."""
    claims.create(conn, checkfirst=True)


def _v3(conn: Connection) -> None:
    """What a held poll would have done, and the hash of a body that failed to parse."""
    _add_columns(conn, ("sources", "held", "VARCHAR(64)"), ("sources", "bad_hash", "VARCHAR(64)"))


def _v4(conn: Connection) -> None:
    """Claims end with their instance (liveness.py), not with a lease."""
    if "lease_until" in {c["name"] for c in sa.inspect(conn).get_columns("claims")}:
        conn.execute(sa.text("ALTER TABLE claims DROP COLUMN lease_until"))


def _v5(conn: Connection) -> None:
    """Each target's configured source by name, rather than read off the target's name."""
    _add_columns(conn, ("sources", "source", "VARCHAR(512)"))
    names = conn.execute(sa.select(sources.c.id, sources.c.name)).all()
    if names:
        conn.execute(
            sources.update().where(sources.c.id == sa.bindparam("sid")),
            [{"sid": sid, "source": name.split("/", 1)[0]} for sid, name in names],
        )


def _v6(conn: Connection) -> None:
    """The live blog's title and each entry's time, for alerts a desk can place."""
    _add_columns(conn, ("sources", "title", "TEXT"), ("entries", "published", "VARCHAR(64)"))


# Full-text search over every revision, native to each backend, filled behind the polls
# (desk.py: index_search) up to the `search_indexed` mark rather than at each insert: an
# FTS5 trigger doubled a first pass over 2,000 feeds on SQLite, a GIN expression index
# made it 36% slower on PostgreSQL. SQLite: an FTS5 table over the revisions, whose rows
# leave with their revisions (those it holds). PostgreSQL: each revision's words
# ('simple': no stemming, as live blogs come in every language) in a table of their own
# with a GIN index, its rows deleted with their revisions.
_MARK = (
    "INSERT INTO meta (key, value) SELECT 'search_indexed', '0'"
    " WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = 'search_indexed')"
)
_SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS revisions_search USING fts5(title, body,"
    " content='revisions', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    _MARK,
    "CREATE TRIGGER IF NOT EXISTS revisions_search_drop AFTER DELETE ON revisions"
    " WHEN old.id <= (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'search_indexed')"
    " BEGIN INSERT INTO revisions_search(revisions_search, rowid, title, body)"
    " VALUES ('delete', old.id, old.title, old.body); END",
]
_POSTGRES_SEARCH = [
    "CREATE TABLE IF NOT EXISTS revisions_search (id INTEGER PRIMARY KEY"
    " REFERENCES revisions (id) ON DELETE CASCADE, words TSVECTOR NOT NULL)",
    "CREATE INDEX IF NOT EXISTS revisions_search_words ON revisions_search USING gin (words)",
    _MARK,
]


def _v7(conn: Connection) -> None:
    """Search over every revision (the desk's), and events read newest first by source."""
    steps = _SQLITE_SEARCH if conn.dialect.name == "sqlite" else _POSTGRES_SEARCH
    for statement in steps:
        conn.execute(sa.text(statement))
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS events_by_source ON events (source_id, id)"))


def _v8(conn: Connection) -> None:
    """Sends under way, so that one cut off by a crash is known, and sent again under
    the same key; each entry's item digest, so that an unchanged item is not read again;
    an entry's words kept once, in its current revision, not also in the entry."""
    _add_columns(
        conn,
        ("deliveries", "sending_at", "FLOAT"),
        ("entries", "digest", "VARCHAR(32)"),
    )
    have = {c["name"] for c in sa.inspect(conn).get_columns("entries")}
    if {"title", "body"} <= have:
        # An entry without its current revision (a store damaged by hand) keeps its words.
        conn.execute(
            sa.text(
                "INSERT INTO revisions (entry_id, revision, title, body, created_at)"
                " SELECT e.id, e.revision, e.title, e.body, e.updated_at FROM entries e"
                " WHERE NOT EXISTS (SELECT 1 FROM revisions r"
                " WHERE r.entry_id = e.id AND r.revision = e.revision)"
            )
        )
    for column in ("title", "body"):
        if column in have:
            conn.execute(sa.text(f"ALTER TABLE entries DROP COLUMN {column}"))


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _v2,
    3: _v3,
    4: _v4,
    5: _v5,
    6: _v6,
    7: _v7,
    8: _v8,
}


def _version(conn: Connection) -> int | None:
    if not sa.inspect(conn).has_table(meta.name):
        return None
    found = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema")).scalar()
    return int(found) if found is not None else None


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})


def migrate(engine: Engine, where: str) -> None:
    with engine.begin() as conn:
        _lock(conn)
        found = _version(conn)
        if found is None:
            metadata.create_all(conn)
            _v7(conn)  # what the tables alone do not make
            conn.execute(meta.insert().values(key="schema", value=str(SCHEMA_VERSION)))
            return
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"state database {where} has schema version {found}, newer than this watcher "
                f"understands ({SCHEMA_VERSION}); upgrade watcher, or point it at another database"
            )
        # A write at start, so that a database we cannot write to is found now.
        conn.execute(meta.update().where(meta.c.key == "schema").values(value=str(found)))
    for version in range(found + 1, SCHEMA_VERSION + 1):
        with engine.begin() as conn:
            _lock(conn)
            if (_version(conn) or 0) >= version:  # another instance got there first
                continue
            MIGRATIONS[version](conn)
            conn.execute(meta.update().where(meta.c.key == "schema").values(value=str(version)))
        logger.info("state database migrated", extra={"version": version})
