"""Secrets never reach the log or an error message.

The daemon runs as a real process at DEBUG level with a password, token or key in every place a
config can hold one: the mqtt driver's password (refused by a real broker with a password file),
the notify mqtt channel's and the commands service's passwords (refused there too), the InfluxDB
token (v2) or password (v1) towards a closed port, the webhook secret towards a closed port and an
apprise URL carrying a token towards a closed port. A simulated heat alarm from the start makes
every channel try and fail. The whole output of start, failures and stop is searched for each
secret. `hazgw config check` with a wrong value beside each secret is searched the same way.

`hazgw config show` is checked in tests/security/test_config_secrets.py.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.servers import MosquittoServer, free_port, require_binary, start_mosquitto

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "mqtt driver password": "drvPw-9Q2xLr7Kp",
    "notify mqtt password": "notePw-3HsV8mZt",
    "commands password": "cmdPw-Ty6Rn2UeW",
    "influxdb token or password": "inflTok-Vb72nQwE",
    "webhook secret": "hookSecret-Zr81pLmQx4Tn",
    "apprise token": "apprTok-K3d9WqJ",
}
DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoServer]:
    """A broker that knows the three users, each with a password other than the config's."""
    d = tmp_path_factory.mktemp("secret-broker")
    passwd = d / "passwd"
    passwd.touch()
    tool = require_binary("mosquitto_passwd", "mosquitto")
    for user in ("sensors", "notifier", "hazgw"):
        subprocess.run([tool, "-b", str(passwd), user, "the-right-one"], check=True)
    running = start_mosquitto(d, [f"password_file {passwd}", "allow_anonymous false"])
    yield running.server
    running.stop()


def config_text(state: Path, broker: MosquittoServer, influx_version: int) -> str:
    closed = free_port()  # nothing listens here: every remote channel fails to connect
    s = SECRETS
    influx = (
        f"influxdb: {{version: 2, url: 'http://127.0.0.1:{closed}', org: o, bucket: b, "
        f"token: '{s['influxdb token or password']}'}}"
        if influx_version == 2
        else f"influxdb: {{version: 1, url: 'http://127.0.0.1:{closed}', database: d, "
        f"username: admin, password: '{s['influxdb token or password']}'}}"
    )
    return f"""\
site: {{id: test}}
gateway: {{id: gw01}}
state_dir: {state}
log_level: DEBUG
people: [{{id: p1, name: Person}}]
zones: [{{id: kitchen, name: Kitchen, owner: p1}}]
drivers:
  - {{type: sim, id: sim, period_s: 0.1}}
  - {{type: mqtt, id: broker, port: {broker.port}, client_id: secret-test, username: sensors,
     password: '{s["mqtt driver password"]}', reconnect_min_s: 0.2, reconnect_max_s: 0.5,
     subscriptions: [{{family: json, topic: 'sensors/+', fields: {{gas: $.g}}}}]}}
detection: {{tick_s: 0.1}}
escalation: {{levels: [{{name: duty, recipients: [p1]}}], repeat_s: 1}}
{influx}
notify:
  grouping: {{wait_s: 0, window_s: 0.5}}
  channels:
    - {{type: log}}
    - {{type: mqtt, port: {broker.port}, username: notifier,
       password: '{s["notify mqtt password"]}', timeout_s: 1,
       retry: {{give_up_after_s: 0.5}}}}
    - {{type: webhook, url: 'http://127.0.0.1:{closed}/hook', secret: '{s["webhook secret"]}',
       timeout_s: 1, retry: {{initial_s: 0.1, max_s: 0.2, give_up_after_s: 0.5}}}}
    - {{type: apprise, urls: ['json://bot:{s["apprise token"]}@127.0.0.1:{closed}/hook'],
       timeout_s: 1, retry: {{give_up_after_s: 0.5}}}}
commands: {{enabled: true, port: {broker.port}, username: hazgw,
  password: '{s["commands password"]}'}}
devices:
  - {{id: kitchen-temp-1, driver: sim, zone: kitchen, class: temperature,
     channel: kitchen_temp, thresholds: {{level1: 20, level2: 1000}}}}
  - {{id: kitchen-gas-9, driver: broker, zone: kitchen, class: combustible_gas,
     topic: sensors/kitchen-gas-9, point: gas}}
"""


def leaked(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


def wait_for(proc: subprocess.Popen[str], log: Path, patterns: list[str]) -> str:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        text = log.read_text(errors="replace")
        missing = [p for p in patterns if not re.search(p, text, re.I)]
        if not missing:
            return text
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"never logged {missing}:\n{text}")
        time.sleep(0.1)


@pytest.mark.parametrize("influx_version", [1, 2])
def test_a_run_with_every_channel_failing_logs_no_secret(
    tmp_path: Path, broker: MosquittoServer, influx_version: int
) -> None:
    config, log = tmp_path / "site.yaml", tmp_path / "gateway.log"
    config.write_text(config_text(tmp_path / "state", broker, influx_version))
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", "--config", str(config)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    try:
        # Every secret-bearing part has been tried and has failed at least once.
        wait_for(proc, log, [
            "hazgw ready", r"drivers\.mqtt: .*not authorized", r"commands.*not authorized",
            r"apprise.*error", r"forwarder.*failed", r"connect_tcp\.failed", r"\(reminder 3\)",
        ])  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        proc.kill()
    output = log.read_text(errors="replace")
    assert "stopped cleanly" in output
    assert leaked(output) == [], output
    for db in ("ledger.sqlite", "outbox.sqlite"):  # delivery failures are recorded: no secret
        raw = (tmp_path / "state" / db).read_bytes().decode("latin-1")
        assert leaked(raw) == [], db


def config_check(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "config", "check", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        ("timeout_s: 1, retry", "timeout_s: soon, retry"),  # the webhook's, beside its secret
        ("username: sensors,", "username: [sensors],"),  # beside the driver's password
        ("repeat_s: 1}", "repeat_s: -1}"),  # far from any secret
        ("commands: {enabled: true,", "commands: {enabled: maybe,"),
    ],
)
def test_config_check_errors_quote_no_secret(
    tmp_path: Path, broker: MosquittoServer, wrong: str, right: str
) -> None:
    text = config_text(tmp_path / "state", broker, 1)
    assert wrong in text
    path = tmp_path / "site.yaml"
    path.write_text(text.replace(wrong, right, 1))
    assert leaked(config_check(path)) == []


@pytest.mark.parametrize(
    "secret_key",
    ["secret: 'hookSecret", "password: 'drvPw", "password: 'inflTok", "password: 'cmdPw"],
)
def test_a_secret_of_the_wrong_shape_is_refused_without_quoting_it(
    tmp_path: Path, broker: MosquittoServer, secret_key: str
) -> None:
    """The secret itself is the bad value: a list instead of a string."""
    text = config_text(tmp_path / "state", broker, 1)
    start = text.index(secret_key) + len(secret_key.split("'", maxsplit=1)[0])
    end = text.index("'", start + 1) + 1
    path = tmp_path / "site.yaml"
    path.write_text(text[:start] + "[" + text[start:end] + ", 1]" + text[end:])
    assert leaked(config_check(path)) == []
