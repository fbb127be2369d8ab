"""InfluxDB 2.x/3.x (and VictoriaMetrics) through influxdb-client's write API.

Its own module because influxdb-client costs about 15 MB of memory on import: a gateway that
writes to InfluxDB 1.x, or keeps telemetry local, never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import urllib3
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from pydantic import SecretStr

from gateway.influx import (
    Refusal,
    WriteResult,
    judge,
    network_error,
    plain_url,
    secret_text,
    write_isolating,
)

_NS = cast(WritePrecision, WritePrecision.NS)


class InfluxV2Sink:
    """InfluxDB 2.x/3.x (and VictoriaMetrics) `/api/v2/write` through influxdb-client."""

    def __init__(
        self,
        url: str,
        token: SecretStr | str,
        org: str,
        bucket: str,
        *,
        gzip: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        base = plain_url(url)
        self.name = f"influxdb-v2 {base} org={org} bucket={bucket}"
        self._org = org
        self._bucket = bucket
        # retries=False: the forwarder owns the retry policy, the client must not hide failures
        self._client = InfluxDBClient(
            url=base,
            token=secret_text(token),
            org=org,
            timeout=int(timeout_s * 1000),
            enable_gzip=gzip,
            retries=False,
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def __repr__(self) -> str:
        return f"InfluxV2Sink({self.name})"

    def write(self, lines: Sequence[str]) -> WriteResult:
        return write_isolating(self._post, lines, None)

    def _post(self, lines: Sequence[str]) -> Refusal | None:
        try:
            self._write_api.write(
                bucket=self._bucket,
                org=self._org,
                record="\n".join(lines).encode(),
                write_precision=_NS,
            )
        except ApiException as exc:
            if exc.status is None:
                raise network_error(self.name, exc) from exc
            headers: Mapping[str, str] = exc.headers or {}
            return judge(self.name, int(exc.status), str(exc.message), headers)
        except (InfluxDBError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise network_error(self.name, exc) from exc
        return None

    def close(self) -> None:
        self._write_api.close()  # type: ignore[no-untyped-call]  # untyped in influxdb-client
        self._client.close()  # type: ignore[no-untyped-call]
