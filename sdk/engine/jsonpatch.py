"""The subset of RFC 6902 JSON Patch the run log needs: ``add``, ``replace`` and ``remove`` (``-`` appends), and
``make_patch``, the ops that turn one JSON value into another (minimal for the usual growth of a streamed
output: new keys are added, changed values replaced at their own path, appended list items added)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

__all__ = ["apply_patch", "make_patch"]


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer must start with '/': {path!r}.")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _apply_one(doc: Any, op: dict[str, Any]) -> Any:
    kind = op["op"]
    if kind not in ("add", "replace", "remove"):
        raise ValueError(f"Unsupported JSON Patch op {kind!r}.")
    value = copy.deepcopy(op.get("value"))
    tokens = _tokens(op["path"])
    if not tokens:
        return value
    target = doc
    for token in tokens[:-1]:
        target = target[int(token)] if isinstance(target, list) else target[token]
    last = tokens[-1]
    if kind == "remove":
        del target[int(last) if isinstance(target, list) else last]
        return doc
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


def _pointer(path: str, key: Any) -> str:
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def make_patch(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """Ops that turn ``old`` into ``new`` (``[]`` when equal)."""
    if type(old) is type(new) and isinstance(old, dict):
        ops: list[dict[str, Any]] = [
            {"op": "remove", "path": _pointer(path, key)} for key in old if key not in new
        ]
        for key, value in new.items():
            if key not in old:
                ops.append({"op": "add", "path": _pointer(path, key), "value": value})
            elif old[key] != value or type(old[key]) is not type(value):
                ops.extend(make_patch(old[key], value, _pointer(path, key)))
        return ops
    if type(old) is type(new) and isinstance(old, list):
        ops = []
        common = min(len(old), len(new))
        for index in range(common):
            if old[index] != new[index] or type(old[index]) is not type(new[index]):
                ops.extend(make_patch(old[index], new[index], f"{path}/{index}"))
        ops.extend({"op": "add", "path": f"{path}/{i}", "value": new[i]} for i in range(common, len(new)))
        ops.extend({"op": "remove", "path": f"{path}/{i}"} for i in range(len(old) - 1, common - 1, -1))
        return ops
    if old == new and type(old) is type(new):
        return []
    return [{"op": "replace", "path": path, "value": new}]
