#!/usr/bin/env bash
# Set up and run the demo: simulated sensors, local storage, no servers. Extra args go to `hazgw demo`.
source "$(dirname "$0")/lib.sh"
ensure_venv
exec "$VENV/bin/hazgw" demo "$@"
