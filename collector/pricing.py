"""Estimated cost in USD from a model price table (an estimate, never a bill). Users can override the table.

Prices are USD per 1M tokens: ``{"model": {"input": x, "output": y}}``. A model matches its exact name or,
failing that, the longest table key it starts with (``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

Prices = Mapping[str, Mapping[str, float]]

DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "gpt-4o": {"input": 2.50, "output": 10.00},
    "gpt-4o-mini": {"input": 0.15, "output": 0.60},
    "gpt-4.1": {"input": 2.00, "output": 8.00},
    "gpt-4.1-mini": {"input": 0.40, "output": 1.60},
    "gpt-4.1-nano": {"input": 0.10, "output": 0.40},
    "gpt-3.5-turbo": {"input": 0.50, "output": 1.50},
    "o3-mini": {"input": 1.10, "output": 4.40},
    "claude-3-5-sonnet": {"input": 3.00, "output": 15.00},
    "claude-3-5-haiku": {"input": 0.80, "output": 4.00},
    "claude-sonnet-4": {"input": 3.00, "output": 15.00},
    "claude-opus-4": {"input": 15.00, "output": 75.00},
    "gemini-1.5-flash": {"input": 0.075, "output": 0.30},
    "gemini-1.5-pro": {"input": 1.25, "output": 5.00},
}


def load_prices(path: str | Path, base: Prices | None = None) -> dict[str, dict[str, float]]:
    """Read a JSON price table and lay it over ``base`` (default: the built-in table)."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError("a price table must be a JSON object mapping model names to {input, output}.")
    table = {k: dict(v) for k, v in (base if base is not None else DEFAULT_PRICES).items()}
    for model, p in data.items():
        if not isinstance(p, dict) or not all(
            isinstance(p.get(k, 0), (int, float)) and math.isfinite(p.get(k, 0)) and p.get(k, 0) >= 0
            for k in ("input", "output")
        ):
            raise ValueError(f"price for {model!r} must be {{'input': USD per 1M, 'output': USD per 1M}}.")
        table[str(model)] = {"input": float(p.get("input", 0)), "output": float(p.get("output", 0))}
    return table


def estimate_cost(
    prices: Prices, model: str, input_tokens: int | None, output_tokens: int | None
) -> float | None:
    if not model or (input_tokens is None and output_tokens is None):
        return None
    p = prices.get(model)
    if p is None:
        p = _by_prefix(prices, model)
        if p is None:
            return None
    return ((input_tokens or 0) * p.get("input", 0.0) + (output_tokens or 0) * p.get("output", 0.0)) / 1e6


MAX_MATCHES = 4096  # names whose prefix match a table remembers (a new name per span grows nothing more)
_matches: dict[int, tuple[Prices, dict[str, Mapping[str, float] | None]]] = {}


def _by_prefix(prices: Prices, model: str) -> Mapping[str, float] | None:
    """The price of the longest key ``model`` starts with, remembered per table (by identity: a table is loaded
    once and never changed): a dated name (``gpt-4o-mini-2024-07-18``) is on every stream of its app, and
    scanning every key for each one was ~4 % of a collector's CPU per chunk span."""
    entry = _matches.get(id(prices))
    if entry is None or entry[0] is not prices:
        if len(_matches) >= 64:  # tables made and dropped (tests): start again
            _matches.clear()
        entry = _matches[id(prices)] = (prices, {})
    known = entry[1]
    if model in known:
        return known[model]
    keys = [k for k in prices if model.startswith(k)]
    p = prices[max(keys, key=len)] if keys else None
    if len(known) < MAX_MATCHES:
        known[model] = p
    return p
