"""YAML documents read with ruamel's round-trip loader: plain data for pydantic, and the line of
any key path, so every config and profile error can name its line. Part of the kernel: drivers
load their own profiles with it."""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq


def plain(node: Any) -> Any:
    """ruamel's commented containers to plain dicts and lists (pydantic wants plain data)."""
    if isinstance(node, CommentedMap):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [plain(v) for v in node]
    return node


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
