"""JSON text for stored attribute maps (one serializer for every store so text search matches alike)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import orjson


def _default(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    return str(obj)


def dumps(value: Mapping[str, Any] | list[Any]) -> str:
    """Compact JSON; non-finite floats become strings (JSON has no NaN/Infinity)."""
    try:
        return orjson.dumps(value, default=_default).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(_finite(value), default=_default, ensure_ascii=False, separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def loads(text: str | None) -> Any:
    return orjson.loads(text) if text else {}
