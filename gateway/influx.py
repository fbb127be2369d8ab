"""Telemetry sinks: InfluxDB 1.x `/write` (urllib3) and the 2.x/3.x API (influxdb-client).

Both are blocking; the forwarder runs them in a thread. Library exceptions stop here and become
`SinkError` carrying the retry policy:

- network errors, timeouts, 408 and 5xx: retryable;
- 429 and 503: retryable, with `retry_after` from the Retry-After header when there is one;
- 401/403 (credentials), 404 (database, bucket or URL not found) and other 4xx: fatal;
- 400/422 (malformed line, field type conflict, outside retention) and 413 (too large): not an
  error of the batch but of some lines. The sink isolates them by bisection: it re-sends halves
  until each refused line stands alone, and reports those indices in `WriteResult.rejected`.

Bisection re-sends lines that a server may already have kept from a partial write; InfluxDB
overwrites a point with the same series and timestamp, so the stored data is the same (and so
when a retryable error cuts a bisection short and the forwarder sends the batch again). For
InfluxDB 1.x parse errors there is no re-sending at all: 1.x writes every parsable line, names
each unparsable one in its answer, and `_v1_unparsable` maps those names back to indices.
VictoriaMetrics skips malformed lines silently (204), so nothing can be reported for it.

Credentials travel in headers only; no message built here contains them.
"""

from __future__ import annotations

import gzip as gzip_codec
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlencode

import urllib3
from pydantic import SecretStr

from gateway.errors import SinkError

_MAX_MESSAGE = 400  # server explanations are cut to this many characters in errors
_GZIP_LEVEL = 6  # zlib's default: most of the gain of 9 at a fraction of the CPU on a Pi
# influxdb-client declares its precision constants as str but annotates write() with the class


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Indices of lines the server refused as malformed; the rest were accepted."""

    rejected: tuple[int, ...] = ()


class Sink(Protocol):
    name: str

    def write(self, lines: Sequence[str]) -> WriteResult:
        """Write `lines`; raises SinkError on anything but refused lines."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """The server refused the whole request because of some of its lines (400, 413, 422)."""

    status: int
    message: str


# A request of some lines: None when all were accepted; raises SinkError on anything else.
_Post = Callable[[Sequence[str]], Refusal | None]
# Names the refused lines from the server's explanation, or None when it cannot tell exactly.
_Pinpoint = Callable[[Refusal, Sequence[str]], list[int] | None]


def write_isolating(post: _Post, lines: Sequence[str], pinpoint: _Pinpoint | None) -> WriteResult:
    """Write `lines` with `post`; isolate refused lines by bisection (see the module docstring)."""
    rejected: list[int] = []
    if lines:
        _isolate(post, lines, range(len(lines)), pinpoint, rejected)
    return WriteResult(tuple(sorted(rejected)))


def _isolate(
    post: _Post, lines: Sequence[str], part: range, pinpoint: _Pinpoint | None, out: list[int]
) -> None:
    chunk = [lines[i] for i in part]
    refusal = post(chunk)
    if refusal is None:
        return
    if len(part) == 1:
        out.append(part[0])
        return
    named = pinpoint(refusal, chunk) if pinpoint else None
    if named is not None:
        out.extend(part[i] for i in named)
        return
    middle = len(part) // 2
    _isolate(post, lines, part[:middle], pinpoint, out)
    _isolate(post, lines, part[middle:], pinpoint, out)


def _v1_unparsable(refusal: Refusal, chunk: Sequence[str]) -> list[int] | None:
    """InfluxDB 1.x writes the parsable lines and names each other one: "unable to parse '<line>':
    <reason>", one per line of the message. Trust the names only if they all match exactly."""
    if refusal.status != 400 or "unable to parse '" not in refusal.message:
        return None
    named: Counter[str] = Counter()
    for segment in refusal.message.split("unable to parse '")[1:]:
        end = segment.rfind("': ")  # reasons never contain "': ", lines may
        if end < 0:
            return None
        named[segment[:end]] += 1
    # 1.x skips leading blanks before it parses and reports the rest of the line
    bad = [i for i, text in enumerate(chunk) if text.lstrip(" \t\0") in named]
    return bad if Counter(chunk[i].lstrip(" \t\0") for i in bad) == named else None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After as seconds, or as an HTTP date measured against the response's own Date."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        until = parsedate_to_datetime(value)
        now = parsedate_to_datetime(headers.get("Date", ""))
        seconds = (until - now).total_seconds()  # TypeError if one of them has no zone
    except (TypeError, ValueError):  # no usable dates: let the forwarder's backoff decide
        return None
    return max(0.0, seconds)


def judge(name: str, status: int, message: str, headers: Mapping[str, str]) -> Refusal | None:
    """Map an HTTP status to: accepted (None), refused lines (Refusal), or a SinkError."""
    message = message.strip()[:_MAX_MESSAGE]
    if 200 <= status < 300:
        return None
    if status in (400, 413, 422):
        return Refusal(status, message)
    what = f"{name}: HTTP {status}: {message}"
    if status in (401, 403):
        raise SinkError(f"{what} (check the credentials)", retryable=False, fatal=True)
    if status == 404:
        raise SinkError(f"{what} (check the database/bucket and URL)", retryable=False, fatal=True)
    if status in (429, 503):
        raise SinkError(what, retryable=True, retry_after=_retry_after(headers))
    if status == 408 or status >= 500:
        raise SinkError(what, retryable=True)
    raise SinkError(f"{what} (unexpected answer)", retryable=False, fatal=True)


def network_error(name: str, exc: Exception) -> SinkError:
    return SinkError(f"{name}: {type(exc).__name__}: {exc}"[:_MAX_MESSAGE], retryable=True)


def plain_url(url: str) -> str:
    """The URL without a trailing slash; credentials in it are refused, they would leak in logs."""
    parsed = urllib3.util.parse_url(url)
    if parsed.auth:
        raise ValueError("put InfluxDB credentials in the username/password/token settings")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url.rstrip("/")


def secret_text(value: SecretStr | str) -> str:
    """The secret itself: the config hands it over wrapped, it is unwrapped only for a header."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class InfluxV1Sink:
    """InfluxDB 1.x `POST /write?db=&rp=&precision=ns`, basic auth in a header, optional gzip."""

    def __init__(
        self,
        url: str,
        database: str,
        *,
        retention_policy: str | None = None,
        username: str | None = None,
        password: SecretStr | str | None = None,
        gzip: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        base = plain_url(url)
        self.name = f"influxdb-v1 {base} db={database}"
        query = {"db": database, "precision": "ns"}
        if retention_policy:
            query["rp"] = retention_policy
        self._write_url = f"{base}/write?{urlencode(query)}"
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if username is not None:
            auth = urllib3.util.make_headers(basic_auth=f"{username}:{secret_text(password or '')}")
            self._headers.update(auth)
        if gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._gzip = gzip
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(total=timeout_s), retries=False, maxsize=2
        )

    def __repr__(self) -> str:
        return f"InfluxV1Sink({self.name})"

    def write(self, lines: Sequence[str]) -> WriteResult:
        return write_isolating(self._post, lines, _v1_unparsable)

    def _post(self, lines: Sequence[str]) -> Refusal | None:
        body = "\n".join(lines).encode()
        if self._gzip:
            body = gzip_codec.compress(body, compresslevel=_GZIP_LEVEL)
        try:
            response = self._http.request(
                "POST", self._write_url, body=body, headers=self._headers, retries=False
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise network_error(self.name, exc) from exc
        return judge(self.name, response.status, _v1_message(response), response.headers)

    def close(self) -> None:
        self._http.clear()


def _v1_message(response: urllib3.BaseHTTPResponse) -> str:
    """1.x explains in `{"error": ...}`, and in the X-Influxdb-Error header."""
    text = response.data.decode(errors="replace")
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
        return str(decoded["error"])
    return text or response.headers.get("X-Influxdb-Error", "") or str(response.reason)
