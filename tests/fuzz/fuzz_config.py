"""The config loader on arbitrary file contents: what `hazgw config check` does with a file.

Input: the bytes of a config file. It is written to a file and read by `load_config` (so a file
that is not UTF-8 is part of the surface), then every driver is built as at start-up.
Contract: a config comes back, or ConfigError with a message; no other exception, no hang
(libFuzzer's -timeout) and no unbounded memory (its -rss_limit_mb).
Seeds: config/example.yaml, config/demo.yaml, and each top-level section of the example on the
demo's site, people and zones, so mutations start from every part of the real schema.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["gateway", "drivers", "ruamel"]):
    from gateway.config import load_config
    from gateway.driver_factory import check_drivers
    from gateway.errors import ConfigError

from tests.fuzz.harness import fuzz

ROOT = Path(__file__).resolve().parents[2]
FILE = Path(tempfile.mkdtemp(prefix="hazgw-fuzz-config-")) / "hazgw.yaml"
YAML_TOKENS = [
    *("---\n", "...\n", "%YAML 1.1\n", "? ", ": ", "- ", "&a ", "*a", "<<: ", "|\n", ">-\n"),
    *("!!int ", "!!float ", "!!str ", "!!bool ", "!!null ", "!!timestamp ", "!!binary ", "!!set "),
    *("!!omap ", "!!pairs ", "!!map ", "!!seq ", "!<tag:yaml.org,2002:int> ", "!local "),
    *("2001-12-14 21:59:43.10 -5", "2024-02-30", "0x1F", "0o17", "0b101", "1_000", "190:20:30"),
    *(".inf", "-.inf", ".nan", "~", "null", "yes", "Off", "1e999", "'", '"', "\t", "#"),
]
ODDITIES = [
    "site: &s {id: a}\ngateway: *s\n",
    "--- \nsite: {id: a}\n...\n---\nsite: {id: b}\n",
    "\ufeffsite: !!str {id: a}\n",
    "site:\n\tid: a\n",
    "site: {id: a, id: b}\n",
    "? [a, b]\n: c\n",
]


def sections(text: str) -> dict[str, str]:
    """The example's top-level blocks by key (a key line and everything up to the next one)."""
    starts = [(m.start(), m[1]) for m in re.finditer(r"^([a-z_]+):", text, re.MULTILINE)]
    ends = [s for s, _ in starts[1:]] + [len(text)]
    return {key: text[s:e] for (s, key), e in zip(starts, ends, strict=True)}


def seeds() -> list[bytes]:
    example = (ROOT / "config" / "example.yaml").read_text("utf-8")
    demo = (ROOT / "config" / "demo.yaml").read_text("utf-8")
    head = "".join(v for k, v in sections(demo).items() if k in {"site", "people", "zones"})
    parts = [head + block for key, block in sections(example).items() if key != "site"]
    return [t.encode() for t in (example, demo, *parts, *ODDITIES)]


def dictionary() -> list[bytes]:
    """YAML's syntax and tags, and every key and type name the example config uses."""
    example = (ROOT / "config" / "example.yaml").read_text("utf-8")
    keys = set(re.findall(r"([a-z][a-z0-9_]*):", example))
    names = set(re.findall(r"(?:type|family|class|kind): ([a-z][a-z0-9_-]*)", example))
    return [t.encode() for t in (*YAML_TOKENS, *sorted(keys), *sorted(names))]


def one_input(data: bytes) -> None:
    FILE.write_bytes(data)
    try:
        check_drivers(load_config(FILE))
    except ConfigError as exc:
        message = str(exc)
    else:
        return
    assert message, "a ConfigError that says nothing"


if __name__ == "__main__":
    fuzz(one_input, seeds(), dictionary())
