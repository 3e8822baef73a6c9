"""Looking back: the stored entries and revisions, for `history`, `diff`, `rules test`
and the metrics. Reads only."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import sqlalchemy as sa

from watcher.model import Kind
from watcher.store.database import Database
from watcher.store.records import (
    EntryRow,
    HistoryRow,
    RevisionRow,
)
from watcher.store.schema import (
    current,
    entries,
    revisions,
    sources,
)


class Lookback(Database):
    """Queries over entries and revisions, streamed where they can be long."""

    def history(
        self, source: str | None = None, since: float | None = None
    ) -> Iterator[HistoryRow]:
        """Every revision of every entry (and each removal), entry by entry, streamed.

        `source` is a stored name or a configured one (which covers `name/...`). Revisions
        before `since` still come, so that the first after it has its predecessor.
        """
        query = (
            sa.select(
                sources.c.name.label("source"),
                sources.c.source.label("configured"),
                entries.c.id.label("entry_id"),
                entries.c.key,
                entries.c.url,
                entries.c.removed_at,
                entries.c.revision.label("current"),
                revisions.c.revision,
                revisions.c.title,
                revisions.c.body,
                revisions.c.created_at,
            )
            .select_from(
                revisions.join(entries, revisions.c.entry_id == entries.c.id).join(
                    sources, entries.c.source_id == sources.c.id
                )
            )
            .order_by(entries.c.id, revisions.c.revision)
        )
        if source is not None:
            query = query.where(
                sa.or_(sources.c.name == source, sources.c.name.startswith(f"{source}/"))
            )
        if since is not None:
            touched = sa.select(revisions.c.entry_id).where(revisions.c.created_at >= since)
            query = query.where(sa.or_(entries.c.id.in_(touched), entries.c.removed_at >= since))
        with self._read() as conn:
            for row in conn.execution_options(yield_per=500).execute(query):
                revision = HistoryRow(
                    row.source,
                    row.configured,
                    row.entry_id,
                    row.key,
                    row.url,
                    row.revision,
                    row.title,
                    row.body,
                    row.created_at,
                    Kind.NEW,
                )
                yield revision
                if row.removed_at is not None and row.revision == row.current:
                    yield dataclasses.replace(revision, at=row.removed_at, kind=Kind.REMOVED)

    def resolve(self, name: str) -> str | None:
        """A stored source's full name from its name or from the only one under a
        configured name (`seeds` for `seeds/000_….txt`)."""
        query = sa.select(sources.c.name).where(
            sa.or_(sources.c.name == name, sources.c.name.startswith(f"{name}/"))
        )
        with self._read() as conn:
            found = list(conn.execute(query).scalars())
        if name in found:
            return name
        return found[0] if len(found) == 1 else None

    def entries_of(self, source: str) -> list[EntryRow]:
        """A source's entries, newest first, removed ones last."""
        query = (
            sa.select(
                entries.c.key,
                revisions.c.title,
                entries.c.revision,
                entries.c.first_seen,
                entries.c.updated_at,
                entries.c.removed_at,
            )
            .select_from(current(entries).join(sources, entries.c.source_id == sources.c.id))
            .where(sources.c.name == source)
            .order_by(entries.c.removed_at.is_not(None), entries.c.position)
        )
        with self._read() as conn:
            return [EntryRow(*row) for row in conn.execute(query)]

    def revisions_of(self, source: str, key: str) -> list[RevisionRow]:
        query = (
            sa.select(
                revisions.c.revision, revisions.c.title, revisions.c.body, revisions.c.created_at
            )
            .select_from(
                revisions.join(entries, revisions.c.entry_id == entries.c.id).join(
                    sources, entries.c.source_id == sources.c.id
                )
            )
            .where(sources.c.name == source, entries.c.key == key)
            .order_by(revisions.c.revision)
        )
        with self._read() as conn:
            return [RevisionRow(*row) for row in conn.execute(query)]

    def active_entries(self, name: str) -> int:
        """How many entries the named source shows now."""
        query = (
            sa.select(sa.func.count())
            .select_from(entries.join(sources, entries.c.source_id == sources.c.id))
            .where(sources.c.name == name, entries.c.removed_at.is_(None))
        )
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())
