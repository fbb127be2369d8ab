"""deploy/install-pi.sh is safe to run twice: run against a temporary root directory (HAZGW_ROOT:
users are added with `useradd --prefix` to that root's /etc/passwd, nothing under the real /etc
is touched and no service is started), it installs the user, venv, config, credentials, state
directory, unit and udev rules, and a second run changes nothing a person set up.

The venv really is created and this source tree, built once into a wheelhouse, really is
pip-installed into it the way an offline Pi would (`--no-index --find-links`, `--no-deps`: the
dependencies are the project's own business, tested elsewhere; this keeps the run short).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "install-pi.sh"
Snapshot = dict[str, tuple[int, int, int, str]]  # path -> mode, uid, gid, content or link


def fresh_root(tmp: Path) -> Path:
    """A root directory with the accounts a Raspberry Pi OS image starts with."""
    etc = tmp / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\ndialout:x:20:pi\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (etc / "gshadow").write_text("root:*::\ndialout:*::pi\n")
    for f in ("shadow", "gshadow"):
        (etc / f).chmod(0o600)
    return tmp


def build_wheel(wheelhouse: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheelhouse),
         str(ROOT)],
        check=True, timeout=300,
    )  # fmt: skip


def install(root: Path, wheelhouse: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HAZGW_ROOT": str(root),
        "HAZGW_PIP_SPEC": "hazard-gateway",
        "HAZGW_PIP_ARGS": f"--no-deps --no-index --find-links {wheelhouse}",
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def snapshot(root: Path) -> Snapshot:
    """Everything installed outside the venv (whose pip metadata is rewritten on reinstall)."""
    out: Snapshot = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if rel.startswith("opt/hazard-gateway/.venv"):
            continue
        st = path.lstat()
        if path.is_symlink():
            body = "-> " + os.readlink(path)
        elif path.is_file():
            body = path.read_text(errors="replace")
        else:
            body = ""
        out[rel] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, body)
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Snapshot, Snapshot]:
    assert shutil.which("useradd"), "the install script needs useradd (Debian package passwd)"
    root = fresh_root(tmp_path_factory.mktemp("pi-root"))
    wheelhouse = tmp_path_factory.mktemp("wheelhouse")
    build_wheel(wheelhouse)
    first = install(root, wheelhouse)
    assert first.returncode == 0, first.stderr
    before = snapshot(root)
    (root / "etc/hazard-gateway/config.yaml").write_text("# edited by the site engineer\n")
    (root / "etc/hazard-gateway/credentials/influxdb-token").write_text("s3cret")
    second = install(root, wheelhouse)
    assert second.returncode == 0, second.stderr
    return root, before, snapshot(root)


def test_the_user_exists_once_in_its_group_and_in_dialout(
    installed: tuple[Path, Snapshot, Snapshot],
) -> None:
    root, _, _ = installed
    passwd = (root / "etc/passwd").read_text().splitlines()
    group = {line.split(":")[0]: line for line in (root / "etc/group").read_text().splitlines()}
    hazgw = [line for line in passwd if line.startswith("hazgw:")]
    assert len(hazgw) == 1
    assert hazgw[0].endswith(":/var/lib/hazard-gateway:/usr/sbin/nologin")
    assert group["dialout"].split(":")[3].split(",") == ["pi", "hazgw"]
    assert "hazgw" in group
    assert "hazgw:" not in Path("/etc/passwd").read_text()  # the real system is untouched


def test_the_second_run_changes_nothing_but_keeps_what_people_edited(
    installed: tuple[Path, Snapshot, Snapshot],
) -> None:
    _, before, after = installed
    edited = {"etc/hazard-gateway/config.yaml", "etc/hazard-gateway/credentials/influxdb-token"}
    assert set(before) == set(after)
    assert {k for k in before if before[k] != after[k]} == edited
    assert after["etc/hazard-gateway/config.yaml"][3] == "# edited by the site engineer\n"
    assert after["etc/hazard-gateway/credentials/influxdb-token"][3] == "s3cret"


def test_config_credentials_and_state_have_owners_and_modes(
    installed: tuple[Path, Snapshot, Snapshot],
) -> None:
    root, before, _ = installed
    uid = int(next(ln for ln in (root / "etc/passwd").read_text().splitlines()
                   if ln.startswith("hazgw:")).split(":")[2])  # fmt: skip
    assert before["etc/hazard-gateway/config.yaml"][3] == (ROOT / "config/example.yaml").read_text()
    assert before["etc/hazard-gateway/config.yaml"][:2] == (0o640, 0)
    assert before["etc/hazard-gateway/credentials"][:3] == (0o700, 0, 0)
    assert before["etc/hazard-gateway/credentials/influxdb-token"][:2] == (0o600, 0)
    assert before["var/lib/hazard-gateway"][:2] == (0o750, uid)


def test_the_unit_udev_rules_and_command_are_installed(
    installed: tuple[Path, Snapshot, Snapshot],
) -> None:
    root, before, _ = installed
    unit = (ROOT / "deploy/systemd/hazard-gateway.service").read_text()
    assert before["etc/systemd/system/hazard-gateway.service"][3] == unit
    assert "etc/udev/rules.d/99-hazard-gateway.rules" in before
    assert before["usr/local/bin/hazgw"][3] == "-> /opt/hazard-gateway/.venv/bin/hazgw"
    hazgw = root / "opt/hazard-gateway/.venv/bin/hazgw"
    assert os.access(hazgw, os.X_OK)
    assert "gateway.cli" in hazgw.read_text()
