"""What every source kind provides, and the config fields every source shares.

A source kind lists its targets (one live blog each), fetches a target's bytes (the only
I/O), and names the pure function that parses bytes into a Snapshot. The poller does the
rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from watcher.model import Snapshot, Target
from watcher.units import Duration, Many

Ignorable = Literal["whitespace", "punctuation", "case"]


class SourceConfig(BaseModel):
    """Fields every source has, whatever its kind."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[^/\s]+$")
    interval: Duration | None = None
    jitter: Duration | None = None
    baseline: Literal["silent", "alert"] = "silent"
    ignore: Many[Ignorable] = ["whitespace", "punctuation"]
    notify: Many[str] = []


@dataclass(frozen=True, slots=True)
class Fetched:
    """A fetch's outcome. `body` is None when the source says nothing has changed."""

    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    url: str | None = None  # where the body came from, after redirects


class Fetcher(Protocol):
    """The shared HTTP client (http.HttpFetcher), as source kinds see it."""

    async def get(
        self, url: str, etag: str | None, last_modified: str | None, accept: str = "*/*"
    ) -> Fetched: ...


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What source kinds need from the running process."""

    base_dir: Path
    http: Fetcher


class SourceError(Exception):
    """One poll of one target failed; the stored state of that target stays as it was.

    `retry_after` is how long the source asked us to wait (HTTP 429 and 503);
    `bad_hash` the hash of a body that could not be read, which fails at once if it
    comes again, unparsed.
    """

    def __init__(
        self, reason: str, retry_after: float | None = None, bad_hash: str | None = None
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.bad_hash = bad_hash


Parser = Callable[[Fetched, Target], Snapshot]
KINDS: dict[str, type[SourceKind]] = {}  # the config key of each kind -> the kind


class SourceKind(ABC):
    """A kind of source. A subclass that names its config `key` (`feed`) and `model`
    registers itself: the config's union of source models and `build` are derived from
    KINDS, so a new kind is one module (imported by sources/__init__.py)."""

    key: ClassVar[str | None] = None  # the config key that names the kind
    model: ClassVar[type[SourceConfig]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("key"):
            KINDS[str(cls.key)] = cls

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        self.config = config
        self.context = context

    @abstractmethod
    def targets(self) -> list[Target]:
        """The live blogs this source currently covers."""

    @abstractmethod
    async def fetch(self, target: Target, etag: str | None, last_modified: str | None) -> Fetched:
        """The target's bytes, or `Fetched(None)` when its validators say it is unchanged."""

    @abstractmethod
    def parser(self, known: Mapping[str, str]) -> Parser:
        """The pure function that reads the fetched body into entries, raising SourceError
        when it is not a live blog. It runs in a worker process (workers.py), so it is a
        module-level function, or a partial of one with picklable arguments. `known`: the
        target's stored entries' digests by key (Entry.digest), for a parser that can
        leave unchanged items unread."""
