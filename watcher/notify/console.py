"""The `console://` Apprise plugin: alerts printed on standard output.

Registered with Apprise when this module is imported (channels.py does so).
"""

from __future__ import annotations

import sys
from typing import Any

from apprise import NotifyFormat
from apprise.decorators import notify


# Text only: a channel that mixes the console with email renders HTML, which Apprise
# then turns into text for the terminal rather than printing its tags.
@notify(on="console", name="Console", body_format=NotifyFormat.TEXT)  # type: ignore[untyped-decorator,no-untyped-call]
def print_alert(body: str, title: str, *args: Any, **kwargs: Any) -> bool:
    out = sys.stdout
    heading = f"\x1b[1m▶ {title}\x1b[22m" if out.isatty() else f"▶ {title}"
    out.write(f"{heading}\n{body}\n\n")
    out.flush()
    return True
