"""Provisioning: edit the device list of a config file in place, safely.

The file is edited with ruamel.yaml round-trip, so comments, key order and flow style of what is
not touched stay as they were. The WHOLE resulting text is checked with the daemon's own loader
(`load_config` on a temp file beside the original, so relative paths resolve the same, then
`check_drivers`) before it replaces the file: nothing the daemon would refuse is ever written.
Then the running daemon is told to reload (SIGHUP) when its pid can be found.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken

from gateway.config import HazgwConfig, load_config
from gateway.driver_factory import check_drivers
from gateway.errors import ConfigError, ConfigIssue
from gateway.yamldoc import load, read_text

PID_FILE_NAME = "hazgw.pid"  # in state_dir, written by the daemon at start (see the report)
SERVICE = "hazard-gateway"
OUT_OF_SERVICE_MARK = "out of service"
# Key order of a new entry: the order of config/example.yaml.
DEVICE_KEYS = (
    "id", "name", "driver", "zone", "class", "location", "channel", "address", "profile", "point",
    "topic", "enabled", "last_tested", "test_every_days", "last_calibrated", "calibrate_every_days",
    "thresholds",
)  # fmt: skip


class ProvisionError(Exception):
    """A request that names something that is not there (no such device, a duplicate id)."""


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line somebody wrote
    yaml.indent(mapping=2, sequence=4, offset=2)  # the style of config/example.yaml
    yaml.brace_single_entry_mapping_in_flow_sequence = True  # keep [{type: log}] as written
    yaml.representer.add_representer(
        type(None), lambda r, _d: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def load_root(path: Path) -> CommentedMap:
    """The config file as an editable round-trip tree; a file the loader cannot read (not UTF-8,
    a date that does not exist, nesting too deep) is a ConfigError at its line."""
    text = read_text(path)
    load(text, str(path))
    try:
        root = _yaml().load(text)
    except YAMLError as exc:
        raise ConfigError([ConfigIssue(str(path), "", None, f"cannot read: {exc}")]) from exc
    if not isinstance(root, CommentedMap):
        raise ConfigError([ConfigIssue(str(path), "", 1, "the file must be a YAML mapping")])
    return root


def render(root: CommentedMap) -> str:
    buf = io.StringIO()
    _yaml().dump(root, buf)
    return buf.getvalue()


def parse_value(text: str) -> Any:
    """A command-line value read as YAML: 30 -> 30, null -> None, true -> True, [a] -> list."""
    try:
        return _yaml().load(text)
    except YAMLError:
        return text


# --- edits on the tree ----------------------------------------------------------------------


def devices_of(root: CommentedMap) -> CommentedSeq:
    devices = root.get("devices")
    if devices is None:
        devices = root["devices"] = CommentedSeq()
    if not isinstance(devices, CommentedSeq):
        raise ProvisionError("`devices` in the config is not a list")
    return devices


def find_device(root: CommentedMap, device_id: str) -> CommentedMap:
    for entry in devices_of(root):
        if isinstance(entry, CommentedMap) and entry.get("id") == device_id:
            return entry
    known = ", ".join(str(e.get("id")) for e in devices_of(root) if isinstance(e, CommentedMap))
    raise ProvisionError(f"no device {device_id!r} in the config (known: {known or 'none'})")


def add_device(root: CommentedMap, fields: Mapping[str, Any]) -> None:
    """Append a device; keys in the example's order, empty values left out."""
    if any(e.get("id") == fields["id"] for e in devices_of(root) if isinstance(e, CommentedMap)):
        raise ProvisionError(f"device {fields['id']!r} already exists; use `hazgw device edit`")
    entry = CommentedMap()
    for key in DEVICE_KEYS:
        value = fields.get(key)
        if value not in (None, "", {}):
            entry[key] = value
    for key, value in fields.items():  # anything else given: let the loader judge it
        if key not in entry and value not in (None, "", {}):
            entry[key] = value
    devices_of(root).append(entry)


def remove_device(root: CommentedMap, device_id: str) -> None:
    devices = devices_of(root)
    at = devices.index(find_device(root, device_id))
    if at == len(devices) - 1 and at > 0:
        _carry_trailing(devices, at, at - 1)
    del devices[at]


def _tail_slot(seq: CommentedSeq, i: int) -> tuple[list[Any], int]:
    """Where ruamel keeps the comment that ends item i (and the blank lines after it): on the
    deepest last key of a block mapping, or on the sequence for a flow-style item."""
    node = seq[i]
    if not isinstance(node, CommentedMap) or node.fa.flow_style() or not node:
        return seq.ca.items.setdefault(i, [None, None, None, None]), 0
    while True:
        key = list(node)[-1]
        value = node[key]
        if isinstance(value, CommentedMap) and value and not value.fa.flow_style():
            node = value
            continue
        return node.ca.items.setdefault(key, [None, None, None, None]), 2


def _carry_trailing(seq: CommentedSeq, src: int, dst: int) -> None:
    """Removing the last item must not take the blank lines and comments after it along."""
    slot, k = _tail_slot(seq, src)
    token = slot[k]
    value = str(token.value) if token is not None else ""
    extra = value.split("\n", 1)[1] if "\n" in value else ""
    if not extra:
        return
    dslot, dk = _tail_slot(seq, dst)
    if dslot[dk] is None:
        dslot[dk] = CommentToken("\n" + extra, CommentMark(0), None)
    else:
        dslot[dk].value = str(dslot[dk].value) + extra


def set_dotted(entry: CommentedMap, key: str, value: Any) -> None:
    """Set `a.b.c` inside a device entry, creating mappings on the way; None removes a leaf
    that is not there yet rather than writing `null` (the loader's default is the same)."""
    parts = key.split(".")
    node = entry
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = CommentedMap()
        if not isinstance(child, CommentedMap):
            raise ProvisionError(f"{key}: {part} is not a mapping")
        node = child
    node[parts[-1]] = value


def set_enabled(entry: CommentedMap, enabled: bool, note: str = "") -> None:
    """Switch a device in or out of service; `note` becomes the comment on `enabled`
    (why and who), and a previous out-of-service comment goes when it is back."""
    if "enabled" in entry:
        entry["enabled"] = enabled
    else:
        at = list(entry).index("thresholds") if "thresholds" in entry else len(entry)
        entry.insert(at, "enabled", enabled)
    if note:
        entry.yaml_add_eol_comment(note, "enabled")
    elif _comment_of(entry, "enabled").startswith(f"# {OUT_OF_SERVICE_MARK}"):
        entry.ca.items.pop("enabled", None)


def _comment_of(entry: CommentedMap, key: str) -> str:
    tokens = entry.ca.items.get(key)
    if not tokens or len(tokens) < 3 or tokens[2] is None:
        return ""
    return str(tokens[2].value).strip()


# --- checked, atomic write ------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    cfg: HazgwConfig  # the configuration now in the file, as the daemon will load it
    changed: bool


def apply(path: Path, edit: Callable[[CommentedMap], None]) -> Written:
    """Load, edit, check the whole result with the daemon's loader, then replace atomically.

    Raises ConfigError (the daemon would refuse it: the file is left untouched) or
    ProvisionError (the edit names something that is not there)."""
    root = load_root(path)
    before = path.read_text(encoding="utf-8")
    edit(root)
    text = render(root)
    tmp = _temp_beside(path, text)
    try:
        cfg = load_config(tmp)
        check_drivers(cfg)
        if text != before:
            _keep_mode(path, tmp)
            tmp.replace(path)
            _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return Written(cfg, text != before)


def issues_for(path: Path, exc: ConfigError) -> list[ConfigIssue]:
    """The loader names the temp file it checked: name the real one instead."""
    return [
        ConfigIssue(str(path), i.key, i.line, i.message) if i.file != str(path) else i
        for i in exc.issues
    ]


def _temp_beside(path: Path, text: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    return Path(name)


def _keep_mode(path: Path, tmp: Path) -> None:
    with contextlib.suppress(OSError):
        st = path.stat()
        os.chmod(tmp, st.st_mode & 0o7777)
        with contextlib.suppress(PermissionError):
            os.chown(tmp, st.st_uid, st.st_gid)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- telling the daemon ---------------------------------------------------------------------


@dataclass(frozen=True)
class Reload:
    pid: int | None  # the daemon signalled, or None
    message: str  # what happened, or what to do


def reload_daemon(state_dir: Path, pid_file: Path | None = None) -> Reload:
    """SIGHUP to the daemon found through `pid_file` (or state_dir/hazgw.pid); otherwise the
    hint to reload it by hand. A pid whose process is not a hazgw is never signalled."""
    path = pid_file or state_dir / PID_FILE_NAME
    hint = f"reload the running gateway with: systemctl reload {SERVICE}"
    try:
        pid = int(path.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return Reload(None, f"no daemon pid file at {path}; {hint}")
    if not _is_hazgw(pid):
        return Reload(None, f"pid {pid} in {path} is not a running hazgw (stale file?); {hint}")
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        return Reload(None, f"cannot signal pid {pid}: {exc}; {hint}")
    return Reload(pid, f"told the gateway (pid {pid}) to reload")


def _is_hazgw(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"hazgw" in cmdline or b"gateway" in cmdline
