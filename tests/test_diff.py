from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.helpers import SEED
from watcher.diff import compare, word_diff
from watcher.model import Comparison, Entry, Kind, Snapshot, StoredEntry
from watcher.sources import textblog

SEED_ENTRIES = textblog.parse(SEED.read_text(encoding="utf-8")).entries


def stored_from(entries: tuple[Entry, ...]) -> list[StoredEntry]:
    """The store's view after a first poll of `entries`."""
    first = compare([], Snapshot(entries))
    return [
        StoredEntry(i + 1, slot.key, slot.entry.title, slot.entry.body, i)
        for i, slot in enumerate(first.slots)
    ]


def kinds(result: Comparison) -> list[tuple[Kind, str]]:
    return [(c.kind, c.entry.title) for c in result.changes]


def edit(index: int, **fields: Any) -> tuple[Entry, ...]:
    entries = list(SEED_ENTRIES)
    entries[index] = replace(entries[index], **fields)
    return tuple(entries)


def test_first_poll_is_all_new_oldest_first() -> None:
    result = compare([], Snapshot(SEED_ENTRIES))
    assert [k for k, _ in kinds(result)] == [Kind.NEW] * 6
    assert [t for _, t in kinds(result)] == [e.title for e in reversed(SEED_ENTRIES)]
    assert len({s.key for s in result.slots}) == 6
    assert result.slots[0].key == "us-can-no-longer-be-permanent-guarantor"


def test_no_change_no_event() -> None:
    result = compare(stored_from(SEED_ENTRIES), Snapshot(SEED_ENTRIES))
    assert result.changes == ()
    assert not any(s.revised for s in result.slots)


def test_new_entry_on_top() -> None:
    fresh = Entry("Breaking: talks in Riyadh", "Delegations arrived in Riyadh this morning.")
    result = compare(stored_from(SEED_ENTRIES), Snapshot((fresh, *SEED_ENTRIES)))
    assert kinds(result) == [(Kind.NEW, fresh.title)]
    assert result.slots[1].stored is not None and result.slots[1].stored.position == 0


def test_added_paragraph_is_one_update_with_the_words_inserted() -> None:
    body = SEED_ENTRIES[1].body + "\n\nPutin has not commented on the remarks."
    result = compare(stored_from(SEED_ENTRIES), Snapshot(edit(1, body=body)))
    (change,) = result.changes
    assert change.kind is Kind.UPDATED
    assert change.key == stored_from(SEED_ENTRIES)[1].key
    inserted = "".join(text for op, text in change.diff if op == 1)
    assert "Putin has not commented on the remarks." in inserted
    assert all(op != -1 for op, _ in change.diff)


def test_typo_fixed_in_headline_is_one_update() -> None:
    stored = stored_from(
        edit(2, title="Negotiations will include both Ukriane and Russia, US says")
    )
    result = compare(stored, Snapshot(SEED_ENTRIES))
    (change,) = result.changes
    assert change.kind is Kind.UPDATED
    assert [(op, t) for op, t in change.diff if op] == [(-1, "Ukriane"), (1, "Ukraine")]
    assert change.key == stored[2].key


def test_typo_fixed_in_paragraph_is_one_update() -> None:
    body = SEED_ENTRIES[4].body.replace("Interfax", "Intrefax")
    result = compare(stored_from(edit(4, body=body)), Snapshot(SEED_ENTRIES))
    assert [k for k, _ in kinds(result)] == [Kind.UPDATED]


def test_reorder_alone_is_no_update() -> None:
    shuffled = (SEED_ENTRIES[3], *SEED_ENTRIES[:3], *SEED_ENTRIES[4:])
    result = compare(stored_from(SEED_ENTRIES), Snapshot(shuffled))
    assert result.changes == ()
    assert [s.stored.position for s in result.slots if s.stored] == [3, 0, 1, 2, 4, 5]


@pytest.mark.parametrize(
    "body",
    [
        SEED_ENTRIES[5].body.replace(" ", "  ").replace("\n\n", "\n\n\n"),
        SEED_ENTRIES[5].body.replace(".", "!").replace(",", ""),
    ],
    ids=["whitespace", "punctuation"],
)
def test_whitespace_or_punctuation_only_is_no_update(body: str) -> None:
    result = compare(stored_from(SEED_ENTRIES), Snapshot(edit(5, body=body)))
    assert result.changes == ()
    # The text did change, so the store keeps the new version as a silent revision.
    assert [s.revised for s in result.slots] == [False] * 5 + [True]


def test_punctuation_counts_when_configured() -> None:
    body = SEED_ENTRIES[5].body.replace("Wednesday,", "Wednesday;")
    result = compare(stored_from(SEED_ENTRIES), Snapshot(edit(5, body=body)), ignore=())
    assert [k for k, _ in kinds(result)] == [Kind.UPDATED]


def test_removed_entry() -> None:
    result = compare(stored_from(SEED_ENTRIES), Snapshot(SEED_ENTRIES[:2] + SEED_ENTRIES[3:]))
    assert kinds(result) == [(Kind.REMOVED, SEED_ENTRIES[2].title)]


def test_same_headline_new_body_is_a_new_entry() -> None:
    old = (Entry("Key events", "Talks opened in Riyadh on Monday with both delegations."),)
    new = (Entry("Key events", "The Kremlin said a summit could take months to prepare."),)
    result = compare(stored_from(old), Snapshot(new))
    assert sorted(k for k, _ in kinds(result)) == [Kind.NEW, Kind.REMOVED]
    assert result.slots[0].key == "key-events-2"


def test_partial_window_never_removes_what_fell_off_the_end() -> None:
    stored = stored_from(SEED_ENTRIES)
    # The two oldest entries fell off the end of a feed window: no removal.
    window = Snapshot(SEED_ENTRIES[:4], partial=True)
    assert compare(stored, window).changes == ()
    # An entry missing from inside the visible range was removed.
    hole = Snapshot(SEED_ENTRIES[:1] + SEED_ENTRIES[2:4], partial=True)
    assert kinds(compare(stored, hole)) == [(Kind.REMOVED, SEED_ENTRIES[1].title)]


def test_keyed_entries_match_by_key_whatever_their_text() -> None:
    stored = [StoredEntry(1, "guid-1", "Old headline", "Old text.", 0)]
    result = compare(stored, Snapshot((Entry("Brand new", "Nothing alike.", key="guid-1"),)))
    assert [(c.kind, c.key) for c in result.changes] == [(Kind.UPDATED, "guid-1")]


def test_word_diff_ops_rebuild_both_texts() -> None:
    old, new = "Putin said the talks will take months.", "Putin’s aide said talks may take weeks."
    ops = word_diff(old, new)
    assert "".join(t for op, t in ops if op <= 0) == old
    assert "".join(t for op, t in ops if op >= 0) == new
    assert (0, "Putin") in ops or ops[0][1].startswith("Putin")
