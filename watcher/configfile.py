"""The config file as YAML: read with YAML 1.2's booleans and numbers, with the line of
every key kept for the error messages, and refused before expansion when its aliases would
blow up (a "billion laughs") or nest without end."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from watcher import log

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_CREDENTIAL = re.compile(r"\$\{credential:([A-Za-z0-9_.@-]+)\}")
DEFAULT_CREDENTIALS = "/etc/watcher/credentials"


class ConfigError(Exception):
    """One or more problems, each already formatted as `file:line: key: message`."""

    def __init__(self, problems: list[str]) -> None:
        problems = sorted(problems, key=_line_of)
        super().__init__("\n".join(problems))
        self.problems = problems


def _line_of(problem: str) -> int:
    found = re.match(r"[^:]*:(\d+):", problem)
    return int(found.group(1)) if found else 0


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


def load_yaml(text: str, path: Path) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """The YAML data, and the line of every key and item in it."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[tuple[str | int, ...], int] = {}
        if node is not None and not _lines(node, path, lines):
            _check_expansion(node, path)  # aliases: what they would expand to, first
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{path}:{line}: YAML syntax error: {problem}"]) from None
    finally:
        loader.dispose()
    return data, lines


def _lines(root: yaml.Node, path: Path, lines: dict[tuple[str | int, ...], int]) -> bool:
    """Fills `lines` with the line of every key and item, and says whether every node was
    met once: then there is no alias, and nothing expands beyond the file (the common
    case, whose check this spares: 0.15 s for 2,000 sources). Nesting over MAX_DEPTH is
    refused here, whatever the aliases. A node met again is not walked twice: the
    expansion check counts what aliases add."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(root, ())]
    once = True
    while stack:
        node, loc = stack.pop()
        lines.setdefault(loc, node.start_mark.line + 1)
        if len(loc) > MAX_DEPTH:
            line = node.start_mark.line + 1
            raise ConfigError([f"{path}:{line}: YAML: nested more than {MAX_DEPTH} levels deep"])
        if id(node) in seen:
            once = False
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    lines.setdefault((*loc, key.value), key.start_mark.line + 1)
                    stack.append((value, (*loc, key.value)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*loc, i)) for i, item in enumerate(node.value))
    return once


# Aliases may make the data at most this many nodes larger than the file's own nodes.
# Reuse in a real config adds a block per use (a 10-node defaults block merged into 2,000
# sources adds 20,000); a 400-byte alias bomb ("billion laughs") adds 10**9, which the
# line walk and pydantic would expand in full. Each node added can cost pydantic 1.5 kB
# (an error per list item), so this bounds the worst accepted config to some 150 MB. The
# file's own nodes are not capped: they cost what the file's bytes do.
MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 100  # levels of nesting


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


def expand_env(value: str) -> str:
    """Replaces `${NAME}` and `${NAME:-default}` with environment variables, and
    `${credential:NAME}` with a systemd credential (see `credential`); an unset NAME
    without default is an error, every one of them named."""
    unset = [
        m.group(1)
        for m in _ENV.finditer(value)
        if m.group(2) is None and os.environ.get(m.group(1)) is None
    ]
    if len(unset) == 1:
        raise ValueError(f"environment variable {unset[0]} is not set")
    if unset:
        raise ValueError(f"environment variables {', '.join(unset)} are not set")

    def sub(m: re.Match[str]) -> str:
        found = os.environ.get(m.group(1))
        return found if found is not None else m.group(2)

    return _CREDENTIAL.sub(lambda m: credential(m.group(1)), _ENV.sub(sub, value))


def credential(name: str) -> str:
    """A secret the service manager passes as a file (`LoadCredential=NAME:/path` in the
    unit): `$CREDENTIALS_DIRECTORY/NAME` in the service, else, for the commands an
    operator runs by hand, the file the unit loads it from, in $WATCHER_CREDENTIALS
    (default /etc/watcher/credentials). Masked in logs like every secret."""
    folder = os.environ.get("CREDENTIALS_DIRECTORY") or os.environ.get(
        "WATCHER_CREDENTIALS", DEFAULT_CREDENTIALS
    )
    path = Path(folder) / name
    try:
        secret = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"credential {name}: cannot read {path}: {exc.strerror or exc}") from None
    if secret:
        log.add_secret(secret)
    return secret


def register_env_secrets(value: str) -> None:
    """Masks in every log line, and in `test-notify`, the values `${NAME}` takes from the
    environment: tokens kept out of the file are secret even where Apprise's privacy form
    shows them (a header such as `+X-Api-Key=${API_KEY}`)."""
    for m in _ENV.finditer(value):
        found = os.environ.get(m.group(1))
        if found:
            log.add_secret(found)


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


def name_problems(
    data: dict[str, Any], default_notify: list[str]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Names used that are not defined, and names defined twice, read from the data as
    written (any part of it may be malformed: what is not a name is the schema's to say)."""

    def listed(value: Any) -> list[str]:
        value = [value] if isinstance(value, str) else value
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    def items(key: str) -> list[dict[str, Any]]:
        value = data.get(key)
        return [v if isinstance(v, dict) else {} for v in value] if isinstance(value, list) else []

    raw_channels = data.get("channels")
    # Only names that are strings: any other is the schema's to report.
    defined = raw_channels if isinstance(raw_channels, dict) else {}
    channels = _Names("channel", {k for k in defined if isinstance(k, str)})
    sources = _Names("source", {n for s in items("sources") if isinstance(n := s.get("name"), str)})
    yield from channels.check(("notify",), listed(data.get("notify", default_notify)))
    for key in ("sources", "rules"):
        seen: set[str] = set()
        for i, item in enumerate(items(key)):
            name = item.get("name")
            if isinstance(name, str) and name in seen:
                yield (key, i, "name"), f"duplicate {key[:-1]} name '{name}'"
            if isinstance(name, str):
                seen.add(name)
            yield from channels.check((key, i, "notify"), listed(item.get("notify")))
            if key == "rules":
                yield from sources.check((key, i, "sources"), listed(item.get("sources")))
