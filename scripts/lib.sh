# Shared by scripts/demo.sh and scripts/test.sh: install what is missing, nothing more.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HAZGW_VENV:-$ROOT/.venv}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_update_once() {
  [ -n "${_APT_UPDATED:-}" ] && return 0
  local i
  for i in 1 2 3 4 5; do
    if as_root apt-get update -qq; then _APT_UPDATED=1; return 0; fi
    echo "apt-get update failed (try $i), retrying in $((i * 5)) s" >&2
    sleep $((i * 5))
  done
  echo "apt-get update kept failing" >&2
  return 1
}

# apt_need PACKAGE[:COMMAND] ...: install the packages whose command (or package) is missing.
apt_need() {
  local missing=() spec pkg cmd
  for spec in "$@"; do
    pkg="${spec%%:*}"; cmd="${spec#*:}"
    if [ "$cmd" != "$spec" ]; then command -v "$cmd" >/dev/null 2>&1 && continue
    else dpkg -s "$pkg" >/dev/null 2>&1 && continue; fi
    missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || { echo "missing: ${missing[*]} (no apt-get here: install them by hand)" >&2; return 1; }
  apt_update_once
  echo "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

ensure_venv() {  # ensure_venv [EXTRAS]
  local extras="${1:-}"
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then apt_need python3-venv; fi
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT${extras:+[$extras]}"
}
