"""Values as people write them in the config: durations (`30s`, `5m`, `1h30m`, or plain
seconds) and lists (one item may be written without the brackets: `notify: email`)."""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """Seconds in `value`; raises ValueError with a message fit for a config error."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            pos, seconds = 0, 0.0
            for part in _PART.finditer(text):
                if part.start() != pos:
                    break
                seconds += float(part.group(1)) * _SECONDS[part.group(2)]
                pos = part.end()
            if pos != len(text) or not text:
                raise ValueError(f"invalid duration {value!r} (use e.g. 30s, 5m, 1h30m)")
    else:
        raise ValueError(f"invalid duration {value!r} (use e.g. 30s, 5m, 1h30m)")
    if seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must not be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


T = TypeVar("T")


def one_or_many(value: Any) -> Any:
    """A single string where a list is expected is that list of one."""
    return [value] if isinstance(value, str) else value


Many = Annotated[list[T], BeforeValidator(one_or_many)]
