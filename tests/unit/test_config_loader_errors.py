"""Files the YAML library chokes on are refused with a ConfigError, naming the line when it is
known, never with another exception out of the loader, where `hazgw config check` used to end
in a traceback. tests/fuzz/fuzz_config.py found bytes that are not UTF-8 (UnicodeDecodeError)
and a list inside a complex key (TypeError); probing ruamel around them found a value its type
cannot hold (ValueError, IndexError) and a few hundred nested brackets (RecursionError)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.modbus.profile import DEFAULT_PROFILES_DIR, load_profile, parse_profile
from gateway.config import load_config, parse_config
from gateway.errors import ConfigError, ConfigIssue

ROOT = Path(__file__).resolve().parents[2]
DEMO = (ROOT / "config" / "demo.yaml").read_text("utf-8")
# A Chinese zone name saved as GBK by an editor that does not default to UTF-8.
GBK_LINE = "zones:\n  - {id: kitchen, name: 厨房, owner: wang.wei}\n".encode("gbk")


def refused(load: Callable[[Path], object], path: Path) -> ConfigIssue:
    with pytest.raises(ConfigError) as info:
        load(path)
    [issue] = info.value.issues
    return issue


def test_a_config_saved_as_gbk_is_refused_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "hazgw.yaml"
    path.write_bytes(b"site: {id: s1}\n# comment\n" + GBK_LINE)
    issue = refused(load_config, path)
    assert issue.file == str(path)
    assert issue.line == 4  # the line holding the first byte that is not UTF-8
    assert "UTF-8" in issue.message


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hazgw.yaml"
    path.write_bytes(bytes(range(255, -1, -1)))  # 0xFF first
    assert refused(load_config, path).line == 1


def test_a_profile_saved_as_gbk_is_refused_naming_its_line(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_PROFILES_DIR / "xy-md02.yaml", tmp_path / "dev.yaml")
    with (tmp_path / "dev.yaml").open("ab") as f:
        f.write("# 温湿度变送器\n".encode("gbk"))
    lines = (tmp_path / "dev.yaml").read_bytes().count(b"\n")
    issue = refused(lambda directory: load_profile("dev", directory), tmp_path)
    assert issue.line == lines  # the comment appended last
    assert "UTF-8" in issue.message


def test_a_file_with_windows_line_ends_loads_as_with_unix_ones(tmp_path: Path) -> None:
    unix, windows = tmp_path / "unix.yaml", tmp_path / "windows.yaml"
    unix.write_bytes(DEMO.encode())
    windows.write_bytes(DEMO.replace("\n", "\r\n").encode())
    assert load_config(windows) == load_config(unix)


MARKED = [  # (text, line of the bad node, words of the message)
    ("site: {id: s1}\nsince: 2024-02-30\n", 2, "'2024-02-30': day is out of range"),
    ("since: 2001-12-14t21:59:43.10-99:00\n", 1, "offset"),
    ("site:\n  id: !!int one\n", 2, "'one'"),
    ("site:\n  id: s1\n  port: 0x_\n", 3, "'0x_'"),
    ("site:\n  ? {x: [1]}\n  : 2\n", 2, "unhashable"),
]


@pytest.mark.parametrize(("text", "line", "words"), MARKED)
@pytest.mark.parametrize("parse", [parse_config, parse_profile], ids=["config", "profile"])
def test_a_value_its_type_cannot_hold_is_refused_naming_its_line(
    parse: Callable[[str, str], object], text: str, line: int, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text, "f.yaml")
    [issue] = info.value.issues
    assert (issue.line, issue.key) == (line, "")
    assert "not valid YAML" in issue.message
    assert words in issue.message


@pytest.mark.parametrize(
    "text",
    [
        "site: " + "[" * 300 + "]" * 300 + "\n",
        "{a: " * 300 + "}" * 300 + "\n",
        "".join(" " * i + "a:\n" for i in range(400)),
        "? [a, [b]]\n: c\n",  # a complex key of the document itself: no line to name
    ],
    ids=["brackets", "braces", "indentation", "top-level complex key"],
)
@pytest.mark.parametrize("parse", [parse_config, parse_profile], ids=["config", "profile"])
def test_a_document_the_library_cannot_build_is_refused(
    parse: Callable[[str, str], object], text: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text, "f.yaml")
    assert "not valid YAML" in info.value.issues[0].message
