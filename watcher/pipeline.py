"""One poll of one target, end to end: fetch -> parse -> diff -> rules -> store + outbox.

Fetching is the only slow I/O and happens outside any transaction; what follows runs in
the poll's one transaction. A target that fails leaves its stored state untouched, and so
does a poll that would remove more than half of a source's entries, until the next poll
confirms it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from watcher import log, sources
from watcher.config import Config
from watcher.diff import compare
from watcher.failpoints import failpoint
from watcher.model import Alert
from watcher.rules import Ruleset
from watcher.sources.base import Fetched, SourceContext, SourceError, SourceKind, Target
from watcher.sources.http import HttpFetcher
from watcher.store import SourceRow, Store, StoreError, Touch

logger = logging.getLogger(__name__)
ERRORS_CHANNEL = "errors"  # if configured, told when a source goes down or comes back
FLUSH_EVERY = 500  # unchanged polls noted per transaction, at most


@dataclass
class PollResult:
    target: Target
    alerts: list[Alert] = field(default_factory=list)
    error: str | None = None
    retry_after: float | None = None
    held: bool = False
    unchanged: bool = False  # not modified, or the same bytes: nothing parsed
    seconds: float = 0.0

    @property
    def outcome(self) -> str:
        if self.error is not None:
            return "failed"
        if self.held:
            return "held"
        return "unchanged" if self.unchanged else "changed"


def mass_removal(removed: int, stored: int) -> bool:
    """A poll that removes more than half of what is stored is suspect."""
    return removed * 2 > stored


class Pipeline:
    def __init__(self, config: Config, store: Store, names: Sequence[str] | None = None) -> None:
        """The pipeline of the named sources of `config` (all of them by default)."""
        self.config = config
        self.store = store
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
        self.errors_to = [ERRORS_CHANNEL] if ERRORS_CHANNEL in config.channels else []
        self._touches: list[Touch] = []

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

    async def poll_all(self) -> list[PollResult]:
        """Polls every source once, concurrently (within the fetch limits), then closes."""
        try:
            rows = self.store.sources_by_name()
            polls = (self.poll_source(n, self.targets(n), rows) for n in self.kinds)
            groups = await asyncio.gather(*polls)
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
        polls = [self.poll_target(kind, t, rows) for t in targets]
        return list(await asyncio.gather(*polls))

    async def poll_target(
        self, kind: SourceKind, target: Target, rows: dict[str, SourceRow]
    ) -> PollResult:
        kind_name = sources.kind_of(kind.config)
        started = time.monotonic()
        try:
            row = rows.get(target.name)
            etag, last_modified = (row.etag, row.last_modified) if row else (None, None)
            fetched = await kind.fetch(target, etag, last_modified)
            body = fetched.body
            digest = hashlib.sha256(body).hexdigest() if body is not None else None
            if row is not None and (digest is None or digest == row.content_hash):
                # Nothing new: not parsed, not diffed.
                self._touch(Touch(row.id, fetched.etag, fetched.last_modified))
                return PollResult(target, unchanged=True, seconds=time.monotonic() - started)
            if digest is None:  # not modified, says a source we have no state of
                raise SourceError("the source answered 'not modified' to a first request")
            result = await self.store.call(self._commit, kind, kind_name, target, fetched, digest)
        except SourceError as exc:
            reason = str(exc)
            logger.warning("poll failed", extra={"source": target.name, "reason": reason})
            try:
                await self.store.call(
                    self.store.record_failure, target, kind_name, reason, self.errors_to
                )
            except StoreError as store_exc:
                logger.error("cannot note failure", extra={"reason": str(store_exc)})
            seconds = time.monotonic() - started
            return PollResult(target, error=reason, retry_after=exc.retry_after, seconds=seconds)
        except StoreError as exc:
            logger.error("poll not saved", extra={"source": target.name, "reason": str(exc)})
            return PollResult(target, error=str(exc), seconds=time.monotonic() - started)
        result.seconds = time.monotonic() - started
        ms = round(result.seconds * 1000)
        if result.held:
            logger.warning(
                "poll held: it would remove most entries; the next poll must confirm it",
                extra={"source": target.name, "ms": ms},
            )
        else:
            logger.info(
                "polled", extra={"source": target.name, "events": len(result.alerts), "ms": ms}
            )
        return result

    def _touch(self, touch: Touch) -> None:
        self._touches.append(touch)
        if len(self._touches) >= FLUSH_EVERY:
            self.flush()

    def _commit(
        self, kind: SourceKind, kind_name: str, target: Target, fetched: Fetched, digest: str
    ) -> PollResult:
        snapshot = kind.parse(fetched, target)
        config = kind.config
        with self.store.poll(target, kind_name) as tx:
            stored = tx.entries()
            if stored and not snapshot.entries:
                raise SourceError(f"no entries found; keeping the {len(stored)} stored ones")
            comparison = compare(stored, snapshot, config.ignore)
            if mass_removal(len(comparison.removed), len(stored)) and tx.source.held_since is None:
                tx.hold()
                return PollResult(target, held=True)
            alerting = tx.source.baselined or config.baseline == "alert"
            events = (
                [self.rules.tag(c, config.name, config.notify) for c in comparison.changes]
                if alerting
                else []
            )
            saved = tx.save(
                comparison, events, fetched.etag, fetched.last_modified, digest, self.errors_to
            )
            failpoint("poll.before_commit")
        now = time.time()
        return PollResult(
            target, [Alert.of(event, target.name, now, event_id) for event, event_id in saved]
        )
