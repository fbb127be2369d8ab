"""YAML documents read with ruamel's round-trip loader: plain data for pydantic, and the line of
any key path, so every config and profile error can name its line. Part of the kernel: drivers
load their own profiles with it."""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

MAX_NODES = 200_000  # far beyond any real config; an alias bomb expands to billions


class DocumentTooLargeError(ValueError):
    """The document expands to more nodes than any config has (aliases nested on aliases)."""


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
