"""The subset of RFC 6902 JSON Patch the run log needs: ``add`` and ``replace`` (with ``-`` to append)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

__all__ = ["apply_patch"]


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer must start with '/': {path!r}.")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _apply_one(doc: Any, op: dict[str, Any]) -> Any:
    kind = op["op"]
    if kind not in ("add", "replace"):
        raise ValueError(f"Unsupported JSON Patch op {kind!r}.")
    value = copy.deepcopy(op["value"])
    tokens = _tokens(op["path"])
    if not tokens:
        return value
    target = doc
    for token in tokens[:-1]:
        target = target[int(token)] if isinstance(target, list) else target[token]
    last = tokens[-1]
    if isinstance(target, list):
        if last == "-":
            target.append(value)
        elif kind == "add":
            target.insert(int(last), value)
        else:
            target[int(last)] = value
    else:
        target[last] = value
    return doc


def apply_patch(doc: Any, ops: Iterable[dict[str, Any]]) -> Any:
    """Apply ``ops`` to ``doc`` in place where possible; returns the new document."""
    for op in ops:
        doc = _apply_one(doc, op)
    return doc
