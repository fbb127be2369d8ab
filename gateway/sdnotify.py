"""Tell systemd how the daemon is doing: the sd_notify(3) protocol with the standard library only.

Why our own: the PyPI clients are unmaintained or need libsystemd to build, and the protocol is
one datagram of KEY=VALUE lines sent to the AF_UNIX socket named in $NOTIFY_SOCKET (a path, or an
abstract name written with a leading '@'). Without $NOTIFY_SOCKET (a shell, a container, tests)
every call is a no-op that returns False. A failed send is logged once per outage and never
raised: the safety daemon must not die because systemd is absent or busy.

`gateway.app` calls `ready()` once started, `watchdog()` every `watchdog_interval_s` seconds,
`reloading()` then `ready()` around a config reload, `status()` on edges and `stopping()` at exit.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 1.0  # the notify socket is a local datagram queue; never block the loop for long


def _address(notify_socket: str | None) -> bytes | None:
    """The sendto() address for $NOTIFY_SOCKET, or None when notifications are off."""
    if not notify_socket:
        return None
    if notify_socket.startswith("@"):
        return b"\0" + os.fsencode(notify_socket[1:])
    if notify_socket.startswith("/"):
        return os.fsencode(notify_socket)
    log.warning(
        "NOTIFY_SOCKET=%r is neither a path nor an abstract name: not notifying", notify_socket
    )
    return None


def _watchdog_usec(environ: Mapping[str, str]) -> int | None:
    """WATCHDOG_USEC when it is set, valid and meant for this process (WATCHDOG_PID)."""
    pid = environ.get("WATCHDOG_PID")
    if pid is not None and pid != str(os.getpid()):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec if usec > 0 else None


class SystemdNotifier:
    """Sends state changes to the service manager; every method returns whether it was sent."""

    def __init__(self, notify_socket: str | None, watchdog_usec: int | None = None) -> None:
        self._address = _address(notify_socket)
        self._watchdog_usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None
        self._failing = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SystemdNotifier:
        """Built from NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (default: os.environ)."""
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET"), _watchdog_usec(env))

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to call `watchdog()`: half the watchdog timeout, or None without one."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def ready(self) -> bool:
        return self.notify("READY=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        """Type=notify-reload (systemd 253) wants the CLOCK_MONOTONIC time of the reload start."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """One line shown by `systemctl status`; newlines would start new assignments."""
        return self.notify("STATUS=" + " ".join(text.splitlines()))

    def notify(self, *assignments: str) -> bool:
        """Send KEY=VALUE assignments in one datagram."""
        if self._address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(SEND_TIMEOUT_S)
                sock.sendto("\n".join(assignments).encode(), self._address)
        except OSError as exc:
            if not self._failing:
                log.warning("cannot notify systemd at %r: %s", self._address, exc)
            self._failing = True
            return False
        if self._failing:
            log.info("notifying systemd again")
        self._failing = False
        return True
