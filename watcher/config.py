"""The config file: YAML with line numbers, validated by pydantic, cross-checked.

Every problem becomes one line `file:line: key.path: message`, so that a broken config is
reported where it is broken, never as a traceback.

Size: the top-level model with the sections that have no stage of their own (channels,
quiet hours, duplicates, the HTTP listener), and the one path from a YAML node's error to
its line; split further, each part would import the others back.
"""

from __future__ import annotations

import difflib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from watcher import log
from watcher.configfile import (
    ConfigError,
    expand_env,
    load_yaml,
    name_problems,
    register_env_secrets,
)
from watcher.rules import RuleConfig
from watcher.sanitize import Limits
from watcher.sources import TAG_SUFFIX, AnySourceConfig
from watcher.sources.base import SourceConfig
from watcher.sources.http import FetchConfig
from watcher.sources.liveblog import PageSelectors
from watcher.units import Duration, Many, Rate

DEFAULT_PATH = Path("config/watcher.yaml")
CONSOLE = "console"
ERRORS = "errors"  # the channel a source's own state (down, back, flood) goes to


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuietHoursConfig(_Model):
    start: str
    end: str
    timezone: str = "UTC"
    drop: bool = False  # drop alerts in quiet hours instead of holding them until they end

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", value.strip()):
            raise ValueError(f"invalid time {value!r} (use HH:MM)")
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class ChannelConfig(_Model):
    """Where alerts go: one or more Apprise URLs, `${ENV}` expanded, and how."""

    urls: list[str] = Field(min_length=1)
    format: Literal["text", "markdown", "html"] | None = None  # default: by the URL's kind
    title: str | None = None  # Jinja2 templates; see the README for their tokens
    body: str | None = None
    digest: Duration | None = Field(default=None, gt=0)
    rate_limit: Rate | None = Field(
        default=None, ge=1, description="messages a minute, e.g. 2 or 2/m"
    )
    quiet_hours: QuietHoursConfig | None = None
    max_age: Duration = Field(default=86400.0, gt=0)  # how long a failing alert is retried

    @model_validator(mode="before")
    @classmethod
    def _from_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"urls": [value]}
        if isinstance(value, dict) and "url" in value:
            value = dict(value)
            url = value.pop("url")
            value["urls"] = [url] if isinstance(url, str) else url
        return value

    @field_validator("urls")
    @classmethod
    def _expand(cls, urls: list[str]) -> list[str]:
        for url in urls:
            register_env_secrets(url)
        return [expand_env(url) for url in urls]


class HttpConfig(_Model):
    """The optional HTTP listener: the desk (web/), /metrics (Prometheus) and /healthz."""

    listen: str = Field(pattern=r"^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$")
    # What the desk's actions (poll, pause, resume, retry) need; without it, read-only.
    token: str | None = None

    @field_validator("token")
    @classmethod
    def _secret(cls, token: str | None) -> str | None:
        if token is None:
            return None
        register_env_secrets(token)
        token = expand_env(token)
        log.add_secret(token)
        if len(token) < 16:
            raise ValueError("a token of 16 characters or more (e.g. `openssl rand -hex 16`)")
        return token


class DuplicatesConfig(_Model):
    """Alerts of near-identical text from several sources, within `window`, go as one."""

    window: Duration = 900.0  # 0 turns it off
    similarity: float = Field(
        default=0.8, gt=0, le=1, description="share of words in common, e.g. 0.8"
    )


class Config(_Model):
    state: str = "watcher.db"
    lock_timeout: Duration = 10.0
    interval: Duration = Field(default=60.0, gt=0)
    jitter: Duration | None = None
    notify: Many[str] = [CONSOLE]
    duplicates: DuplicatesConfig = DuplicatesConfig()
    fetch: FetchConfig = FetchConfig()
    limits: Limits = Limits()
    # History older than this is pruned (0: kept for ever); see store/retention.py.
    retention: Duration = Field(default=90 * 86400.0, ge=0)
    # How often the daemon logs the polls since its last summary (0: never).
    poll_summary: Duration = Field(default=60.0, ge=0)
    # The longest a failing source waits before its next poll, whatever it asks.
    max_backoff: Duration = Field(default=3600.0, gt=0)
    http: HttpConfig | None = None
    # Several instances on one database: this one's name (default: the host's name).
    instance: str | None = Field(default=None, min_length=1)
    # No longer used: claims end with their instance (store/liveness.py). Accepted so that
    # older configs still load; the daemon says it is ignored.
    lease: Duration | None = Field(default=None, gt=0)
    sources: list[AnySourceConfig] = []
    channels: dict[str, ChannelConfig] = {}
    rules: list[RuleConfig] = []

    _path: Path = PrivateAttr(default=Path("watcher.yaml"))

    @property
    def path(self) -> Path:
        return self._path

    @property
    def base_dir(self) -> Path:
        """The folder that relative paths in the config resolve against."""
        return self._path.parent

    def located(self, path: Path) -> Config:
        """This config as if read from `path` (its relative paths resolve beside it)."""
        copy = self.model_copy()
        copy._path = path
        return copy

    @field_validator("state")
    @classmethod
    def _resolve_state(cls, state: str) -> str:
        """`${ENV}` and `~` resolved as the config loads, so that `validate` reports what
        does not resolve and no later command can fail on it."""
        state = expand_env(state)
        if "://" in state:
            return state
        try:
            return str(Path(state).expanduser())
        except RuntimeError as exc:  # ~user of no such user
            raise ValueError(str(exc)) from None

    @property
    def state_url(self) -> str:
        """The store's SQLAlchemy URL; a path is relative to the config's folder. `parse`
        checks it, so that no command meets an unusable one."""
        if "://" in self.state:
            return self.state
        path = Path(self.state)
        if not path.is_absolute():
            path = self.base_dir / path
        return f"sqlite:///{path}"

    def interval_of(self, source: SourceConfig) -> float:
        return source.interval if source.interval is not None else self.interval

    def jitter_of(self, source: SourceConfig) -> float:
        """Jitter spreads polls out; by default a tenth of the interval, at most 30 s."""
        if source.jitter is not None:
            return source.jitter
        if self.jitter is not None:
            return self.jitter
        return min(self.interval_of(source) * 0.1, 30.0)

    @property
    def instance_name(self) -> str:
        """Stable across restarts, so that a restarted instance finds its claims its own
        at once: `instance:`, else $WATCHER_INSTANCE, else the host's name."""
        return self.instance or os.environ.get("WATCHER_INSTANCE") or socket.gethostname()


def locate(explicit: str | os.PathLike[str] | None) -> Path:
    """`-c`, then $WATCHER_CONFIG, then ./config/watcher.yaml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("WATCHER_CONFIG")
    return Path(env) if env else DEFAULT_PATH


def load(explicit: str | os.PathLike[str] | None = None) -> Config:
    path = locate(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read config: {exc}"]) from None
    return parse(text, path)


def parse(text: str, path: Path) -> Config:
    data, lines = load_yaml(text, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the config must be a mapping of keys to values"])
    data.setdefault("channels", {})
    if isinstance(data["channels"], dict):
        data["channels"].setdefault(CONSOLE, "console://")

    def where(loc: tuple[str | int, ...]) -> str:
        for n in range(len(loc), -1, -1):
            if loc[:n] in lines:
                return f"{path}:{lines[loc[:n]]}"
        return f"{path}:1"

    # Names are checked on the data as written, so that a wrong channel name is reported
    # in the same run as a wrong key elsewhere: every problem at once.
    problems = [
        f"{where(loc)}: {_dotted(loc)}: {msg}" for loc, msg in name_problems(data, [CONSOLE])
    ]
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems += [_describe(where, _without_tags(tuple(e["loc"])), e) for e in exc.errors()]
        raise ConfigError(problems) from None
    config = config.located(path.resolve())
    problems += [f"{where(loc)}: {_dotted(loc)}: {msg}" for loc, msg in _cross_check(config)]
    if problems:
        raise ConfigError(problems)
    log.add_url_secrets(config.state_url)  # a database password stays out of the logs
    return config


def _without_tags(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The location in the file, without the union tags pydantic adds for source kinds."""
    return tuple(p for p in loc if not (isinstance(p, str) and p.endswith(TAG_SUFFIX)))


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _models() -> list[type[BaseModel]]:
    from watcher.sources.base import KINDS

    models: list[type[BaseModel]] = [Config, RuleConfig, ChannelConfig, FetchConfig, Limits]
    models += [PageSelectors, QuietHoursConfig, DuplicatesConfig, HttpConfig]
    return models + [kind.model for kind in KINDS.values()]


def _known_keys() -> set[str]:
    return {name for m in _models() for name in m.model_fields} | {"url"}


def _units() -> dict[str, str]:
    """Each key's unit and an example, from its field's description."""
    return {
        name: field.description
        for m in _models()
        for name, field in m.model_fields.items()
        if field.description
    }


def _describe(where: Any, loc: tuple[str | int, ...], err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        close = difflib.get_close_matches(key, sorted(_known_keys()), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{where(loc)}: {_dotted(loc)}: unknown key '{key}'{hint}"
    if kind == "missing":
        return f"{where(loc[:-1])}: {_dotted(loc[:-1])}: missing required key '{loc[-1]}'"
    msg = str(err["msg"]).removeprefix("Value error, ")
    unit = _units().get(str(loc[-1])) if loc else None
    if unit and "e.g." not in msg:
        msg += f" ({unit})"
    return f"{where(loc)}: {_dotted(loc)}: {msg}"


def _channel_check(config: Config) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Each channel's URLs as Apprise reads them, and its templates tried on a sample
    alert, so that `validate` finds a broken one rather than the first alert it carries."""
    # Apprise and Jinja load only for a config that has something for them to check: a
    # config of consoles alone (`check`, the benchmarks) starts 16 MB lighter.
    for name, channel in config.channels.items():
        for i, url in enumerate(channel.urls):
            if url != "console://":  # ours
                from watcher.notify.channels import check_url

                if problem := check_url(url):
                    yield ("channels", name, "urls", i), problem
        for field in ("title", "body"):
            source = getattr(channel, field)
            if source is not None:
                from watcher.notify.render import check_template

                try:
                    check_template(source, channel.format or "markdown")
                except ValueError as exc:
                    yield ("channels", name, field), str(exc)


def _cross_check(config: Config) -> Iterator[tuple[tuple[str | int, ...], str]]:
    from watcher.store import StoreError, check_url  # SQLAlchemy: not before needed

    try:
        check_url(config.state_url)
    except StoreError as exc:
        yield ("state",), str(exc)
    yield from _channel_check(config)
    for i, rule in enumerate(config.rules):
        if not rule.keywords and not rule.regex:
            yield ("rules", i), "a rule needs keywords or a regex"
