#!/usr/bin/env bash
# Install hazard-gateway on Raspberry Pi OS (bookworm, arm64) or Debian 12, from this source tree.
# Safe to run twice: it creates what is missing, replaces the code and the unit, and never
# overwrites your config or credentials. Run as root:  sudo bash deploy/install-pi.sh
#
#   user hazgw (system, no login, groups hazgw + dialout)
#   /opt/hazard-gateway/.venv            the daemon and the hazgw command (pip install of this tree)
#   /etc/hazard-gateway/config.yaml      from config/example.yaml, only if absent
#   /etc/hazard-gateway/credentials/     root-only secrets handed over by systemd LoadCredential
#   /var/lib/hazard-gateway              state: ledger.sqlite, outbox.sqlite
#   /etc/systemd/system/hazard-gateway.service, /etc/udev/rules.d/99-hazard-gateway.rules
#   /usr/local/bin/hazgw                 a link to the venv's command
#
# Environment (for tests and images): HAZGW_ROOT installs under another root directory (no apt,
# no systemctl, users added with useradd --prefix); HAZGW_SKIP_APT=1; HAZGW_PIP_SPEC is what pip
# installs (default: this source tree) and HAZGW_PIP_ARGS adds pip options: an offline install
# from a wheelhouse is HAZGW_PIP_SPEC=hazard-gateway HAZGW_PIP_ARGS="--no-index --find-links DIR".
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${HAZGW_ROOT:-/}"
ROOT="${ROOT%/}"
PREFIX_OPT=()
[ -n "$ROOT" ] && PREFIX_OPT=(--prefix "$ROOT")
USER_NAME=hazgw
OPT="$ROOT/opt/hazard-gateway"
ETC="$ROOT/etc/hazard-gateway"
STATE="$ROOT/var/lib/hazard-gateway"
UNIT_DIR="$ROOT/etc/systemd/system"
UDEV_DIR="$ROOT/etc/udev/rules.d"
PYTHON="${HAZGW_PYTHON:-python3}"

say() { printf '== %s\n' "$*"; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "run as root: sudo bash $0" >&2
    exit 1
  fi
}

install_packages() {
  if [ -n "$ROOT" ] || [ "${HAZGW_SKIP_APT:-}" = 1 ]; then return 0; fi
  local missing=()
  for pkg in python3-venv python3-pip sqlite3; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

ensure_user() {
  if ! grep -q "^${USER_NAME}:" "$ROOT/etc/group"; then
    say "creating group $USER_NAME"
    groupadd "${PREFIX_OPT[@]}" --system "$USER_NAME"
  fi
  if ! grep -q "^${USER_NAME}:" "$ROOT/etc/passwd"; then
    say "creating user $USER_NAME (in dialout for the serial ports)"
    useradd "${PREFIX_OPT[@]}" --system --gid "$USER_NAME" --groups dialout \
      --home-dir /var/lib/hazard-gateway --no-create-home --shell /usr/sbin/nologin \
      --comment "hazard-gateway daemon" "$USER_NAME"
  elif ! grep -q "^dialout:.*[:,]${USER_NAME}\(,\|$\)" "$ROOT/etc/group"; then
    usermod "${PREFIX_OPT[@]}" --append --groups dialout "$USER_NAME"
  fi
}

id_of() {  # id_of passwd|group NAME -> numeric id inside ROOT
  awk -F: -v n="$2" '$1 == n { print $3 }' "$ROOT/etc/$1"
}

install_code() {
  say "installing the gateway into $OPT/.venv"
  install -d -m 0755 "$OPT"
  [ -x "$OPT/.venv/bin/python" ] || "$PYTHON" -m venv "$OPT/.venv"
  # shellcheck disable=SC2086 # HAZGW_PIP_ARGS is a list of options
  "$OPT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    ${HAZGW_PIP_ARGS:-} --upgrade "${HAZGW_PIP_SPEC:-$SRC}"
  install -d -m 0755 "$OPT/docs"
  install -m 0644 "$SRC/docs/deploy.md" "$SRC/docs/schema.md" "$OPT/docs/"
  install -m 0644 "$SRC/README.md" "$OPT/README.md"
  install -d -m 0755 "$ROOT/usr/local/bin"
  ln -sfn /opt/hazard-gateway/.venv/bin/hazgw "$ROOT/usr/local/bin/hazgw"
}

install_config() {
  local uid gid
  uid="$(id_of passwd "$USER_NAME")"
  gid="$(id_of group "$USER_NAME")"
  install -d -m 0750 -o 0 -g "$gid" "$ETC"
  if [ ! -e "$ETC/config.yaml" ]; then
    say "writing $ETC/config.yaml from config/example.yaml: edit it, then hazgw config check"
    install -m 0640 -o 0 -g "$gid" "$SRC/config/example.yaml" "$ETC/config.yaml"
  fi
  install -d -m 0700 -o 0 -g 0 "$ETC/credentials"
  for secret in influxdb-token mqtt-password; do
    # LoadCredential= needs the file; an empty one means "not used".
    [ -e "$ETC/credentials/$secret" ] || install -m 0600 -o 0 -g 0 /dev/null "$ETC/credentials/$secret"
  done
  install -d -m 0750 -o "$uid" -g "$gid" "$STATE"
}

install_units() {
  install -d -m 0755 "$UNIT_DIR" "$UDEV_DIR"
  install -m 0644 "$SRC/deploy/systemd/hazard-gateway.service" "$UNIT_DIR/hazard-gateway.service"
  if [ ! -e "$UDEV_DIR/99-hazard-gateway.rules" ]; then
    install -m 0644 "$SRC/deploy/udev/99-hazard-gateway.rules" "$UDEV_DIR/99-hazard-gateway.rules"
  fi
}

activate() {
  if [ -n "$ROOT" ] || [ ! -d /run/systemd/system ]; then
    say "not under a running systemd here: enable it with systemctl enable --now hazard-gateway"
    return 0
  fi
  udevadm control --reload-rules && udevadm trigger --subsystem-match=tty || true
  systemctl daemon-reload
  systemctl enable hazard-gateway.service >/dev/null
  if "$OPT/.venv/bin/hazgw" config check "$ETC/config.yaml"; then
    systemctl restart hazard-gateway.service
    say "running: systemctl status hazard-gateway; journalctl -u hazard-gateway -f"
  else
    say "fix $ETC/config.yaml, then: systemctl restart hazard-gateway"
  fi
}

need_root
install_packages
ensure_user
install_code
install_config
install_units
activate
say "done"
