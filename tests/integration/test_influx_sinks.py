"""The sinks and the whole telemetry path against real servers (InfluxDB 1.6.7, VictoriaMetrics)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest

from gateway.app import make_sink as sink_of
from gateway.clock import SystemClock
from gateway.config import parse_config
from gateway.errors import SinkError
from gateway.forwarder import Forwarder
from gateway.influx import InfluxV1Sink
from gateway.influx2 import InfluxV2Sink
from gateway.outbox import Lane, Outbox
from tests.integration.servers import InfluxDB1Server, VictoriaMetricsServer

T = TypeVar("T")
T0 = 1_700_000_000_123_456_789  # not a whole millisecond: proves ns precision survives


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def make_lines(measurement: str, n: int, *, step_ns: int = 1_001) -> list[str]:
    return [f"{measurement},sensor=s{i % 7} v={i}i {T0 + i * step_ns}" for i in range(n)]


def rows(server: InfluxDB1Server, db: str, measurement: str) -> list[list[Any]]:
    """[time_ns, sensor, v] for every point of `measurement`."""
    result = server.query(f'SELECT "sensor", "v" FROM "{measurement}"', db=db)  # noqa: S608
    series = result["results"][0].get("series", [])
    return [row for s in series for row in s["values"]]


@pytest.fixture
def database(influxdb1: InfluxDB1Server) -> str:
    name = unique("sinks")
    influxdb1.create_database(name)
    return name


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nobody listens once the socket is closed


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_v1_writes_5000_lines_exactly_once_with_ns_timestamps(
    influxdb1: InfluxDB1Server, database: str, gzip: bool
) -> None:
    lines = make_lines("m", 5_200)
    sink = InfluxV1Sink(influxdb1.url, database, gzip=gzip)
    assert sink.write(lines).rejected == ()
    sink.close()
    got = rows(influxdb1, database, "m")
    assert len(got) == 5_200
    assert sorted((t, v) for t, _, v in got) == [(T0 + i * 1_001, i) for i in range(5_200)]


def count_posts(sink: InfluxV1Sink, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the requests the sink sends (wraps its one private request method)."""
    sizes: list[int] = []
    post = sink._post

    def counted(lines: Sequence[str]) -> object:
        sizes.append(len(lines))
        return post(lines)

    monkeypatch.setattr(sink, "_post", counted)
    return sizes


def test_v1_malformed_line_is_reported_and_the_rest_written_once(
    influxdb1: InfluxDB1Server, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = make_lines("m", 1_000)
    lines[417] = "m,sensor=broken this is not line protocol"
    lines[900] = "  m,sensor=s1 v= 5"  # leading blanks: the server reports it without them
    sink = InfluxV1Sink(influxdb1.url, database)
    posts = count_posts(sink, monkeypatch)
    assert sink.write(lines).rejected == (417, 900)
    assert posts == [1_000]  # 1.x named the bad lines: nothing was sent twice
    got = rows(influxdb1, database, "m")
    assert Counter(v for _, _, v in got) == Counter(i for i in range(1_000) if i not in (417, 900))


def test_v1_field_type_conflict_is_isolated_by_bisection(
    influxdb1: InfluxDB1Server, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = InfluxV1Sink(influxdb1.url, database)
    sink.write(["m,sensor=s0 v=1i 1"])  # v is an integer field from now on
    lines = make_lines("m", 300)
    lines[123] = f'm,sensor=s9 v="text" {T0 - 5}'
    posts = count_posts(sink, monkeypatch)
    assert sink.write(lines).rejected == (123,)
    assert 1 < len(posts) <= 1 + 2 * 9  # the batch, then two halves per level, 9 levels at most
    assert len(rows(influxdb1, database, "m")) == 300  # 299 + the first point


def test_v1_wrong_database_is_fatal(influxdb1: InfluxDB1Server) -> None:
    sink = InfluxV1Sink(influxdb1.url, unique("missing"))
    with pytest.raises(SinkError, match="database not found") as caught:
        sink.write(make_lines("m", 3))
    assert (caught.value.fatal, caught.value.retryable) == (True, False)


def test_v2_against_a_server_without_v2_api_is_fatal(influxdb1: InfluxDB1Server) -> None:
    sink = InfluxV2Sink(influxdb1.url, "any-token", "org", "bucket")
    with pytest.raises(SinkError) as caught:
        sink.write(make_lines("m", 3))
    sink.close()
    assert (caught.value.fatal, caught.value.retryable) == (True, False)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_closed_port_is_retryable(version: str) -> None:
    sink = make_sink(version, f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(SinkError) as caught:
        sink.write(make_lines("m", 3))
    sink.close()
    assert (caught.value.retryable, caught.value.fatal) == (True, False)


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_v2_writes_to_victoriametrics(victoriametrics: VictoriaMetricsServer, gzip: bool) -> None:
    measurement = unique("vm")
    lines = make_lines(measurement, 2_000, step_ns=1_000_000)  # VictoriaMetrics keeps ms
    sink = InfluxV2Sink(victoriametrics.url, "any-token", "org", "bucket", gzip=gzip)
    assert sink.write(lines).rejected == ()
    sink.close()
    victoriametrics.force_flush()
    series = victoriametrics.export(f'{{__name__="{measurement}_v"}}')
    samples = sorted(
        (ts, value) for s in series for ts, value in zip(s["timestamps"], s["values"], strict=True)
    )
    assert samples == [((T0 + i * 1_000_000) // 1_000_000, i) for i in range(2_000)]


# -- answers a real server cannot be made to give at will ------------------------------------


class Scripted(BaseHTTPRequestHandler):
    """A fake standing in for answers a real server here cannot be made to give at will
    (throttling, 5xx, auth, all-or-nothing refusals as InfluxDB 2.x gives, 413).

    With a 204 `answer`, a body over `max_body` bytes gets 413 and a body with a line containing
    `marker` gets 400, as a server that refuses whole requests; accepted lines are recorded,
    and so is each request's Authorization header.
    """

    answer: tuple[int, dict[str, str], str] = (204, {}, "")
    marker: str | None = None
    max_body: int | None = None
    accepted: ClassVar[list[str]] = []
    authorization: ClassVar[list[str | None]] = []

    def do_POST(self) -> None:
        Scripted.authorization.append(self.headers.get("Authorization"))
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        lines = body.decode().split("\n")
        status, headers, reply = self.answer
        if status == 204 and self.max_body is not None and len(body) > self.max_body:
            status, reply = 413, _error("request entity too large")
        elif status == 204 and self.marker and any(self.marker in text for text in lines):
            status, reply = 400, _error("unable to parse points")
        elif status == 204:
            Scripted.accepted += lines
        self.send_response_only(status)  # no Date of its own: a scripted Date must be the only one
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply.encode())


def script(
    answer: tuple[int, dict[str, str], str] = (204, {}, ""),
    marker: str | None = None,
    max_body: int | None = None,
) -> None:
    Scripted.answer, Scripted.marker, Scripted.max_body = answer, marker, max_body
    Scripted.accepted = []
    Scripted.authorization = []


@pytest.fixture(scope="module")
def scripted() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=server.serve_forever, name="scripted-http", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _error(message: str) -> str:
    return json.dumps({"error": message, "code": "x", "message": message})


NOON = "Sun, 22 Nov 2026 12:00:00 GMT"
HALF_PAST = "Sun, 22 Nov 2026 12:00:30 GMT"


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize(
    ("status", "headers", "policy"),  # policy: (retryable, fatal, retry_after)
    [
        (429, {"Retry-After": "7"}, (True, False, 7.0)),
        (503, {"Retry-After": HALF_PAST, "Date": NOON}, (True, False, 30.0)),
        (503, {"Retry-After": HALF_PAST}, (True, False, None)),  # no Date to measure from
        (503, {}, (True, False, None)),
        (500, {}, (True, False, None)),
        (401, {}, (False, True, None)),
        (403, {}, (False, True, None)),
        (404, {}, (False, True, None)),
        (405, {}, (False, True, None)),
    ],
)
def test_http_answers_become_the_right_policy(
    scripted: str,
    version: str,
    status: int,
    headers: dict[str, str],
    policy: tuple[bool, bool, float | None],
) -> None:
    script((status, headers, _error("scripted")))
    sink = make_sink(version, scripted)
    with pytest.raises(SinkError) as caught:
        sink.write(make_lines("m", 3))
    sink.close()
    error = caught.value
    assert (error.retryable, error.fatal, error.retry_after) == policy
    assert f"HTTP {status}" in str(error)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_secrets_never_appear_in_errors(scripted: str, version: str) -> None:
    script((401, {}, _error("authorization failed")))
    if version == "v1":
        sink: InfluxV1Sink | InfluxV2Sink = InfluxV1Sink(
            scripted,
            "db",
            username="operator",
            password="s3cret-pw",  # bait
        )
    else:
        sink = InfluxV2Sink(scripted, "s3cret-token", "org", "bucket")
    with pytest.raises(SinkError) as caught:
        sink.write(make_lines("m", 1))
    sink.close()
    assert "s3cret" not in f"{caught.value} {sink!r} {sink.name}"


SITE = """\
site: {id: s}
gateway: {id: g}
people: [{id: p, name: P}]
zones: [{id: z, name: Z, owner: p}]
escalation: {levels: [{name: duty, recipients: [p]}]}
"""


@pytest.mark.parametrize(
    ("influxdb", "expected"),
    [
        ("{version: 1, url: URL, database: db, username: operator, password: pw-Kq81}",
         "Basic " + base64.b64encode(b"operator:pw-Kq81").decode()),
        ("{version: 2, url: URL, org: o, bucket: b, token: tok-Rz55}", "Token tok-Rz55"),
    ],
    ids=["v1", "v2"],
)  # fmt: skip
def test_the_credential_of_the_config_file_reaches_the_request(
    scripted: str, influxdb: str, expected: str
) -> None:
    """The config keeps it as a SecretStr; the sink unwraps it for the header, and only there."""
    cfg = parse_config(SITE + "influxdb: " + influxdb.replace("URL", scripted), "site.yaml")
    sink = sink_of(cfg)
    assert sink is not None
    script()
    sink.write(make_lines("m", 1))
    sink.close()
    assert Scripted.authorization == [expected]


def test_credentials_in_the_url_are_refused() -> None:
    with pytest.raises(ValueError, match="credentials"):
        InfluxV1Sink("http://user:pw@127.0.0.1:8086", "db")


def make_sink(version: str, url: str, *, gzip: bool = False) -> InfluxV1Sink | InfluxV2Sink:
    if version == "v1":
        return InfluxV1Sink(url, "db", timeout_s=2, gzip=gzip)
    return InfluxV2Sink(url, "token", "org", "bucket", timeout_s=2, gzip=gzip)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_whole_request_refusals_are_bisected_good_lines_written_once(
    scripted: str, version: str
) -> None:
    script(marker="malformed")
    lines = make_lines("m", 500)
    for bad in (0, 250, 251, 499):
        lines[bad] = f"malformed {bad}"
    sink = make_sink(version, scripted, gzip=True)
    assert sink.write(lines).rejected == (0, 250, 251, 499)
    sink.close()
    good = [text for text in lines if not text.startswith("malformed")]
    assert sorted(Scripted.accepted) == sorted(good)  # every good line exactly once


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_too_large_requests_are_split_and_an_oversized_line_rejected(
    scripted: str, version: str
) -> None:
    script(max_body=2_000)
    lines = make_lines("m", 300)
    lines[42] = f'm,sensor=huge note="{"x" * 3_000}" {T0}'
    sink = make_sink(version, scripted)
    assert sink.write(lines).rejected == (42,)
    sink.close()
    assert sorted(Scripted.accepted) == sorted(lines[:42] + lines[43:])


# -- the whole path -------------------------------------------------------------------------


def test_outbox_forwarder_influxdb1_delivers_every_line_once(
    influxdb1: InfluxDB1Server, database: str, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    telemetry = make_lines("t", 12_000)
    telemetry[7_777] = "t,sensor=broken no fields here"
    outbox.append(Lane.TELEMETRY, telemetry, [T0 + i for i in range(12_000)])
    events = [f"alarm,sensor=s{i} level=2i {T0 + i}" for i in range(20)]
    outbox.append(Lane.EVENTS, events, [T0 + i for i in range(20)])
    sink = InfluxV1Sink(influxdb1.url, database, gzip=True)

    async def scenario() -> Forwarder:
        with ThreadPoolExecutor(1, thread_name_prefix="sqlite") as worker:  # as in the daemon

            def run_db(fn: Callable[[], T]) -> asyncio.Future[T]:
                return asyncio.get_running_loop().run_in_executor(worker, fn)

            forwarder = Forwarder(outbox, sink, run_db=run_db, clock=SystemClock(), idle_s=0.01)
            task = asyncio.create_task(forwarder.run(), name="forwarder")
            async with asyncio.timeout(60):
                while forwarder.sent + forwarder.rejected < 12_020:
                    await asyncio.wait({task}, timeout=0.01)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return forwarder

    forwarder = asyncio.run(scenario())
    sink.close()
    assert (forwarder.sent, forwarder.rejected) == (12_019, 1)
    assert (outbox.count(), outbox.stats().rejected) == (0, 1)
    got = rows(influxdb1, database, "t")
    assert Counter(v for _, _, v in got) == Counter(i for i in range(12_000) if i != 7_777)
    alarms = influxdb1.query('SELECT count("level") FROM "alarm"', db=database)
    assert alarms["results"][0]["series"][0]["values"][0][1] == 20
    outbox.close()


# -- retention ----------------------------------------------------------------------------------


def test_v1_retention_old_telemetry_expires_unsent_old_events_are_refused_and_counted(
    influxdb1: InfluxDB1Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A backlog older than the retention policy: telemetry is dropped by max_age_s before it
    is sent (counted as expired); an event is sent anyway, and the server's refusal counted."""
    db = unique("short")
    influxdb1.query(f'CREATE DATABASE "{db}" WITH DURATION 1h REPLICATION 1 NAME "short"')
    now = time.time_ns()
    old, fresh = now - 2 * 3600 * 10**9, now - 10 * 10**9
    outbox = Outbox(tmp_path / "outbox.db")
    for base, tag in ((old, "old"), (fresh, "fresh")):
        lines = [f"t,sensor={tag} v={i}i {base + i}" for i in range(100)]
        outbox.append(Lane.TELEMETRY, lines, [base + i for i in range(100)])
        outbox.append(Lane.EVENTS, [f"alarm,sensor={tag} level=2i {base}"], [base])
    sink = InfluxV1Sink(influxdb1.url, db)

    async def scenario() -> Forwarder:
        forwarder = Forwarder(
            outbox, sink, run_db=asyncio.to_thread, clock=SystemClock(), max_age_s=3600.0
        )
        await forwarder.drain(timeout_s=30)
        return forwarder

    with caplog.at_level(logging.WARNING, logger="gateway.forwarder"):
        forwarder = asyncio.run(scenario())
    sink.close()
    assert (forwarder.expired, forwarder.rejected, forwarder.sent) == (100, 1, 101)
    stats = outbox.stats()
    assert (stats.dropped_expired, stats.rejected, outbox.count()) == (100, 1, 0)
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["forwarder", "forwarder"]
    assert "acquired over 3600 s ago" in caplog.records[0].getMessage()
    assert "alarm,sensor=old" in caplog.records[1].getMessage()
    assert [row[1] for row in rows(influxdb1, db, "t")] == ["fresh"] * 100
    outbox.close()
