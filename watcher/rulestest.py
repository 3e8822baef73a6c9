"""`watcher rules test`: the current rules run over the stored history, nothing sent.

Every stored revision is replayed as the event it was (revision 1 as `new`, later ones as
`updated` with their diff, removed entries as `removed`), so that people can tune their
rules on real coverage. The history streams from the store: it is never held whole.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TextIO

from watcher.config import Config
from watcher.configfile import ConfigError
from watcher.diff import word_diff
from watcher.model import Change, Entry, Kind, StoredEntry
from watcher.rules import Ruleset
from watcher.store import Store


def parse_since(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()  # naive: local time
    except ValueError:
        raise ConfigError(
            [f"--since: invalid date {value!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)"]
        ) from None


def run(config: Config, source: str | None, since: str | None, out: TextIO) -> int:
    start = parse_since(since)
    rules = Ruleset(config.rules, config.notify)
    store = Store(config.state_url, config.lock_timeout)
    checked = fired = 0
    try:
        previous: tuple[int, str, str] | None = None  # (entry id, title, body)
        for row in store.history(source, start):
            checked += 1
            entry = Entry(row.title, row.body, key=row.key, url=row.url)
            if row.kind is Kind.REMOVED:
                change = Change(Kind.REMOVED, row.key, entry)
            elif previous is not None and previous[0] == row.entry_id and row.revision > 1:
                old = StoredEntry(row.entry_id, row.key, previous[1], previous[2], 0)
                change = Change(
                    Kind.UPDATED, row.key, entry, old, word_diff(old.document, entry.document)
                )
            else:
                change = Change(Kind.NEW, row.key, entry)
            if row.kind is not Kind.REMOVED:
                previous = (row.entry_id, row.title, row.body)
            if start is not None and row.at < start:
                continue
            event = rules.tag(change, row.configured)
            if not event.tags:
                continue
            fired += 1
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.at))
            words = ", ".join(dict.fromkeys(m.text for m in event.matches))
            out.write(
                f"{when}  {change.kind.value:<7}  {row.source}  {row.key}\n"
                f"    {row.title or row.body[:80]}\n"
                f"    tags: {', '.join(event.tags)}  matched: {words}\n"
            )
    finally:
        store.close()
    out.write(f"{checked} revisions checked, {fired} would have fired\n")
    return 0
