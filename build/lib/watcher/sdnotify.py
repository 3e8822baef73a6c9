"""The systemd notify protocol, spoken directly: one datagram per message to $NOTIFY_SOCKET.

READY=1 once the scheduler runs, WATCHDOG=1 from the event loop (so a stuck loop gets
the process restarted), STATUS= for `systemctl status`. Without $NOTIFY_SOCKET (not under
systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

logger = logging.getLogger(__name__)


class Notifier:
    def __init__(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET", "")
        self._address: str | None = None
        self._socket: socket.socket | None = None
        if address.startswith(("/", "@")):
            # A leading @ names a socket in the abstract namespace.
            self._address = "\0" + address[1:] if address.startswith("@") else address
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half of WatchdogSec), if systemd asks for them."""
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        if not self.enabled or not usec.isdigit() or (pid and pid != str(os.getpid())):
            return None
        return int(usec) / 2_000_000

    def send(self, *fields: str) -> None:
        if self._socket is None or self._address is None:
            return
        try:
            self._socket.sendto("\n".join(fields).encode(), self._address)
        except OSError as exc:  # systemd gone or socket full: never fatal
            logger.warning("cannot notify systemd", extra={"reason": str(exc)})

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
