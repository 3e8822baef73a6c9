"""Values as people write them in the config: durations (`30s`, `5m`, `1h30m`, or plain
seconds), sizes (`10MB`, `512KB`, or plain bytes), rates (`2/m`, or a plain count a
minute) and lists (one item may be written
without the brackets: `notify: email`)."""

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

_RATE = re.compile(r"(\d+)\s*(?:/\s*(?:m|min|minute)|(?:a|per) minute)?")


def parse_rate(value: object) -> object:
    """A count a minute, as `2`, `2/m` or `2 a minute`; anything else is left for the
    model to refuse with its unit."""
    if isinstance(value, str) and (m := _RATE.fullmatch(value.strip().lower())):
        return int(m.group(1))
    return value


Rate = Annotated[int, BeforeValidator(parse_rate)]

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?")
_BYTES = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2}
_BYTES |= {"gb": 1000**3, "gib": 1024**3}


def parse_size(value: object) -> object:
    """Bytes in `10MB`, `512KiB` or a plain count; anything else is left for the model to
    refuse with its unit."""
    if isinstance(value, str) and (m := _SIZE.fullmatch(value.strip().lower())):
        return int(float(m.group(1)) * _BYTES[m.group(2) or "b"])
    return value


Size = Annotated[int, BeforeValidator(parse_size)]


T = TypeVar("T")


def one_or_many(value: Any) -> Any:
    """A single string where a list is expected is that list of one."""
    return [value] if isinstance(value, str) else value


Many = Annotated[list[T], BeforeValidator(one_or_many)]
