#!/usr/bin/env bash
# Set up and pass the tests: the Debian servers the integration tests start, the venv, then
# ruff, mypy and pytest. Extra args go to pytest.
source "$(dirname "$0")/lib.sh"
# openssl makes test certificates; systemd-analyze checks the shipped unit; useradd serves the
# install-script test. Each is installed only when its command is missing.
apt_need mosquitto:mosquitto mosquitto-clients:mosquitto_pub influxdb:influxd \
  victoria-metrics:victoria-metrics openssl:openssl systemd:systemd-analyze passwd:useradd
ensure_venv dev
cd "$ROOT"
# The Debian packages may start their own services; ours run on free ports and never need them.
echo "== ruff";  "$VENV/bin/ruff" check . && "$VENV/bin/ruff" format --check .
echo "== mypy";  "$VENV/bin/mypy"
echo "== pytest"
set +e
"$VENV/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; exit 1; fi
exit "$rc"
