"""What `validate` advises beyond the schema: what is allowed but likely a mistake. A
warning stops nothing."""

from __future__ import annotations

import ipaddress

from watcher.config import CONSOLE, ERRORS, Config, HttpConfig
from watcher.rules import futile


def warnings(config: Config) -> list[str]:
    """What is allowed but likely a mistake: events nothing would ever send, a channel
    nothing sends to. `validate` prints them; they stop nothing."""
    out = []
    if config.sources and not config.rules:
        out.append("rules: none: events are stored, and only sources' own notify sends any")
    for i, source in enumerate(config.sources):
        covered = any(not r.sources or source.name in r.sources for r in config.rules)
        if not covered and not source.notify:
            out.append(
                f"sources[{i}] ({source.name}): no rule covers it and it has no notify: "
                "its events are stored, never sent"
            )
    for i, rule in enumerate(config.rules):
        out += [f"rules[{i}] ({rule.name}): {why}" for why in futile(rule)]
    used = set(config.notify) | {ERRORS}
    used |= {c for r in config.rules for c in (r.notify or [])}
    used |= {c for s in config.sources for c in s.notify}
    for name in config.channels:
        if name not in used and name != CONSOLE:
            out.append(f"channels.{name}: no rule or source sends to it")
    if config.http is not None and config.http.token is None and not _loopback(config.http):
        out.append(
            f"http.listen: {config.http.listen} is reachable beyond this machine and there "
            "is no http.token: anyone who reaches it reads the desk (actions stay off)"
        )
    return out


def _loopback(http: HttpConfig) -> bool:
    host = http.listen.rpartition(":")[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
