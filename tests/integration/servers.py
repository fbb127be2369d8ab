"""Real servers for integration tests and benchmarks: mosquitto, InfluxDB 1.x and VictoriaMetrics.

Each `start_*` function binds 127.0.0.1 on a free port (retried once on a port clash), keeps its
config, data and log in the directory it is given, waits for readiness against a deadline and
returns a `Running` handle whose `stop()` terminates the server (then kills it after a timeout).
A missing binary or a server that does not come up raises `ServerStartError` naming the Debian
package to install or quoting the tail of the server's log.

Servers are started with a parent-death signal, so a test run killed with SIGKILL does not leave
them behind. Start them from the main thread (or one that outlives them): Linux sends the signal
when the *thread* that started the server exits.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.02
HTTP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 40

# Loopback requests must never go through an http_proxy taken from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


class ServerStartError(RuntimeError):
    """A server could not be started; the message says why and quotes its log."""

    def __init__(self, message: str, *, port_clash: bool = False) -> None:
        super().__init__(message)
        self.port_clash = port_clash


class ServerRequestError(RuntimeError):
    """A helper request to a running server failed (HTTP status or error in the body)."""


# --- processes ------------------------------------------------------------------------------


def free_port(host: str = HOST) -> int:
    """A port that was free a moment ago: bind port 0, read the port, close the socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def require_binary(name: str, debian_package: str) -> str:
    """The absolute path of `name`, or an error that says which package provides it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise ServerStartError(
            f"{name!r} not found on PATH: install the Debian package {debian_package!r} "
            f"(apt-get install {debian_package})"
        )
    return path


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file, or a note that it is missing."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM it when the test process dies."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ServerProcess:
    """A server process whose stdout and stderr go to `log_path`."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Terminate; kill if still running after `timeout_s`. Safe to call twice."""
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        self.popen.wait(timeout_s)

    def kill(self) -> None:
        """SIGKILL, the way a power cut or the OOM killer ends a server (for crash tests)."""
        if self.alive():
            self.popen.kill()
        self.popen.wait(STOP_TIMEOUT_S)

    def failure(self, reason: str) -> ServerStartError:
        tail = log_tail(self.log_path)
        return ServerStartError(
            f"{self.name} {reason}; last lines of {self.log_path}:\n{tail}",
            port_clash="address already in use" in tail.lower(),
        )


def spawn(
    name: str, argv: list[str], log_path: Path, env: Mapping[str, str] | None = None
) -> ServerProcess:
    """Start `argv` with stdout and stderr appended to `log_path`."""
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl(2)
        )
    return ServerProcess(name, popen, log_path)


def wait_ready(
    process: ServerProcess, is_ready: Callable[[], bool], timeout_s: float = START_TIMEOUT_S
) -> None:
    """Poll `is_ready` until it holds while the process runs; raise with the log tail if not."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not process.alive():
            raise process.failure(
                f"exited with code {process.popen.returncode} before it was ready"
            )
        if is_ready() and process.alive():
            return
        if time.monotonic() >= deadline:
            raise process.failure(f"was not ready within {timeout_s:g} s")
        time.sleep(POLL_S)


def launch(
    name: str,
    argv: list[str],
    log_path: Path,
    is_ready: Callable[[], bool],
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """Spawn and wait for readiness; a server that fails to come up is stopped before raising."""
    process = spawn(name, argv, log_path, env)
    try:
        wait_ready(process, is_ready)
    except BaseException:
        process.stop()
        raise
    return process


S = TypeVar("S")


@dataclass(frozen=True)
class Running(Generic[S]):
    """A started server: `server` describes it to tests, `process` controls it."""

    server: S
    process: ServerProcess

    def stop(self) -> None:
        self.process.stop()


def _retry_on_port_clash(attempt: Callable[[], Running[S]], *, retry: bool = True) -> Running[S]:
    """Run `attempt`; once more if it failed because another process took the free port."""
    try:
        return attempt()
    except ServerStartError as exc:
        if not (retry and exc.port_clash):
            raise
    return attempt()


# --- HTTP helpers (stdlib only) ---------------------------------------------------------------


def http_request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = HTTP_TIMEOUT_S,
) -> tuple[int, bytes]:
    """Status and body of one request; HTTP error statuses are returned, not raised."""
    headers = dict(headers or {})
    request = urllib.request.Request(url, body, headers, method=method)  # noqa: S310 - our http://
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            status: int = response.status
            return status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _http_status_is(url: str, expected: int) -> bool:
    try:
        return http_request("GET", url, timeout_s=1.0)[0] == expected
    except OSError:
        return False


def _expect(status: int, body: bytes, expected: int, what: str) -> None:
    if status != expected:
        text = body.decode(errors="replace").strip()
        raise ServerRequestError(f"{what}: HTTP {status} (expected {expected}): {text}")


# --- mosquitto ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MosquittoServer:
    host: str
    port: int
    data_dir: Path
    log_path: Path


def mosquitto_config(port: int, data_dir: Path, extra_conf_lines: Iterable[str] = ()) -> str:
    """A broker on one loopback listener; `extra_conf_lines` apply to that listener (TLS...)."""
    lines = [
        f"listener {port} {HOST}",
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {data_dir}/",
        "autosave_interval 1",
        "user root",  # run as root, mosquitto would otherwise drop to `mosquitto` and lose its dirs
        "max_queued_messages 1000000",
        "log_dest stdout",
        *extra_conf_lines,
    ]
    return "\n".join(lines) + "\n"


def _tcp_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def start_mosquitto(
    tmpdir: Path, extra_conf_lines: Iterable[str] = (), *, port: int | None = None
) -> Running[MosquittoServer]:
    """Start mosquitto in `tmpdir`; pass `port` to restart on the same port and data dir."""
    binary = require_binary("mosquitto", "mosquitto")
    # mosquitto does not flush a piped stdout: line-buffer it, or the log stays empty until exit.
    stdbuf = require_binary("stdbuf", "coreutils")
    data_dir = tmpdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = tmpdir / "mosquitto.log"
    conf_path = tmpdir / "mosquitto.conf"
    extra = list(extra_conf_lines)

    def attempt() -> Running[MosquittoServer]:
        chosen = free_port() if port is None else port
        conf_path.write_text(mosquitto_config(chosen, data_dir, extra))
        offset = log_path.stat().st_size if log_path.exists() else 0

        def ready() -> bool:
            with log_path.open("rb") as log:
                log.seek(offset)
                running = b" running" in log.read()
            return running and _tcp_accepts(HOST, chosen)

        process = launch(
            "mosquitto", [stdbuf, "-oL", binary, "-c", str(conf_path)], log_path, ready
        )
        return Running(MosquittoServer(HOST, chosen, data_dir, log_path), process)

    return _retry_on_port_clash(attempt, retry=port is None)


# --- InfluxDB 1.x -------------------------------------------------------------------------------


def _quote_ident(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@dataclass(frozen=True)
class InfluxDB1Server:
    host: str
    port: int
    url: str
    data_dir: Path
    log_path: Path

    def create_database(self, name: str) -> None:
        self.query(f"CREATE DATABASE {_quote_ident(name)}")

    def query(self, q: str, db: str | None = None) -> dict[str, Any]:
        """Run InfluxQL (POST /query, epoch=ns); raise on an HTTP error or an error in a result."""
        params = {"q": q, "epoch": "ns"} | ({} if db is None else {"db": db})
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        body = urllib.parse.urlencode(params).encode()
        status, reply = http_request("POST", f"{self.url}/query", body, headers)
        _expect(status, reply, 200, f"InfluxQL {q!r}")
        result: dict[str, Any] = json.loads(reply)
        errors = [result["error"]] if "error" in result else []
        errors += [r["error"] for r in result.get("results", []) if "error" in r]
        if errors:
            raise ServerRequestError(f"InfluxQL {q!r}: {'; '.join(map(str, errors))}")
        return result

    def write(self, db: str, lines: list[str]) -> None:
        """POST line protocol with nanosecond timestamps; raise unless InfluxDB answers 204."""
        query = urllib.parse.urlencode({"db": db, "precision": "ns"})
        body = "\n".join(lines).encode()
        status, reply = http_request("POST", f"{self.url}/write?{query}", body)
        _expect(status, reply, 204, f"write of {len(lines)} lines to {db!r}")


def influxdb1_config(data_dir: Path, http_port: int, rpc_port: int) -> str:
    """TOML for influxd 1.6 with its own dirs and both listeners on loopback."""

    def q(value: object) -> str:
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string

    return f"""\
# Debian's build names the phone-home switch reporting-enabled; upstream's is reporting-disabled.
reporting-enabled = false
reporting-disabled = true
bind-address = {q(f"{HOST}:{rpc_port}")}

[meta]
  dir = {q(data_dir / "meta")}

[data]
  dir = {q(data_dir / "data")}
  wal-dir = {q(data_dir / "wal")}

[http]
  bind-address = {q(f"{HOST}:{http_port}")}

[monitor]
  store-enabled = false

[logging]
  suppress-logo = true
"""


def start_influxdb1(tmpdir: Path, *, port: int | None = None) -> Running[InfluxDB1Server]:
    """Start influxd 1.x in `tmpdir` with HTTP and the backup RPC service on free ports; pass
    `port` (the HTTP port) to restart on the same port and data dir after a stop or a kill."""
    binary = require_binary("influxd", "influxdb")
    data_dir = tmpdir / "influxdb"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = tmpdir / "influxd.log"
    conf_path = tmpdir / "influxdb.conf"
    # INFLUXDB_* variables override the config file: keep the caller's out of the server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}

    def attempt() -> Running[InfluxDB1Server]:
        http_port, rpc_port = free_port() if port is None else port, free_port()
        conf_path.write_text(influxdb1_config(data_dir, http_port, rpc_port))
        url = f"http://{HOST}:{http_port}"
        argv = [binary, "-config", str(conf_path)]
        process = launch(
            "influxd", argv, log_path, lambda: _http_status_is(f"{url}/ping", 204), env
        )
        return Running(InfluxDB1Server(HOST, http_port, url, data_dir, log_path), process)

    return _retry_on_port_clash(attempt, retry=port is None)


# --- VictoriaMetrics ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VictoriaMetricsServer:
    """Series are named `<measurement>_<field>`; export timestamps are in milliseconds."""

    host: str
    port: int
    url: str
    data_dir: Path
    log_path: Path

    def force_flush(self) -> None:
        """Make recently written samples visible to export and queries."""
        status, reply = http_request("GET", f"{self.url}/internal/force_flush")
        _expect(status, reply, 200, "force_flush")

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every series matching the selector: dicts with metric, values and timestamps (ms)."""
        query = urllib.parse.urlencode({"match[]": match})
        status, reply = http_request("GET", f"{self.url}/api/v1/export?{query}")
        _expect(status, reply, 200, f"export of {match!r}")
        return [json.loads(line) for line in reply.decode().splitlines() if line.strip()]

    def write_v2(self, lines: list[str], bucket: str = "b", org: str = "o") -> None:
        """POST line protocol to the InfluxDB v2 write API with nanosecond precision."""
        query = urllib.parse.urlencode({"bucket": bucket, "org": org, "precision": "ns"})
        body = "\n".join(lines).encode()
        status, reply = http_request("POST", f"{self.url}/api/v2/write?{query}", body)
        _expect(status, reply, 204, f"v2 write of {len(lines)} lines")


def start_victoriametrics(
    tmpdir: Path, extra_args: Iterable[str] = ()
) -> Running[VictoriaMetricsServer]:
    """Start single-node VictoriaMetrics in `tmpdir` on a free port, keeping data for 100 years."""
    binary = require_binary("victoria-metrics", "victoria-metrics")
    data_dir = tmpdir / "data"
    log_path = tmpdir / "victoria-metrics.log"
    extra = list(extra_args)

    def attempt() -> Running[VictoriaMetricsServer]:
        port = free_port()
        url = f"http://{HOST}:{port}"
        argv = [
            binary,
            f"-httpListenAddr={HOST}:{port}",
            f"-storageDataPath={data_dir}",
            "-retentionPeriod=100y",
            # Queries see what was just written: no 30 s latency offset, no rollup result cache.
            "-search.latencyOffset=0s",
            "-search.disableCache",
            *extra,
        ]
        process = launch(
            "victoria-metrics", argv, log_path, lambda: _http_status_is(f"{url}/health", 200)
        )
        return Running(VictoriaMetricsServer(HOST, port, url, data_dir, log_path), process)

    return _retry_on_port_clash(attempt)
