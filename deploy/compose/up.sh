#!/usr/bin/env bash
# Bring the stack up in one command. The first time, writes .env with random secrets (shown once
# below: keep them in your password manager).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -e .env ]; then
  secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
  umask 077
  {
    echo "HAZGW_MQTT_PASSWORD=$(secret)"
    echo "ZIGBEE2MQTT_MQTT_PASSWORD=$(secret)"
    echo "HAZGW_INFLUX_TOKEN=$(secret)$(secret)"
    echo "INFLUXDB_ADMIN_PASSWORD=$(secret)"
    echo "GRAFANA_ADMIN_PASSWORD=$(secret)"
  } > .env
  echo "wrote $(pwd)/.env:"; cat .env
fi
docker compose up -d --build "$@"
echo "Grafana: http://localhost:3000 (admin / GRAFANA_ADMIN_PASSWORD from .env)"
