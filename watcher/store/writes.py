"""Writes shared by the store's transactions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from watcher.model import DeliveryStatus, Kind, Match, Target
from watcher.store.records import SourceRow, source_row
from watcher.store.schema import (
    NEW_SOURCE,
    RECORD_SUCCESS,
    SOURCE_BY_NAME,
    deliveries,
    events,
    sources,
)

SOURCE_LOCKED = SOURCE_BY_NAME.with_for_update()
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


def source_of(conn: Connection, target: Target, kind: str, lock: bool = False) -> SourceRow:
    """The source's row, made if it has none; with `lock`, locked until the transaction
    ends (PostgreSQL; SQLite's write lock covers everything)."""
    found = conn.execute(SOURCE_LOCKED if lock else SOURCE_BY_NAME, {"name": target.name}).first()
    if found is None:
        found = conn.execute(
            NEW_SOURCE,
            {
                "name": target.name,
                "source": target.source,
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
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def record_success(
    conn: Connection,
    polls: Sequence[dict[str, Any]],
    errors_to: Sequence[str],
    now: float,
    recovered: Sequence[int] | None = None,
) -> None:
    """Notes good polls, changed or not: the one writer of a source's success, which also
    ends a hold and tells `errors_to` of each source that was failing and is back.

    Each poll: source_id, etag, last_modified, content_hash (None: unchanged), changed.
    `recovered`: those of the sources that were failing, when the caller read their rows
    in this transaction; else they are read here.
    """
    if recovered is None:
        ids = [p["source_id"] for p in polls]
        failing = sa.select(sources.c.id).where(sources.c.id.in_(ids), sources.c.failures > 0)
        recovered = conn.execute(failing).scalars().all()
    conn.execute(RECORD_SUCCESS, [{**p, "now": now} for p in polls])
    for source_id in recovered:
        source_event(conn, source_id, Kind.UP, None, errors_to, now)
