"""Plain words on every page: money below a cent, plurals, ok/error, attribute values with units."""

from __future__ import annotations

import pytest

from streamscope.dashboard.attribute_format import attribute_value, plain_number
from streamscope.dashboard.formatting import money, plural, status_word


@pytest.mark.parametrize(
    "usd,text",
    [
        (None, "–"),
        (0, "$0"),
        (1.234, "$1.23"),
        (0.01, "$0.01"),
        (0.0042, "$0.0042"),
        (0.00012, "$0.00012"),
        (0.000042, "$0.000042"),
        (1e-9, "< $0.0000001"),
        (1234.5, "$1,234.50"),
    ],
)
def test_money_shows_costs_below_a_cent(usd: float | None, text: str) -> None:
    assert money(usd) == text


def test_plurals_and_status_words() -> None:
    assert plural(1, "stream") == "1 stream" and plural(0, "stream") == "0 streams"
    assert plural(2500, "chunk") == "2,500 chunks" and plural(None, "step") == "0 steps"
    assert status_word("unset") == "ok" and status_word("ok") == "ok" and status_word("ERROR") == "error"
    assert status_word(None) == "ok"


@pytest.mark.parametrize(
    "key,value,text",
    [
        ("streamscope.stream.gap_p95", 0.12494888100000001, "125 ms"),
        ("streamscope.stream.time_to_first_token", 1.5, "1.50 s"),
        ("gen_ai.usage.output_tokens", 12000, "12,000"),
        ("gen_ai.request.temperature", 0.12494888100000001, "0.1249"),
        ("streamscope.stream.output_tokens_per_second", 41.23456, "41.23 /s"),
        ("streamscope.cost_usd", 0.00031, "$0.00031"),
        ("gen_ai.request.stream", True, "true"),
        ("gen_ai.response.finish_reasons", ("stop", "length"), "stop\nlength"),
        ("x.list", [], "(empty list)"),
        ("x.json", '{"a": 1}', '{\n  "a": 1\n}'),
        ("x.text", "<b>", "<b>"),
        ("x.none", None, "–"),
    ],
)
def test_attribute_values_read_well(key: str, value: object, text: str) -> None:
    assert attribute_value(key, value) == text


def test_plain_number_rounding() -> None:
    assert (
        plain_number(3.0) == "3" and plain_number(12345.678) == "12,345.7" and plain_number(2e-6) == "2e-06"
    )
