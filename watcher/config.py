"""The config file: YAML with line numbers, validated by pydantic, cross-checked.

Every problem becomes one line `file:line: key.path: message`, so that a broken config is
reported where it is broken, never as a traceback.
"""

from __future__ import annotations

import difflib
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from watcher import log
from watcher.rules import RuleConfig
from watcher.sanitize import Limits
from watcher.sources import TAG_SUFFIX, AnySourceConfig
from watcher.sources.base import SourceConfig
from watcher.sources.http import FetchConfig
from watcher.sources.liveblog import PageSelectors
from watcher.units import Duration

DEFAULT_PATH = Path("config/watcher.yaml")
CONSOLE = "console"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """One or more problems, each already formatted as `file:line: key: message`."""

    def __init__(self, problems: list[str]) -> None:
        problems = sorted(problems, key=_line_of)
        super().__init__("\n".join(problems))
        self.problems = problems


def _line_of(problem: str) -> int:
    found = re.match(r"[^:]*:(\d+):", problem)
    return int(found.group(1)) if found else 0


def expand_env(value: str) -> str:
    """Replaces `${NAME}` and `${NAME:-default}`; an unset NAME without default is an error."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        found = os.environ.get(name)
        if found is None:
            if default is None:
                raise ValueError(f"environment variable {name} is not set")
            return default
        return found

    return _ENV.sub(sub, value)


def register_env_secrets(value: str) -> None:
    """Masks in every log line, and in `test-notify`, the values `${NAME}` takes from the
    environment: tokens kept out of the file are secret even where Apprise's privacy form
    shows them (a header such as `+X-Api-Key=${API_KEY}`)."""
    for m in _ENV.finditer(value):
        found = os.environ.get(m.group(1))
        if found:
            log.add_secret(found)


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
    rate_limit: int | None = Field(default=None, ge=1)  # messages a minute
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

    @field_validator("title", "body")
    @classmethod
    def _template(cls, source: str | None, info: ValidationInfo) -> str | None:
        """Templates are compiled and tried on a sample alert, so that `validate` finds a
        broken one, not the first alert it would have carried."""
        if source is not None:
            from watcher.notify.render import check_template

            check_template(source, info.data.get("format") or "markdown")
        return source

    @field_validator("urls")
    @classmethod
    def _expand(cls, urls: list[str]) -> list[str]:
        out = []
        for url in urls:
            expanded = expand_env(url)
            register_env_secrets(url)
            if expanded != "console://":  # ours; checking it would load all of Apprise
                from watcher.notify.channels import check_url

                problem = check_url(expanded)
                if problem:
                    raise ValueError(problem)
            out.append(expanded)
        return out


class HttpConfig(_Model):
    """The optional HTTP listener: /metrics (Prometheus) and /healthz."""

    listen: str = Field(pattern=r"^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$")


class DuplicatesConfig(_Model):
    """Alerts of near-identical text from several sources, within `window`, go as one."""

    window: Duration = 900.0  # 0 turns it off
    similarity: float = Field(default=0.8, gt=0, le=1)


class Config(_Model):
    state: str = "watcher.db"
    lock_timeout: Duration = 10.0
    interval: Duration = Field(default=60.0, gt=0)
    jitter: Duration | None = None
    notify: list[str] = [CONSOLE]
    duplicates: DuplicatesConfig = DuplicatesConfig()
    fetch: FetchConfig = FetchConfig()
    limits: Limits = Limits()
    # History older than this is pruned (0: kept for ever); see store/retention.py.
    retention: Duration = Field(default=90 * 86400.0, ge=0)
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
    data, lines = _load_yaml(text, path)
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

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            [_describe(where, _without_tags(tuple(err["loc"])), err) for err in exc.errors()]
        ) from None
    config._path = path.resolve()
    problems = [f"{where(loc)}: {_dotted(loc)}: {msg}" for loc, msg in _cross_check(config)]
    if problems:
        raise ConfigError(problems)
    log.add_url_secrets(config.state_url)  # a database password stays out of the logs
    return config


# libyaml's parser when PyYAML has it: a config of thousands of sources loads 10x faster.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """YAML 1.2 booleans and numbers. YAML 1.1 would read the rule key `on` (and yes, no,
    off) as a boolean, and the quiet-hours time 22:00 as the number 1320."""


_YAML12 = {  # the YAML 1.2 core schema's booleans and numbers
    "tag:yaml.org,2002:bool": (r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    "tag:yaml.org,2002:int": (r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)$", "-+0123456789"),
    "tag:yaml.org,2002:float": (
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML12]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, (_pattern, _firsts) in _YAML12.items():
    for _first in _firsts:
        _Loader.yaml_implicit_resolvers.setdefault(_first, []).append((_tag, re.compile(_pattern)))


def _load_yaml(text: str, path: Path) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """The YAML data, and the line of every key and item in it."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node, path)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{path}:{line}: YAML syntax error: {problem}"]) from None
    finally:
        loader.dispose()

    lines: dict[tuple[str | int, ...], int] = {}

    def walk(n: yaml.Node, loc: tuple[str | int, ...]) -> None:
        lines.setdefault(loc, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                if isinstance(key, yaml.ScalarNode):
                    lines.setdefault((*loc, key.value), key.start_mark.line + 1)
                    walk(value, (*loc, key.value))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, (*loc, i))

    if node is not None:
        walk(node, ())
    return data, lines


# Aliases may make the data at most this many nodes larger than the file's own nodes.
# Reuse in a real config adds a block per use (a 10-node defaults block merged into 2,000
# sources adds 20,000); a 400-byte alias bomb ("billion laughs") adds 10**9, which the
# line walk and pydantic would expand in full. Each node added can cost pydantic 1.5 kB
# (an error per list item), so this bounds the worst accepted config to some 150 MB. The
# file's own nodes are not capped: they cost what the file's bytes do.
MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 100  # levels of nesting; the line walk below recurses once a level


def _check_expansion(root: yaml.Node, path: Path) -> None:
    """Refuses a recursive alias, aliases that add over MAX_ALIAS_NODES nodes, and nesting
    over MAX_DEPTH levels, before anything expands them.

    PyYAML composes an alias as the very node it names, so the nodes form a graph without
    copies: each node's expanded size and height are counted once (by node identity) from
    its children's, iteratively, and a node met again while it is being counted contains
    itself. A node's expanded size less the nodes counted so far is at most what aliases
    add, so a bomb is stopped at the first node that crosses the cap.
    """
    counted: dict[int, tuple[int, int]] = {}  # id(node): (expanded size, height)
    counting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_counted = stack.pop()
        children = _children(node)
        if not children_counted:
            if id(node) in counted:
                continue
            counting.add(id(node))
            stack.append((node, True))
            for child in children:
                if id(child) in counting:
                    raise ConfigError(
                        [f"{path}:{child.start_mark.line + 1}: YAML: recursive alias"]
                    )
                stack.append((child, False))
            continue
        counting.discard(id(node))
        size = 1 + sum(counted[id(c)][0] for c in children)
        height = 1 + max((counted[id(c)][1] for c in children), default=0)
        counted[id(node)] = size, height
        line = node.start_mark.line + 1
        if size - len(counted) > MAX_ALIAS_NODES:
            raise ConfigError(
                [f"{path}:{line}: YAML: aliases expand to more than {MAX_ALIAS_NODES:,} nodes"]
            )
        if height > MAX_DEPTH:
            raise ConfigError([f"{path}:{line}: YAML: nested more than {MAX_DEPTH} levels deep"])


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _without_tags(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The location in the file, without the union tags pydantic adds for source kinds."""
    return tuple(p for p in loc if not (isinstance(p, str) and p.endswith(TAG_SUFFIX)))


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _known_keys() -> set[str]:
    from watcher.sources import KINDS

    models: list[type[BaseModel]] = [Config, RuleConfig, ChannelConfig, FetchConfig, Limits]
    models += [PageSelectors, QuietHoursConfig, DuplicatesConfig, HttpConfig]
    models += [model for model, _ in KINDS.values()]
    return {name for m in models for name in m.model_fields} | {"url"}


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
    return f"{where(loc)}: {_dotted(loc)}: {msg}"


@dataclass(frozen=True)
class _Names:
    kind: str
    known: set[str]

    def check(self, loc: tuple[str | int, ...], names: list[str]) -> Iterator[tuple[Any, str]]:
        for name in names:
            if name not in self.known:
                close = difflib.get_close_matches(name, sorted(self.known), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                yield loc, f"unknown {self.kind} '{name}'{hint}"


def _cross_check(config: Config) -> Iterator[tuple[tuple[str | int, ...], str]]:
    from watcher.store import StoreError, check_url  # SQLAlchemy: not before needed

    try:
        check_url(config.state_url)
    except StoreError as exc:
        yield ("state",), str(exc)
    channels = _Names("channel", set(config.channels))
    sources = _Names("source", {s.name for s in config.sources})
    yield from channels.check(("notify",), config.notify)
    seen: set[str] = set()
    for i, source in enumerate(config.sources):
        if source.name in seen:
            yield ("sources", i, "name"), f"duplicate source name '{source.name}'"
        seen.add(source.name)
        yield from channels.check(("sources", i, "notify"), source.notify)
    seen = set()
    for i, rule in enumerate(config.rules):
        if rule.name in seen:
            yield ("rules", i, "name"), f"duplicate rule name '{rule.name}'"
        seen.add(rule.name)
        if not rule.keywords and not rule.regex:
            yield ("rules", i), "a rule needs keywords or a regex"
        yield from channels.check(("rules", i, "notify"), rule.notify or [])
        yield from sources.check(("rules", i, "sources"), rule.sources)
