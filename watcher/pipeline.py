"""One poll of one target, end to end: fetch -> parse -> diff -> rules -> store + outbox.

Fetching is the only slow I/O and happens outside any transaction; what follows runs in
the poll's one transaction. A target that fails leaves its stored state untouched.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field

from watcher import sources
from watcher.config import Config
from watcher.diff import compare
from watcher.failpoints import failpoint
from watcher.model import Snapshot
from watcher.rules import Ruleset
from watcher.sources.base import Fetched, SourceContext, SourceError, SourceKind, Target
from watcher.store import Alert, Store, StoreError

logger = logging.getLogger(__name__)


@dataclass
class PollResult:
    target: Target
    alerts: list[Alert] = field(default_factory=list)
    error: str | None = None


class Pipeline:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.rules = Ruleset(config.rules, config.notify)
        context = SourceContext(base_dir=config.base_dir)
        self.kinds: dict[str, SourceKind] = {
            s.name: sources.build(s, context) for s in config.sources
        }

    async def poll_all(self) -> list[PollResult]:
        results = []
        for name in self.kinds:
            results.extend(await self.poll_source(name))
        return results

    async def poll_source(self, name: str) -> list[PollResult]:
        kind = self.kinds[name]
        targets = kind.targets()
        if not targets:
            reason = "nothing matches this source's path"
            logger.warning("poll failed", extra={"source": name, "reason": reason})
            return [PollResult(Target(name, name, ""), error=reason)]
        return [await self.poll_target(kind, target) for target in targets]

    async def poll_target(self, kind: SourceKind, target: Target) -> PollResult:
        kind_name = sources.kind_of(kind.config)
        started = time.monotonic()
        try:
            row = self.store.source(target.name)
            etag, last_modified = (row.etag, row.last_modified) if row else (None, None)
            fetched = await kind.fetch(target, etag, last_modified)
            digest = hashlib.sha256(fetched.body).hexdigest() if fetched.body is not None else None
            if digest is None or (row is not None and digest == row.content_hash):
                # Nothing new: not parsed, not diffed.
                self.store.record_unchanged(target, kind_name, fetched.etag, fetched.last_modified)
                return PollResult(target)
            assert fetched.body is not None
            snapshot = kind.parse(fetched.body, target)
            alerts = self._commit(kind, kind_name, target, snapshot, fetched, digest)
        except SourceError as exc:
            logger.warning("poll failed", extra={"source": target.name, "reason": str(exc)})
            try:
                self.store.record_failure(target, kind_name, str(exc))
            except StoreError as store_exc:
                logger.error("cannot record failure", extra={"reason": str(store_exc)})
            return PollResult(target, error=str(exc))
        except StoreError as exc:
            logger.error("poll not saved", extra={"source": target.name, "reason": str(exc)})
            return PollResult(target, error=str(exc))
        logger.info(
            "polled",
            extra={
                "source": target.name,
                "events": len(alerts),
                "ms": round((time.monotonic() - started) * 1000),
            },
        )
        return PollResult(target, alerts)

    def _commit(
        self,
        kind: SourceKind,
        kind_name: str,
        target: Target,
        snapshot: Snapshot,
        fetched: Fetched,
        digest: str,
    ) -> list[Alert]:
        config = kind.config
        with self.store.poll(target, kind_name) as tx:
            stored = tx.entries()
            if stored and not snapshot.entries:
                raise SourceError(f"no entries found; keeping the {len(stored)} stored ones")
            comparison = compare(stored, snapshot, config.ignore)
            alerting = tx.source.baselined or config.baseline == "alert"
            events = (
                [self.rules.tag(c, config.name, config.notify) for c in comparison.changes]
                if alerting
                else []
            )
            saved = tx.save(comparison, events, fetched.etag, fetched.last_modified, digest)
            failpoint("poll.before_commit")
        now = time.time()
        return [Alert.of(event, target.name, now, event_id) for event, event_id in saved]
