"""One poll of one target, end to end: fetch -> parse -> diff -> rules -> store + outbox.

Fetching is the only slow I/O and happens outside any transaction; parsing runs in a
worker process under a deadline (sources/workers.py); diffing, tagging and saving run in
the poll's one transaction. A target that fails leaves its stored state untouched, and so
does a suspect poll (one that would remove more than half of a source's entries, or
change more of them than `limits.events`), until the next poll confirms it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from watcher import log, sources
from watcher.config import ERRORS, Config
from watcher.diff import compare, fill_kept
from watcher.failpoints import failpoint, fires
from watcher.model import Alert, Comparison, Kind, PollOutcome, Snapshot, Target
from watcher.rules import Ruleset
from watcher.sources.base import Fetched, SourceContext, SourceError, SourceKind
from watcher.sources.http import HttpFetcher
from watcher.sources.workers import ParserPool
from watcher.store import SourceRow, Store, StoreError, Touch

logger = logging.getLogger(__name__)
FLUSH_EVERY = 500  # unchanged polls noted per transaction, at most


@dataclass
class PollResult:
    target: Target
    alerts: list[Alert] = field(default_factory=list)
    error: str | None = None
    retry_after: float | None = None
    held: str | None = None  # why the poll was held back, unsaved
    unchanged: bool = False  # not modified, or the same bytes: nothing parsed
    seconds: float = 0.0

    @property
    def outcome(self) -> PollOutcome:
        if self.error is not None:
            return PollOutcome.FAILED
        if self.held is not None:
            return PollOutcome.HELD
        return PollOutcome.UNCHANGED if self.unchanged else PollOutcome.CHANGED


def mass_removal(removed: int, stored: int) -> bool:
    """A poll that removes more than half of what is stored is suspect."""
    return removed * 2 > stored


@dataclass(frozen=True)
class Suspect:
    """A poll to hold back until the next one does the same (the same `signature`)."""

    signature: str
    why: str
    flood: bool  # too many changes: once confirmed, saved without an alert for each


def suspect(comparison: Comparison, stored: int, max_changes: int | None) -> Suspect | None:
    """Whether a poll is suspect: it removes most entries, or (when it would alert)
    changes more than `max_changes`."""
    if mass_removal(len(comparison.removed), stored):
        return Suspect(
            _signature(s.key for s in comparison.removed),
            f"it would remove {len(comparison.removed)} of {stored} entries",
            flood=False,
        )
    if max_changes is not None and len(comparison.changes) > max_changes:
        return Suspect(
            _signature(f"{c.kind.value} {c.key}" for c in comparison.changes),
            f"{len(comparison.changes)} changes in one poll, more than {max_changes}",
            flood=True,
        )
    return None


def _signature(parts: Iterable[str]) -> str:
    return hashlib.sha256("\x00".join(sorted(parts)).encode()).hexdigest()


class Pipeline:
    def __init__(
        self,
        config: Config,
        store: Store,
        parsers: ParserPool,
        names: Sequence[str] | None = None,
        owner: str | None = None,
    ) -> None:
        """The pipeline of the named sources of `config` (all of them by default);
        `parsers` belongs to the caller, who closes it. With `owner`, polls are made
        under that instance's claims, and saved only while it holds them."""
        self.config = config
        self.store = store
        self.parsers = parsers
        self.owner = owner
        self.rules = Ruleset(config.rules, config.notify)
        self.http = HttpFetcher(config.fetch)
        context = SourceContext(base_dir=config.base_dir, http=self.http)
        wanted = set(names) if names is not None else None
        self.kinds: dict[str, SourceKind] = {
            s.name: sources.build(s, context)
            for s in config.sources
            if wanted is None or s.name in wanted
        }
        for kind in self.kinds.values():  # a feed's URL may carry a password or token
            for target in kind.targets():
                log.add_url_secrets(target.location)
        self.errors_to = [ERRORS] if ERRORS in config.channels else []
        self._touches: list[Touch] = []
        # Documents in hand, fetched and not yet stored: as many as fetches at once. Else
        # fetching outruns parsing, and a first pass over 20,000 feeds held most of their
        # bodies at once (392 MB for the largest process).
        self._in_hand = asyncio.Semaphore(config.fetch.concurrency)

    async def aclose(self) -> None:
        self.flush()
        await self.http.aclose()

    def flush(self) -> None:
        """Notes the unchanged polls gathered so far."""
        touches, self._touches = self._touches, []
        try:
            self.store.record_unchanged(touches, self.errors_to)
        except StoreError as exc:
            logger.error("cannot note unchanged polls", extra={"reason": str(exc)})

    async def poll_all(
        self, done: Callable[[list[PollResult]], None] | None = None
    ) -> list[PollResult]:
        """Polls every source once, concurrently (within the fetch limits), then closes;
        `done` hears of each source as it finishes (for `check`'s progress)."""

        async def one(name: str, rows: dict[str, SourceRow]) -> list[PollResult]:
            results = await self.poll_source(name, self.targets(name), rows)
            if done is not None:
                done(results)
            return results

        try:
            rows = self.store.sources_by_name()
            groups = await asyncio.gather(*(one(n, rows) for n in self.kinds))
        finally:
            await self.aclose()
        return [result for group in groups for result in group]

    def targets(self, name: str) -> list[Target]:
        """The source's targets now (a `file:` glob is listed anew)."""
        return self.kinds[name].targets()

    async def poll_source(
        self, name: str, targets: list[Target], rows: dict[str, SourceRow]
    ) -> list[PollResult]:
        """Polls `targets`, the source's as `targets(name)` gave them; `rows` holds their
        stored rows (validators, content hashes), read by the caller with the claim or for
        all sources at once."""
        kind = self.kinds[name]
        if not targets:
            reason = "nothing matches this source's path"
            logger.warning("poll failed", extra={"source": name, "reason": reason})
            return [PollResult(Target(name, name, ""), error=reason)]
        polls = [self.poll_target(kind, t, rows.get(t.name)) for t in targets]
        return list(await asyncio.gather(*polls))

    async def poll_target(
        self, kind: SourceKind, target: Target, row: SourceRow | None
    ) -> PollResult:
        """One poll. Whatever goes wrong is this target's failure alone: logged, noted in
        the store (shown by `status`, told once to the errors channel), never raised."""
        started = time.monotonic()
        try:
            result = await self._poll(kind, target, row)
        except SourceError as exc:
            result = await self._failed(kind, target, str(exc), exc.retry_after, exc.bad_hash)
        except StoreError as exc:
            if exc.retryable:  # the database, not the source: nothing to note it in
                logger.error("poll not saved", extra={"source": target.name, "reason": str(exc)})
                result = PollResult(target, error=str(exc))
            else:
                result = await self._failed(kind, target, f"not saved: {exc}")
        except Exception as exc:
            logger.exception("poll failed unexpectedly", extra={"source": target.name})
            result = await self._failed(kind, target, f"{type(exc).__name__}: {exc}")
        result.seconds = time.monotonic() - started
        ms = round(result.seconds * 1000)
        if result.held is not None:
            logger.warning(
                "poll held until the next poll confirms it",
                extra={"source": target.name, "reason": result.held, "ms": ms},
            )
        elif result.error is None and not result.unchanged:
            logger.info(
                "polled", extra={"source": target.name, "events": len(result.alerts), "ms": ms}
            )
        return result

    async def _poll(self, kind: SourceKind, target: Target, row: SourceRow | None) -> PollResult:
        if fires("poll.raise"):  # a bug of watcher's own, for the tests
            raise RuntimeError("failpoint poll.raise")
        async with self._in_hand:
            return await self._fetch_parse_store(kind, target, row)

    async def _fetch_parse_store(
        self, kind: SourceKind, target: Target, row: SourceRow | None
    ) -> PollResult:
        etag, last_modified = (row.etag, row.last_modified) if row else (None, None)
        fetched = await kind.fetch(target, etag, last_modified)
        body = fetched.body
        digest = hashlib.sha256(body).hexdigest() if body is not None else None
        if row is not None and (digest is None or digest == row.content_hash):
            # Nothing new: not parsed, not diffed.
            self._touch(Touch(row.id, fetched.etag, fetched.last_modified))
            return PollResult(target, unchanged=True)
        if digest is None:  # not modified, says a source we have no state of
            raise SourceError("the source answered 'not modified' to a first request")
        if row is not None and digest == row.bad_hash:
            logger.info("not parsed: this document failed before", extra={"source": target.name})
            raise SourceError(row.last_error or "unreadable", bad_hash=digest)
        known = await self.store.call(self.store.digests, row.id) if row and row.baselined else {}
        result = None
        while result is None:  # twice at most: the second time, every item is read
            try:
                snapshot = await self.parsers.parse(kind.parser(known), fetched, target)
            except SourceError as exc:
                raise SourceError(str(exc), bad_hash=digest) from None
            result = await self.store.call(self._commit, kind, target, fetched, digest, snapshot)
            known = {}
        return result

    async def _failed(
        self,
        kind: SourceKind,
        target: Target,
        reason: str,
        retry_after: float | None = None,
        bad_hash: str | None = None,
    ) -> PollResult:
        logger.warning("poll failed", extra={"source": target.name, "reason": reason})
        try:
            await self.store.call(
                self.store.record_failure,
                target,
                sources.kind_of(kind.config),
                reason,
                self.errors_to,
                bad_hash,
            )
        except Exception as exc:
            logger.error("cannot note failure", extra={"reason": str(exc)})
        return PollResult(target, error=reason, retry_after=retry_after)

    def _touch(self, touch: Touch) -> None:
        self._touches.append(touch)
        if len(self._touches) >= FLUSH_EVERY:
            self.flush()

    def _commit(
        self, kind: SourceKind, target: Target, fetched: Fetched, digest: str, snapshot: Snapshot
    ) -> PollResult | None:
        """The poll's outcome, saved; None, with nothing saved, when a kept item has no
        stored entry (they changed since their digests were read): it is read again."""
        config = kind.config
        with self.store.poll(target, sources.kind_of(config), self.owner) as tx:
            stored = tx.entries()
            filled = fill_kept(snapshot, stored)
            if filled is None:
                return None
            snapshot = filled
            if stored and not snapshot.entries:
                raise SourceError(f"no entries found; keeping the {len(stored)} stored ones")
            comparison = compare(stored, snapshot, config.ignore)
            alerting = tx.source.baselined or config.baseline == "alert"
            limit = self.config.limits.events if alerting else None
            doubt = suspect(comparison, len(stored), limit)
            if doubt is not None and tx.source.held != doubt.signature:
                if doubt.flood and tx.source.held_since is None:
                    tx.tell(Kind.FLOOD, doubt.why, self.errors_to)
                tx.hold(doubt.signature)
                return PollResult(target, held=doubt.why)
            flood = doubt is not None and doubt.flood
            events = (
                [self.rules.tag(c, config.name, config.notify) for c in comparison.changes]
                if alerting and not flood
                else []
            )
            saved = tx.save(
                comparison,
                events,
                fetched.etag,
                fetched.last_modified,
                digest,
                self.errors_to,
                snapshot.title,
            )
            failpoint("poll.before_commit")
        now = time.time()
        return PollResult(
            target,
            [
                Alert.of(event, target.name, now, event_id, snapshot.title)
                for event, event_id in saved
            ],
        )
