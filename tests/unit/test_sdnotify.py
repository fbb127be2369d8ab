"""sd_notify datagrams as systemd receives them, through a real AF_UNIX datagram socket."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.sdnotify import SystemdNotifier


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[socket.socket]:
    """The service manager's end: a datagram socket bound at tmp_path/notify."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(2.0)
        yield sock


def received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def nothing_queued(sock: socket.socket) -> bool:
    sock.settimeout(0.0)
    try:
        sock.recv(4096)
    except BlockingIOError:
        return True
    return False


def notifier_for(sock: socket.socket) -> SystemdNotifier:
    return SystemdNotifier.from_env({"NOTIFY_SOCKET": sock.getsockname()})


def test_ready_sends_exactly_ready_1(systemd: socket.socket) -> None:
    assert notifier_for(systemd).ready() is True
    assert received(systemd) == "READY=1"


def test_watchdog_stopping_and_status_send_one_datagram_each(systemd: socket.socket) -> None:
    notifier = notifier_for(systemd)
    assert notifier.watchdog()
    assert notifier.status("3 alarms active, influx down")
    assert notifier.stopping()
    assert received(systemd) == "WATCHDOG=1"
    assert received(systemd) == "STATUS=3 alarms active, influx down"
    assert received(systemd) == "STOPPING=1"
    assert nothing_queued(systemd)


def test_status_flattens_newlines_so_text_cannot_inject_assignments(
    systemd: socket.socket,
) -> None:
    assert notifier_for(systemd).status("starting\nREADY=1")
    assert received(systemd) == "STATUS=starting READY=1"


def test_reloading_carries_the_monotonic_time_systemd_253_expects(systemd: socket.socket) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier_for(systemd).reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    reloading, monotonic = received(systemd).split("\n")
    assert reloading == "RELOADING=1"
    key, value = monotonic.split("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_abstract_socket_names_start_with_an_at_sign() -> None:
    name = f"hazgw-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        assert SystemdNotifier.from_env({"NOTIFY_SOCKET": "@" + name}).ready()
        assert received(sock) == "READY=1"


def test_without_notify_socket_every_call_is_a_no_op_returning_false() -> None:
    notifier = SystemdNotifier.from_env({})
    assert notifier.enabled is False
    assert notifier.watchdog_interval_s is None
    results = [
        notifier.ready(),
        notifier.watchdog(),
        notifier.status("x"),
        notifier.reloading(),
        notifier.stopping(),
    ]
    assert results == [False] * 5


def test_from_env_reads_os_environ_by_default(
    systemd: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", systemd.getsockname())
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    notifier = SystemdNotifier.from_env()
    assert notifier.watchdog_interval_s == 1.5
    assert notifier.ready()
    assert received(systemd) == "READY=1"


@pytest.mark.parametrize(
    ("environ", "interval_s"),
    [
        ({"WATCHDOG_USEC": "10000000"}, 5.0),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}, 5.0),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
    ids=["half-the-timeout", "our-pid", "another-pid", "zero", "garbage", "unset"],
)
def test_watchdog_interval_is_half_the_timeout_meant_for_this_process(
    environ: dict[str, str], interval_s: float | None
) -> None:
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": "/run/systemd/notify", **environ})
    assert notifier.watchdog_interval_s == interval_s


def test_a_missing_socket_is_logged_once_and_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with caplog.at_level(logging.WARNING, logger="gateway.sdnotify"):
        assert [notifier.watchdog() for _ in range(3)] == [False, False, False]
    assert len(caplog.records) == 1
    assert "cannot notify systemd" in caplog.records[0].getMessage()


def test_a_new_outage_is_logged_again_after_a_successful_send(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "notify"
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": str(path)})
    with caplog.at_level(logging.WARNING, logger="gateway.sdnotify"):
        assert not notifier.watchdog()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(str(path))
            assert notifier.watchdog()
        path.unlink()
        assert not notifier.watchdog()
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]


def test_a_relative_notify_socket_disables_notifications(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.sdnotify"):
        notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": "notify.sock"})
    assert notifier.enabled is False
    assert notifier.ready() is False
    assert len(caplog.records) == 1
