"""Writes shared by the store's transactions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from watcher.model import Kind, Match
from watcher.sources.base import Target
from watcher.store.records import SourceRow, source_row
from watcher.store.schema import NEW_SOURCE, SOURCE_BY_NAME, deliveries, events

_INSERTS: dict[tuple[str, str, tuple[str, ...]], tuple[str, tuple[str, ...] | None]] = {}


def insert_many(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Inserts rows (all with the same keys) straight through the driver's executemany.

    SQLAlchemy's per-row parameter handling costs more than the database's own work for
    the dozens of small rows of a poll (psycopg pipelines them on PostgreSQL); the
    statement is compiled once per dialect.
    """
    columns = tuple(rows[0])
    cache_key = (conn.dialect.name, table.name, columns)
    if cache_key not in _INSERTS:
        compiled = (
            table.insert()
            .values({c: sa.bindparam(c) for c in columns})
            .compile(dialect=conn.dialect)
        )
        order = (
            tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        )
        _INSERTS[cache_key] = (str(compiled), order)
    sql, order = _INSERTS[cache_key]
    if order is None:  # named parameters (psycopg): the rows as they are
        conn.exec_driver_sql(sql, rows)
    else:
        conn.exec_driver_sql(sql, [tuple(row[c] for c in order) for row in rows])


def match_tuple(m: Match) -> tuple[str, int, int, str, bool]:
    return (m.rule, m.start, m.end, m.text, m.old)


def source_of(conn: Connection, target: Target, kind: str) -> SourceRow:
    """The source's row, made if it has none."""
    found = conn.execute(SOURCE_BY_NAME, {"name": target.name}).first()
    if found is None:
        found = conn.execute(
            NEW_SOURCE,
            {
                "name": target.name,
                "kind": kind,
                "location": target.location,
                "baselined": False,
                "failures": 0,
            },
        ).one()
    return source_row(found)


def source_event(
    conn: Connection,
    source_id: int,
    kind: Kind,
    detail: str | None,
    channels: Sequence[str],
    now: float,
) -> None:
    """A source went down or came back: an event, with deliveries to `channels`."""
    if not channels:
        return
    event_id = conn.execute(
        events.insert()
        .values(
            source_id=source_id,
            kind=kind.value,
            created_at=now,
            tags="[]",
            matches="[]",
            detail=detail,
            priority=False,
        )
        .returning(events.c.id)
    ).scalar_one()
    conn.execute(deliveries.insert(), [pending_row(event_id, c, now) for c in channels])


def pending_row(event_id: int, channel: str, now: float) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "channel": channel,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
