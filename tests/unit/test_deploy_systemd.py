"""The systemd unit: systemd's own checker accepts it without a warning, its exposure score stays
low, and it says what the deployment promises (notify + watchdog, restart, a dedicated user in
dialout, state and config directories, credentials, hardening, a device allow-list).

`systemd-analyze verify` refuses a unit whose ExecStart binary does not exist, and the venv of
/opt/hazard-gateway is not installed here: the check runs on a copy whose ExecStart points at a
stand-in executable in a temporary directory, every other line as shipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "hazard-gateway.service"
INSTALLED_HAZGW = "/opt/hazard-gateway/.venv/bin/hazgw"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def directives(text: str) -> dict[str, list[str]]:
    """Key -> every value it is given (systemd keys repeat: DeviceAllow, LoadCredential...)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def checkable_copy(tmp_path: Path, text: str) -> Path:
    stand_in = tmp_path / "bin" / "hazgw"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    assert INSTALLED_HAZGW in text
    unit = tmp_path / "hazard-gateway.service"
    unit.write_text(text.replace(INSTALLED_HAZGW, str(stand_in)))
    return unit


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, timeout=60, check=False)


@needs_analyze
def test_systemd_analyze_verify_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    unit = checkable_copy(tmp_path, UNIT.read_text(encoding="utf-8"))
    result = analyze("verify", str(unit))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""
    assert result.stdout.strip() == ""


@needs_analyze
def test_verify_would_catch_a_misspelt_directive(tmp_path: Path) -> None:
    text = UNIT.read_text(encoding="utf-8").replace("ProtectSystem=", "ProtectSytem=")
    result = analyze("verify", str(checkable_copy(tmp_path, text)))
    assert "Unknown key 'ProtectSytem'" in result.stderr


@needs_analyze
def test_the_exposure_score_is_low(tmp_path: Path) -> None:
    unit = checkable_copy(tmp_path, UNIT.read_text(encoding="utf-8"))
    result = analyze("security", "--offline=yes", "--no-pager", str(unit))
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert score is not None, result.stdout + result.stderr
    assert float(score.group(1)) <= 2.0  # systemd rates up to 3.9 "OK", 10 "UNSAFE"


def test_the_unit_says_what_the_deployment_promises() -> None:
    d = directives(UNIT.read_text(encoding="utf-8"))
    expected = {
        "Type": "notify",
        "Restart": "on-failure",
        "User": "hazgw",
        "SupplementaryGroups": "dialout",
        "StateDirectory": "hazard-gateway",
        "ConfigurationDirectory": "hazard-gateway",
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "DevicePolicy": "closed",
    }
    assert {k: d.get(k, [""])[-1] for k in expected} == expected
    assert int(d["WatchdogSec"][0]) > 0
    assert d["ExecStart"] == [f"{INSTALLED_HAZGW} run --config /etc/hazard-gateway/config.yaml"]
    credentials = {c.split(":", 1)[0] for c in d["LoadCredential"]}
    assert {"influxdb-token", "mqtt-password"} <= credentials
    allowed = {a.split()[0] for a in d["DeviceAllow"]}
    assert {"char-ttyUSB", "char-ttyACM", "char-ttyAMA"} <= allowed


def test_install_script_and_unit_agree_on_paths() -> None:
    script = (ROOT / "deploy" / "install-pi.sh").read_text(encoding="utf-8")
    assert "/opt/hazard-gateway" in script
    assert 'OPT/.venv"' in script
    for secret in ("influxdb-token", "mqtt-password"):
        assert f"/etc/hazard-gateway/credentials/{secret}" in UNIT.read_text(encoding="utf-8")
        assert secret in script
