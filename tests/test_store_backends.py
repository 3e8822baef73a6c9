"""The store, the same on SQLite and PostgreSQL: polls, outbox, claims, history, schema."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from tests.helpers import SEED
from watcher.diff import compare
from watcher.model import Change, Entry, Event, Kind, Snapshot, Target
from watcher.sources import textblog
from watcher.store import SCHEMA_VERSION, ClaimLost, Store, StoreError, Touch, claims, meta

TARGET = Target("live/blog.txt", "live", "blogs/blog.txt")
ENTRIES = textblog.parse(SEED.read_text(encoding="utf-8")).entries


def poll(
    store: Store, entries: tuple[Entry, ...], channels: tuple[str, ...] = ("hook",)
) -> list[int]:
    with store.poll(TARGET, "file") as tx:
        comparison = compare(tx.entries(), Snapshot(entries))
        events = [Event(c, ("Putin",), (), channels) for c in comparison.changes]
        saved = tx.save(comparison, events, "etag", None, str(hash(entries)))
    return [event_id for _, event_id in saved]


def test_poll_saves_entries_revisions_events_and_deliveries(store_url: str) -> None:
    store = Store(store_url)
    try:
        assert len(poll(store, ENTRIES)) == 6
        assert poll(store, ENTRIES) == []
        edited = (
            ENTRIES[0],
            Entry(ENTRIES[1].title, ENTRIES[1].body + "\n\nPutin spoke."),
            *ENTRIES[2:],
        )
        (event_id,) = poll(store, edited)
        pending = store.pending("hook")
        assert len(pending) == 7
        assert pending[-1].alert.kind is Kind.UPDATED and pending[-1].alert.event_id == event_id
        assert pending[-1].alert.body.endswith("Putin spoke.")
        history = list(store.history("live"))
        assert len(history) == 7 and history[2].revision == 2
        row = store.source(TARGET.name)
        assert row is not None and row.baselined and row.etag == "etag"
    finally:
        store.close()


def test_a_failed_poll_transaction_leaves_nothing_behind(store_url: str) -> None:
    store = Store(store_url)
    try:
        with pytest.raises(RuntimeError), store.poll(TARGET, "file") as tx:
            comparison = compare(tx.entries(), Snapshot(ENTRIES))
            tx.save(
                comparison,
                [Event(c, (), (), ("hook",)) for c in comparison.changes],
                None,
                None,
                "h",
            )
            raise RuntimeError("crash before commit")
        assert store.pending() == [] and store.active_entries(TARGET.name) == 0
        assert len(poll(store, ENTRIES)) == 6
    finally:
        store.close()


def test_outbox_marks_sent_failed_and_dropped(store_url: str) -> None:
    store = Store(store_url)
    try:
        poll(store, ENTRIES[:3])
        first, second, third = store.pending("hook")
        store.delivered("hook", [first.id])
        store.delivery_failed([second.id], "HTTP 500", time.time() + 60)
        store.dropped(third.id, "quiet hours")
        assert [d.id for d in store.pending("hook")] == [second.id]
        assert store.pending("hook")[0].attempts == 1
        assert len(store.send_times("hook", time.time() - 60)) == 1
        store.delivery_failed([second.id], "HTTP 500", None)
        assert store.delivery_counts() == {"done": 1, "failed": 1, "dropped": 1}
        assert [d.id for d in store.recently_sent("hook", time.time() - 60)] == [first.id]
    finally:
        store.close()


def test_unchanged_polls_and_failures_are_noted(store_url: str) -> None:
    store = Store(store_url)
    try:
        poll(store, ENTRIES)
        store.record_failure(TARGET, "file", "file not found", errors_to=("errors",))
        store.record_failure(TARGET, "file", "file not found", errors_to=("errors",))
        row = store.source(TARGET.name)
        assert row is not None and row.failures == 2
        assert [d.alert.kind for d in store.pending("errors")] == [Kind.DOWN]  # told once
        store.record_unchanged([Touch(row.id, "etag2", None)], errors_to=("errors",))
        assert [d.alert.kind for d in store.pending("errors")] == [Kind.DOWN, Kind.UP]
        assert store.source(TARGET.name).failures == 0  # type: ignore[union-attr]
    finally:
        store.close()


def test_a_changed_poll_after_failures_tells_the_source_is_back(store_url: str) -> None:
    store = Store(store_url)
    try:
        poll(store, ENTRIES)
        store.record_failure(TARGET, "file", "file not found", errors_to=("errors",))
        with store.poll(TARGET, "file") as tx:
            comparison = compare(tx.entries(), Snapshot(ENTRIES[1:]))
            tx.save(comparison, [], None, None, "changed", errors_to=("errors",))
        assert [d.alert.kind for d in store.pending("errors")] == [Kind.DOWN, Kind.UP]
        assert store.source(TARGET.name).failures == 0  # type: ignore[union-attr]
        poll(store, ENTRIES)  # and once back, not again
        assert len(store.pending("errors")) == 2
    finally:
        store.close()


def test_a_batch_of_unchanged_polls_is_noted_source_by_source(store_url: str) -> None:
    """Many sources' unchanged polls go in one statement; each source keeps its own
    validators and failure count, and a failure beside the batch is its source's alone."""
    store = Store(store_url)
    names = [f"live/{i}.txt" for i in range(4)]
    try:
        for name in names:
            with store.poll(Target(name, "live", name), "file") as tx:
                tx.save(compare([], Snapshot(ENTRIES)), [], f"etag-{name}", None, name)
        failing, down = (Target(n, "live", n) for n in names[:2])
        store.record_failure(failing, "file", "file not found")
        rows = {name: store.source(name) for name in names}
        store.record_unchanged(
            [Touch(row.id, f"new-{name}", f"lm-{name}") for name, row in rows.items() if row]
        )
        store.record_failure(down, "file", "HTTP 503")
        after = {name: store.source(name) for name in names}
        assert {n: (r.etag, r.last_modified) for n, r in after.items() if r} == {
            n: (f"new-{n}", f"lm-{n}") for n in names
        }
        assert {n: r.failures for n, r in after.items() if r} == {
            names[0]: 0,  # its failure ended by the unchanged poll
            names[1]: 1,
            names[2]: 0,
            names[3]: 0,
        }
        states = {s.name: s for s in store.source_states()}
        assert states[names[1]].last_error == "HTTP 503"
        assert states[names[0]].last_error is None and states[names[0]].last_success_at
    finally:
        store.close()


def test_claims_one_holder_while_it_lives_and_due_time(store_url: str) -> None:
    a, b = Store(store_url), Store(store_url)
    try:
        a.register("a")
        b.register("b")
        now = time.time()
        assert a.claim("live", "a", now=now)
        assert not b.claim("live", "b", now=now + 1)  # a holds it
        a.release("live", "a", next_due=now + 60)
        assert not b.claim("live", "b", now=now + 2)  # not due yet
        assert b.claim("live", "b", now=now + 61)
        assert not a.claim("live", "a", now=now + 62)  # b is alive and holds it
        assert b.holds("live", "b") and not a.holds("live", "a")
        b.close()  # b dies holding it: a takes it at once, no lease to wait out
        assert a.claim("live", "a", now=now + 63)
        (row,) = a.claim_rows()
        assert (row.owner, row.alive, row.last_owner) == ("a", True, "a")  # b never gave it back
        # A channel claim is not about due times: the holder keeps it while it lives.
        assert a.claim("channel:hook", "a", due=False)
        assert a.claim("channel:hook", "a", due=False)
        c = Store(store_url)
        try:
            c.register("c")
            assert not c.claim("channel:hook", "c", due=False)
        finally:
            c.close()
    finally:
        a.close()
        b.close()


def test_an_instance_name_is_held_by_one_process(store_url: str) -> None:
    first, second = Store(store_url), Store(store_url)
    try:
        first.register("desk-1")
        with pytest.raises(StoreError, match="instance name 'desk-1' is in use"):
            second.register("desk-1")
        first.close()
        second.register("desk-1")  # free again once its holder is gone
    finally:
        first.close()
        second.close()


def test_a_source_claim_reads_its_targets_rows_or_nothing(store_url: str) -> None:
    store = Store(store_url)
    try:
        store.register("a")
        store.register("b")
        poll(store, ENTRIES)
        now = time.time()
        targets = [TARGET.name, "live/new.txt"]  # one stored, one not seen yet
        rows = store.claim_source("live", "a", now, targets)
        assert rows is not None and list(rows) == [TARGET.name]
        assert rows[TARGET.name].etag == "etag" and rows[TARGET.name].baselined
        assert store.claim_source("live", "b", now + 1, targets) is None  # a holds it
    finally:
        store.close()


def test_claims_race_has_one_winner(store_url: str) -> None:
    stores = [Store(store_url) for _ in range(4)]
    try:
        for n, store in enumerate(stores):
            store.register(f"i{n}")
        barrier = threading.Barrier(4)
        now = time.time()

        def attempt(n: int) -> bool:
            barrier.wait()
            return stores[n].claim("contested", f"i{n}", now=now)

        with ThreadPoolExecutor(4) as pool:
            wins = list(pool.map(attempt, range(4)))
        assert sum(wins) == 1
    finally:
        for store in stores:
            store.close()


def test_a_claim_on_a_row_another_session_locks_answers_at_once(pg_url: str) -> None:
    """SKIP LOCKED: an instance never waits on a claim another one is taking."""
    store = Store(pg_url, busy_timeout=10)
    try:
        store.register("b")
        store.ensure_claims(["live"])
        answers: list[bool] = []
        with store.engine.connect() as other:
            other.execute(sa.select(claims).where(claims.c.name == "live").with_for_update())
            attempt = threading.Thread(target=lambda: answers.append(store.claim("live", "b")))
            attempt.start()
            attempt.join(1.0)  # a claim that waits for the lock is still waiting here
            assert answers == [False]
        attempt.join()
    finally:
        store.close()


def test_a_poll_is_saved_only_while_its_instance_holds_the_claim(store_url: str) -> None:
    store = Store(store_url)
    try:
        store.register("a")
        assert store.claim("live", "a")
        with store.poll(TARGET, "file", owner="a") as tx:  # held: saved
            tx.save(compare(tx.entries(), Snapshot(ENTRIES)), [], None, None, "h1")
        with store.engine.begin() as conn:  # another instance took it over meanwhile
            conn.execute(claims.update().where(claims.c.name == "live").values(owner="b"))
        with pytest.raises(ClaimLost), store.poll(TARGET, "file", owner="a") as tx:
            tx.save(compare(tx.entries(), Snapshot(ENTRIES[1:])), [], None, None, "h2")
        assert store.active_entries(TARGET.name) == len(ENTRIES)
    finally:
        store.close()


def test_migrates_an_older_database(store_url: str) -> None:
    store = Store(store_url)
    with store.engine.begin() as conn:  # make it look like version 1, before claims
        claims.drop(conn)
        conn.execute(meta.update().where(meta.c.key == "schema").values(value="1"))
    store.close()
    store = Store(store_url)
    try:
        assert sa.inspect(store.engine).has_table("claims")
        with store.engine.connect() as conn:
            schema = sa.select(meta.c.value).where(meta.c.key == "schema")
            assert conn.execute(schema).scalar() == str(SCHEMA_VERSION)
        store.register("a")
        assert store.claim("live", "a")
    finally:
        store.close()
    store = Store(store_url)
    with store.engine.begin() as conn:  # version 3: claims still had leases
        conn.execute(sa.text("ALTER TABLE claims ADD COLUMN lease_until FLOAT"))
        conn.execute(meta.update().where(meta.c.key == "schema").values(value="3"))
    store.close()
    store = Store(store_url)
    try:
        columns = {c["name"] for c in sa.inspect(store.engine).get_columns("claims")}
        assert "lease_until" not in columns and "owner" in columns
        poll(store, ENTRIES)  # a target of a glob: `live/a.txt`, of the source `live`
    finally:
        store.close()
    store = Store(store_url)
    with store.engine.begin() as conn:  # version 4: a target's source read off its name
        conn.execute(sa.text("ALTER TABLE sources DROP COLUMN source"))
        conn.execute(meta.update().where(meta.c.key == "schema").values(value="4"))
    store.close()
    store = Store(store_url)
    try:
        assert [(s.name, s.source) for s in store.source_states()] == [(TARGET.name, "live")]
    finally:
        store.close()
    store = Store(store_url)
    with store.engine.begin() as conn:  # version 5: no blog title, no entry time
        conn.execute(sa.text("ALTER TABLE sources DROP COLUMN title"))
        conn.execute(sa.text("ALTER TABLE entries DROP COLUMN published"))
        conn.execute(meta.update().where(meta.c.key == "schema").values(value="5"))
    store.close()
    store = Store(store_url)
    try:
        inspect = sa.inspect(store.engine)
        assert "title" in {c["name"] for c in inspect.get_columns("sources")}
        assert "published" in {c["name"] for c in inspect.get_columns("entries")}
    finally:
        store.close()
    store = Store(store_url)
    with store.engine.begin() as conn:  # version 7: an entry's words kept twice, no digests
        conn.execute(sa.text("ALTER TABLE entries ADD COLUMN title TEXT NOT NULL DEFAULT ''"))
        conn.execute(sa.text("ALTER TABLE entries ADD COLUMN body TEXT NOT NULL DEFAULT ''"))
        for table, column in (("entries", "digest"), ("deliveries", "sending_at")):
            conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        # One entry's words only in the entry (its revision lost): they survive the move.
        last = conn.execute(sa.text("SELECT max(id) FROM entries")).scalar_one()
        conn.execute(
            sa.text("UPDATE entries SET title = :t, body = :b WHERE id = :i"),
            {"t": ENTRIES[-1].title, "b": ENTRIES[-1].body, "i": last},
        )
        conn.execute(sa.text("DELETE FROM revisions WHERE entry_id = :i"), {"i": last})
        conn.execute(meta.update().where(meta.c.key == "schema").values(value="7"))
    store.close()
    store = Store(store_url)
    try:
        columns = {c["name"] for c in sa.inspect(store.engine).get_columns("entries")}
        assert "digest" in columns and not {"title", "body"} & columns
        assert poll(store, ENTRIES) == []  # the words, from the revisions: nothing changed
        with store.poll(TARGET, "file") as tx:
            assert [e.body for e in tx.entries()] == [e.body for e in ENTRIES]
    finally:
        store.close()


def test_refuses_a_schema_newer_than_the_code(store_url: str) -> None:
    store = Store(store_url)
    with store.engine.begin() as conn:
        conn.execute(meta.update().where(meta.c.key == "schema").values(value="99"))
    store.close()
    with pytest.raises(StoreError, match="schema version 99, newer than this watcher understands"):
        Store(store_url)


def test_history_streams_removals_too(store_url: str) -> None:
    store = Store(store_url)
    try:
        poll(store, ENTRIES)
        poll(store, ENTRIES[1:])
        rows = list(store.history("live"))
        assert [r.kind for r in rows].count(Kind.REMOVED) == 1
        assert [r.key for r in rows if r.kind is Kind.REMOVED] == [
            compare([], Snapshot(ENTRIES)).slots[0].key
        ]
        change = Change(Kind.NEW, "k", ENTRIES[0])
        assert change.entry.title == ENTRIES[0].title
    finally:
        store.close()
