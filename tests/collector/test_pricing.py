"""Cost estimates from a price table: exact names, the longest prefix, and what the prefix matches remember."""

from __future__ import annotations

import pytest

from streamscope.collector import pricing
from streamscope.collector.pricing import DEFAULT_PRICES, estimate_cost


def test_a_dated_model_name_takes_the_longest_key_it_starts_with() -> None:
    for _ in range(2):  # the second time from what the first remembered
        assert estimate_cost(DEFAULT_PRICES, "gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
        assert estimate_cost(DEFAULT_PRICES, "gpt-4o-2024-08-06", 1_000_000, 0) == pytest.approx(2.50)
        assert estimate_cost(DEFAULT_PRICES, "no-such-model-2025", 10, 10) is None
    assert estimate_cost(DEFAULT_PRICES, "gpt-4o-mini-2024-07-18", None, None) is None


def test_each_table_prices_the_same_name_its_own_way() -> None:
    cheap = {"gpt-4o": {"input": 1.0, "output": 1.0}}
    dear = {"gpt-4o": {"input": 9.0, "output": 9.0}, "gpt-4o-mini": {"input": 5.0, "output": 5.0}}
    for _ in range(2):
        assert estimate_cost(cheap, "gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(1.0)
        assert estimate_cost(dear, "gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(5.0)
        assert estimate_cost(DEFAULT_PRICES, "gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)


def test_a_new_model_name_per_span_is_priced_without_growing_memory() -> None:
    table = {"m": {"input": 2.0, "output": 0.0}}
    for i in range(pricing.MAX_MATCHES + 500):
        assert estimate_cost(table, f"m-{i}", 1_000_000, 0) == pytest.approx(2.0)
    assert len(pricing._matches[id(table)][1]) == pricing.MAX_MATCHES
