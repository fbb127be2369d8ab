"""YAML documents read with ruamel's round-trip loader: plain data for pydantic, and the line of
any key path, so every config and profile error can name its line. Part of the kernel: drivers
load their own profiles with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import ScalarNode

from gateway.errors import ConfigError, ConfigIssue

MAX_NODES = 200_000  # far beyond any real config; an alias bomb expands to billions


class DocumentTooLargeError(ValueError):
    """The document expands to more nodes than any config has (aliases nested on aliases)."""


def read_text(path: Path) -> str:
    """A YAML file's text; unreadable or not UTF-8 (a binary file, a GBK save from an editor)
    is a ConfigError naming the line, never a UnicodeDecodeError out of the loader."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), "", None, f"cannot read: {exc}")]) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problem = f"not UTF-8 text ({exc.reason} at byte {exc.start}): save the file as UTF-8"
        raise ConfigError([ConfigIssue(str(path), "", line, problem)]) from exc


class _Constructor(RoundTripConstructor):
    """ruamel's round-trip constructor with its unmarked failures marked with the node's line:
    a scalar its tag cannot hold (2024-02-30, `!!int x`, 0x_) raises ValueError or IndexError,
    a list nested inside a complex key (`? {x: [1]}`) TypeError."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, IndexError, ArithmeticError) as exc:
            value = f"{node.value[:40]!r}: " if isinstance(node, ScalarNode) else ""
            raise ConstructorError(None, None, f"{value}{exc}", node.start_mark) from exc


def load(text: str, file: str) -> Any:
    """The round-trip tree of a YAML text, or ConfigError naming the line when it is known.

    ruamel raises more than YAMLError on odd text (tests/unit/test_config_loader_errors.py):
    RecursionError for a few hundred nested brackets, and the errors _Constructor marks.
    """
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    try:
        return yaml.load(text)
    except YAMLError as exc:  # marked (syntax, values) or not (a control character refused)
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        _refuse(file, mark.line + 1 if mark is not None else None, problem, exc)
    except RecursionError as exc:
        _refuse(file, None, "nested deeper than the loader can follow", exc)
    except Exception as exc:  # a library bug on odd text: still a file we cannot use
        _refuse(file, None, f"{type(exc).__name__}: {exc}", exc)


def _refuse(file: str, line: int | None, problem: str, exc: Exception) -> NoReturn:
    raise ConfigError([ConfigIssue(file, "", line, f"not valid YAML: {problem}")]) from exc


def plain(node: Any, limit: int = MAX_NODES) -> Any:
    """ruamel's commented containers to plain dicts and lists (pydantic wants plain data).

    Aliases are expanded, so the node count is bounded: a few hundred bytes of nested aliases
    ("billion laughs") must be refused, not expanded until memory runs out.
    """
    budget = [limit]

    def walk(n: Any) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise DocumentTooLargeError(
                f"the document expands to more than {limit} values (nested aliases?)"
            )
        if isinstance(n, CommentedMap):
            return {str(k): walk(v) for k, v in n.items()}
        if isinstance(n, CommentedSeq):
            return [walk(v) for v in n]
        return n

    return walk(node)


def line_of(root: Any, path: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the deepest node of `path` that exists in the document."""
    node, line = root, None
    for part in path:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line
