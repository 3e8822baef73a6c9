"""The desk's reads on both backends: events by key, search over every revision, the
outbox and its retry."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.test_store_backends import ENTRIES, TARGET, poll
from watcher.model import DeliveryStatus, Entry, Kind
from watcher.store import EventFilter, Store, revisions
from watcher.store.desk import fts5_query


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    poll(store, ENTRIES)  # six new entries, every event tagged Putin (see poll)
    edited = (
        ENTRIES[0],
        Entry(ENTRIES[1].title, ENTRIES[1].body + "\n\nPutin spoke to Zelenskyy's envoy."),
        *ENTRIES[2:],
    )
    poll(store, edited)
    yield store
    store.close()


def test_events_come_newest_first_paged_by_key_and_filtered(store: Store) -> None:
    everything = store.desk_events(EventFilter())
    assert len(everything) == 7 and everything[0].alert.kind is Kind.UPDATED
    ids = [e.alert.event_id or 0 for e in everything]
    assert ids == sorted(ids, reverse=True)
    first = store.desk_events(EventFilter(), limit=4)
    second = store.desk_events(EventFilter(), before=first[-1].alert.event_id, limit=4)
    assert [e.alert.event_id for e in first + second] == ids
    assert len(store.desk_events(EventFilter(kind="updated"))) == 1
    assert len(store.desk_events(EventFilter(source="live"))) == 7  # the configured name
    assert len(store.desk_events(EventFilter(source=TARGET.name))) == 7  # the target's
    assert store.desk_events(EventFilter(source="other")) == []
    assert len(store.desk_events(EventFilter(rule="Putin"))) == 7
    assert store.desk_events(EventFilter(rule="Put%")) == []  # no pattern: the name itself
    assert store.desk_events(EventFilter(rule="putin")) == []  # as written, on both backends
    newer = store.desk_events(EventFilter(), after=ids[2])
    assert [e.alert.event_id for e in newer] == [ids[1], ids[0]]  # oldest first
    assert store.last_event_id() == ids[0]


def test_search_finds_every_revision_newest_first(store: Store) -> None:
    (hit,) = store.search("zelenskyy envoy", EventFilter())
    assert hit.revision == 2 and "Putin spoke" in hit.body
    assert store.entry_view(hit.entry_id) is not None
    both = store.search("Hegseth", EventFilter())
    assert len(both) >= 2 and both[0].id > both[-1].id
    assert store.search("Hegseth", EventFilter(source="other")) == []
    assert store.search("Hegseth", EventFilter(), until=0) == []
    page = store.search("Hegseth", EventFilter(), before=both[0].id)
    assert [h.id for h in page] == [h.id for h in both[1:]]
    # Whatever a person types is a query, never a syntax error.
    for typed in ['"unclosed', "AND OR NOT", "(*)", "col:umn", "'; DROP TABLE x; --", ""]:
        store.search(typed, EventFilter())


def test_the_fts5_query_quotes_every_word() -> None:
    assert fts5_query('putin "peace talks" Zel* OR -x') == '"putin" "peace talks" "Zel"* "OR" "x"'
    assert fts5_query('" ( ) :') == ""


def test_entry_view_has_every_revision(store: Store) -> None:
    (hit,) = store.search("envoy", EventFilter())
    view = store.entry_view(hit.entry_id)
    assert view is not None and [r.revision for r in view.revisions] == [1, 2]
    assert view.source == TARGET.name
    assert store.entry_view(10**9) is None


def test_a_failed_delivery_can_be_retried_once_more(store: Store) -> None:
    pending = store.pending("hook")
    store.delivery_failed([pending[0].id], "HTTP 500", None)
    (failed,) = store.desk_deliveries(status=DeliveryStatus.FAILED)
    assert failed.last_error == "HTTP 500" and failed.event.alert.event_id
    assert store.retry_delivery(failed.id)
    assert store.desk_deliveries(status=DeliveryStatus.FAILED) == []
    assert pending[0].id in {d.id for d in store.pending("hook")}
    store.delivered("hook", [pending[0].id])
    assert not store.retry_delivery(pending[0].id)  # sent: nothing to retry
    assert not store.retry_delivery(10**9)


def test_activity_counts_entries_shown_and_recent_events(store: Store) -> None:
    assert store.activity(since=0)[TARGET.name] == (6, 7)


def test_the_search_index_follows_the_store_and_pruning_keeps_it_whole(tmp_path) -> None:
    import time

    import sqlalchemy as sa

    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        poll(store, ENTRIES)
        assert store.index_search() == 6 and store.index_search() == 0
        edited = (ENTRIES[0], Entry(ENTRIES[1].title, ENTRIES[1].body + " Zelenskyy's envoy."))
        poll(store, (*edited, *ENTRIES[2:]))
        assert len(store.search("envoy", EventFilter())) == 1  # indexed on the way
        store.delivered("hook", [d.id for d in store.pending("hook")])
        count = sa.select(sa.func.count()).select_from(revisions)
        with store.engine.begin() as conn:
            before = conn.execute(count).scalar()
        assert store.prune(time.time() + 1) > 0  # the first revision of the edited entry goes
        with store.engine.begin() as conn:
            assert conn.execute(count).scalar() == (before or 0) - 1
            # FTS5's own check, against the revisions too (rank 1): raises if they differ.
            check = (
                "INSERT INTO revisions_search(revisions_search, rank) VALUES('integrity-check', 1)"
            )
            conn.execute(sa.text(check))
        assert [h.revision for h in store.search("Hegseth", EventFilter())]
    finally:
        store.close()


def test_search_finds_what_is_indexed_and_what_is_not_yet(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watcher.store import desk

    monkeypatch.setattr(desk, "SETTLE", -1.0)  # PostgreSQL: take revisions at once
    store = Store(store_url)
    try:
        poll(store, ENTRIES)
        assert store.index_search() == 6 and store.index_search() == 0
        edited = (ENTRIES[0], Entry(ENTRIES[1].title, ENTRIES[1].body + " Zelenskyy's envoy."))
        poll(store, (*edited, *ENTRIES[2:]))  # past the mark until the next index_search
        assert len(store.search("envoy", EventFilter())) == 1
        assert len(store.search("Hegseth", EventFilter())) >= 2
        assert store.index_search() <= 1 and store.index_search() == 0
        assert len(store.search("envoy", EventFilter())) == 1  # from the index now
        # A pruned revision leaves the index with it (an indexed one: PostgreSQL's rows
        # point at it, and would refuse the delete without their cascade).
        store.delivered("hook", [d.id for d in store.pending("hook")])
        assert store.prune(time.time() + 1) > 0
        assert len(store.search("Hegseth", EventFilter())) >= 1
    finally:
        store.close()
