"""The desk's reads: events newest first, one entry's revisions, full-text search over
every revision, the outbox; and its one write, a delivery retried.

Every list is paged by key (`before`: the last id shown), never by OFFSET, so that the
hundredth page costs what the first does. Search is native to each backend (FTS5 on
SQLite, a GIN index on PostgreSQL; migrations.py makes both) behind one function.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from watcher.model import DeliveryStatus
from watcher.store.database import Database
from watcher.store.records import DeliveryView, DeskEvent, RevisionRow, SearchHit, alert_of
from watcher.store.schema import (
    DELIVERIES,
    EVENTS,
    deliveries,
    entries,
    events,
    meta,
    revisions,
    sources,
)

_PHRASE = re.compile(r'"([^"]*)"|(\S+)')
_FTS_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What the desk narrows to; each empty field lets everything through."""

    source: str = ""  # a configured source's name, or one target's
    rule: str = ""
    kind: str = ""


@dataclass(frozen=True, slots=True)
class EntryView:
    source: str
    blog: str
    key: str
    url: str | None
    removed_at: float | None
    revisions: list[RevisionRow]


def _source_is(name: str) -> sa.ColumnElement[bool]:
    return sa.or_(sources.c.name == name, sources.c.source == name)


def _tagged(rule: str) -> sa.ColumnElement[bool]:
    """Events whose tags (a JSON list, as polls.py writes it) hold `rule`, exactly: a
    position search, case-sensitive on both backends (SQLite's LIKE is not)."""
    return _position(events.c.tags, sa.literal(json.dumps(rule))) > 0


class _position(FunctionElement[int]):
    """Where a string occurs in another, from 1; 0 if nowhere."""

    type = sa.Integer()
    inherit_cache = True


@compiles(_position)
def _strpos(element: _position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


@compiles(_position, "sqlite")
def _instr(element: _position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


def fts5_query(text: str) -> str:
    """What a person typed as an FTS5 query that cannot be a syntax error: every word
    (or "quoted phrase") must occur; a word ending in `*` is a prefix."""
    terms = []
    for phrase, word in _PHRASE.findall(text):
        words = _FTS_WORD.findall(phrase or word)
        if words:
            prefix = "*" if word.endswith("*") and not phrase else ""
            terms.append('"' + " ".join(words) + '"' + prefix)
    return " ".join(terms)


SEARCH_BATCH = 2000  # revisions indexed a transaction
SETTLE = 10.0  # seconds before PostgreSQL's index takes a revision (see index_search)
_INDEX = sa.text(
    "INSERT INTO revisions_search(rowid, title, body) SELECT id, title, body FROM revisions"
    " WHERE id > :done AND id <= :upto"
)
_INDEX_PG = sa.text(
    "INSERT INTO revisions_search (id, words) SELECT id,"
    " to_tsvector('simple', title || ' ' || body) FROM revisions"
    " WHERE id > :done AND id <= :upto ON CONFLICT (id) DO NOTHING"
)
_HITS = sa.select(
    revisions.c.id,
    entries.c.id.label("entry_id"),
    sources.c.name,
    sources.c.title.label("blog"),
    entries.c.key,
    entries.c.url,
    revisions.c.revision,
    revisions.c.title,
    revisions.c.body,
    revisions.c.created_at,
).select_from(
    revisions.join(entries, revisions.c.entry_id == entries.c.id).join(
        sources, entries.c.source_id == sources.c.id
    )
)


class Desk(Database):
    """Reads for the desk's pages, and the retry of a delivery."""

    def desk_events(
        self,
        filters: EventFilter,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> list[DeskEvent]:
        """Events newest first (before `before`), or oldest first after `after` (what a
        live page has not seen yet)."""
        query = EVENTS
        if filters.source:
            query = query.where(_source_is(filters.source))
        if filters.rule:
            query = query.where(_tagged(filters.rule))
        if filters.kind:
            query = query.where(events.c.kind == filters.kind)
        if before is not None:
            query = query.where(events.c.id < before)
        if after is not None:
            query = query.where(events.c.id > after).order_by(events.c.id)
        else:
            query = query.order_by(events.c.id.desc())
        with self._read() as conn:
            return [DeskEvent(alert_of(r), r.entry_id) for r in conn.execute(query.limit(limit))]

    def last_event_id(self) -> int:
        with self._read() as conn:
            return conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0

    def entry_view(self, entry_id: int) -> EntryView | None:
        head = (
            sa.select(sources.c.name, sources.c.title, entries.c.key, entries.c.url)
            .add_columns(entries.c.removed_at)
            .select_from(entries.join(sources, entries.c.source_id == sources.c.id))
            .where(entries.c.id == entry_id)
        )
        history = (
            sa.select(revisions.c.revision, revisions.c.title, revisions.c.body)
            .add_columns(revisions.c.created_at)
            .where(revisions.c.entry_id == entry_id)
            .order_by(revisions.c.revision)
        )
        with self._read() as conn:
            row = conn.execute(head).first()
            if row is None:
                return None
            found = [RevisionRow(*r) for r in conn.execute(history)]
        return EntryView(row.name, row.title or "", row.key, row.url, row.removed_at, found)

    def search(
        self,
        text: str,
        filters: EventFilter,
        since: float | None = None,
        until: float | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[SearchHit]:
        """Revisions whose title or text holds every word of `text`, newest first."""
        if self.url.startswith("sqlite"):
            while self.index_search():  # what the desk's feed has not indexed yet
                pass
        query = _HITS.where(self._matching(text)).order_by(revisions.c.id.desc()).limit(limit)
        if filters.source:
            query = query.where(_source_is(filters.source))
        if filters.rule:
            tagged = sa.select(events.c.id).where(
                events.c.entry_id == revisions.c.entry_id,
                events.c.revision == revisions.c.revision,
                _tagged(filters.rule),
            )
            query = query.where(tagged.exists())
        if since is not None:
            query = query.where(revisions.c.created_at >= since)
        if until is not None:
            query = query.where(revisions.c.created_at < until)
        if before is not None:
            query = query.where(revisions.c.id < before)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            SearchHit(
                r.id,
                r.entry_id,
                r.name,
                r.blog or "",
                r.key,
                r.url,
                r.revision,
                r.title,
                r.body,
                r.created_at,
            )
            for r in rows
        ]

    def index_search(self, batch: int = SEARCH_BATCH) -> int:
        """Adds up to `batch` revisions past the `search_indexed` mark to the search table,
        in one transaction; returns how many (0: the index is current). On PostgreSQL the
        mark stops short of revisions younger than SETTLE seconds, whose transactions may
        not all have committed yet (ids are handed out before commit); a search reads
        what is past the mark from the revisions themselves."""
        postgres = not self.url.startswith("sqlite")
        mark = meta.c.key == "search_indexed"
        with self._write() as conn:
            row = sa.select(meta.c.value).where(mark)
            done = int(conn.execute(row.with_for_update() if postgres else row).scalar() or 0)
            pending = sa.select(revisions.c.id).where(revisions.c.id > done)
            if postgres:
                pending = pending.where(revisions.c.created_at < time.time() - SETTLE)
            first = pending.order_by(revisions.c.id).limit(batch).subquery()
            upto = conn.execute(sa.select(sa.func.max(first.c.id))).scalar()
            if upto is None:
                return 0
            added = conn.execute(_INDEX_PG if postgres else _INDEX, {"done": done, "upto": upto})
            conn.execute(meta.update().where(mark).values(value=str(upto)))
        return max(added.rowcount, 0)

    def _matching(self, text: str) -> sa.TextClause:
        """Revisions that hold every word of `text`, by the backend's own index; on
        PostgreSQL, with those past the index's mark read as they are."""
        if self.url.startswith("sqlite"):
            return sa.text(
                "revisions.id IN (SELECT rowid FROM revisions_search WHERE revisions_search "
                "MATCH :q)"
            ).bindparams(q=fts5_query(text) or '""')
        return sa.text(
            "(revisions.id IN (SELECT id FROM revisions_search"
            " WHERE words @@ websearch_to_tsquery('simple', :q))"
            " OR (revisions.id > (SELECT CAST(value AS INTEGER) FROM meta"
            " WHERE key = 'search_indexed')"
            " AND to_tsvector('simple', revisions.title || ' ' || revisions.body)"
            " @@ websearch_to_tsquery('simple', :q)))"
        ).bindparams(q=text)

    def desk_deliveries(
        self, status: str = "", before: int | None = None, limit: int = 50
    ) -> list[DeliveryView]:
        query = DELIVERIES.order_by(deliveries.c.id.desc()).limit(limit)
        if status:
            query = query.where(deliveries.c.status == status)
        if before is not None:
            query = query.where(deliveries.c.id < before)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            DeliveryView(
                r.id,
                r.channel,
                r.status,
                r.attempts,
                r.next_attempt_at,
                r.last_error,
                r.done_at,
                DeskEvent(alert_of(r), r.entry_id),
            )
            for r in rows
        ]

    def retry_delivery(self, delivery_id: int) -> bool:
        """A failed or waiting delivery due now, with its time to live started anew;
        False if there is no such delivery to retry (sent, dropped, or none)."""
        retryable = (DeliveryStatus.FAILED, DeliveryStatus.PENDING)
        with self._write() as conn:
            done = conn.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery_id, deliveries.c.status.in_(retryable))
                .values(
                    status=DeliveryStatus.PENDING,
                    next_attempt_at=0.0,
                    created_at=time.time(),
                    done_at=None,
                )
            )
        return done.rowcount > 0

    def activity(self, since: float) -> dict[str, tuple[int, int]]:
        """Each target's (entries shown now, events since `since`)."""
        shown = (
            sa.select(sources.c.name, sa.func.count(entries.c.id))
            .select_from(sources.outerjoin(entries, entries.c.source_id == sources.c.id))
            .where(entries.c.removed_at.is_(None))
            .group_by(sources.c.name)
        )
        recent = (
            sa.select(sources.c.name, sa.func.count(events.c.id))
            .select_from(events.join(sources, events.c.source_id == sources.c.id))
            .where(events.c.created_at >= since)
            .group_by(sources.c.name)
        )
        with self._read() as conn:
            counts = {name: (n, 0) for name, n in conn.execute(shown)}
            for name, n in conn.execute(recent):
                counts[name] = (counts.get(name, (0, 0))[0], n)
        return counts
