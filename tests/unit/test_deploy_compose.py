"""The compose stack, checked statically (Docker cannot run here and the compose plugin is not
installed): the file parses, every service the issue names is there, every named volume is
declared, every bind-mounted file and build input exists, the services find what their configs
point at, and every variable it needs is in .env.example."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gateway.config import parse_config
from gateway.grafana.provisioning import DASHBOARDS_PATH

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE: dict[str, Any] = YAML(typ="safe").load((COMPOSE_DIR / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def mounts(service: str) -> list[tuple[str, str]]:
    """(source, target) of each volume entry, the `:ro` suffix dropped."""
    out = []
    for entry in SERVICES[service].get("volumes", []):
        source, target, *_ = entry.split(":")
        out.append((source, target))
    return out


def test_the_stack_has_the_broker_database_boards_and_gateway() -> None:
    assert {"mosquitto", "influxdb", "grafana", "gateway"} <= set(SERVICES)


def test_every_named_volume_is_declared_and_used() -> None:
    named = {s for svc in SERVICES for s, _ in mounts(svc) if not s.startswith((".", "/"))}
    assert named == set(COMPOSE["volumes"])


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_bind_mounted_file_exists(service: str) -> None:
    missing = [
        s for s, _ in mounts(service) if s.startswith(".") and not (COMPOSE_DIR / s).exists()
    ]
    assert missing == []


def test_every_build_input_exists() -> None:
    for svc in SERVICES.values():
        build = svc.get("build")
        if build is None:
            continue
        context = COMPOSE_DIR / build["context"]
        dockerfile = (context / build["dockerfile"]).read_text()
        assert re.search(rf"^FROM \S+ AS {build['target']}$", dockerfile, re.M)
        for line in re.findall(r"^COPY (.+)$", dockerfile, re.M):
            for source in line.split()[:-1]:
                assert (context / source).exists(), source


def test_the_broker_gets_the_shipped_config_acl_passwords_and_certificates() -> None:
    targets = {t: s for s, t in mounts("mosquitto")}
    assert targets["/mosquitto/config/mosquitto.conf"] == "../mosquitto/mosquitto.conf"
    assert targets["/mosquitto/config/acl"] == "../mosquitto/acl"
    conf = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    for path in re.findall(r"^\w+ (/mosquitto/\S+)$", conf, re.M):
        parent = path if path.endswith("/") else path.rsplit("/", 1)[0]
        assert any(path.startswith(t) or parent.rstrip("/") == t for t in targets), path
    init = (COMPOSE_DIR / "init.sh").read_text()
    assert "/auth/passwd" in init  # mosquitto-auth is /mosquitto/config in the broker
    assert "/certs/server.crt" in init
    assert "server.key" in init


def test_grafana_reads_the_provisioning_and_the_boards_where_the_provider_says() -> None:
    targets = {t: s for s, t in mounts("grafana")}
    assert targets["/etc/grafana/provisioning"] == "../grafana/provisioning"
    assert targets[DASHBOARDS_PATH] == "../grafana/dashboards"
    env = SERVICES["grafana"]["environment"]
    assert {"HAZGW_INFLUX_URL", "HAZGW_INFLUX_DATABASE", "HAZGW_INFLUX_TOKEN"} <= set(env)


def test_influxdb_is_initialised_with_bucket_token_and_the_dbrp_mapping() -> None:
    env = SERVICES["influxdb"]["environment"]
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert "DOCKER_INFLUXDB_INIT_BUCKET" in env
    assert "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN" in env
    script = (COMPOSE_DIR / "influxdb" / "10-dbrp.sh").read_text()
    assert "influx v1 dbrp create" in script
    assert "/docker-entrypoint-initdb.d/10-dbrp.sh" in {t for _, t in mounts("influxdb")}


def test_the_gateway_config_template_loads_once_init_fills_in_the_token() -> None:
    template = (COMPOSE_DIR / "gateway" / "config.yaml").read_text()
    assert "@HAZGW_INFLUX_TOKEN@" in template
    cfg = parse_config(template.replace("@HAZGW_INFLUX_TOKEN@", "t0ken"), "compose config")
    assert cfg.influxdb is not None
    assert cfg.influxdb.url == "http://influxdb:8086"
    assert str(cfg.state_dir) == "/var/lib/hazard-gateway"
    assert ("gateway-state", "/var/lib/hazard-gateway") in mounts("gateway")


def test_every_required_variable_is_in_the_env_example() -> None:
    text = (COMPOSE_DIR / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = (COMPOSE_DIR / ".env.example").read_text()
    given = set(re.findall(r"^(\w+)=", example, re.M))
    assert required <= given
    up = (COMPOSE_DIR / "up.sh").read_text()
    assert required <= set(re.findall(r'echo "(\w+)=', up))


@pytest.mark.parametrize("script", ["up.sh", "init.sh", "influxdb/10-dbrp.sh"])
def test_the_shell_scripts_parse(script: str) -> None:
    shell = "bash" if script == "up.sh" else "sh"
    result = subprocess.run(
        [shell, "-n", str(COMPOSE_DIR / script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
