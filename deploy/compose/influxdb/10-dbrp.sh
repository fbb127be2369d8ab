#!/bin/sh
# Runs once, when the influxdb:2 image sets itself up: map the bucket to an InfluxQL database of
# the same name (DBRP), so the Grafana boards' InfluxQL works on InfluxDB 2 as on 1.x.
set -eu
influx v1 dbrp create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
  --db "${DOCKER_INFLUXDB_INIT_BUCKET}" \
  --rp autogen \
  --default
