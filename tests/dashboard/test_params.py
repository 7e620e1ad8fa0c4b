"""Query-parameter parsing (pure): what is accepted and how shareable links are rebuilt."""

from __future__ import annotations

import pytest

from streamscope.dashboard import params
from streamscope.dashboard.errors import BadParameter

ALL = (
    "service",
    "model",
    "outcome",
    "status",
    "q",
    "min_duration",
    "max_duration",
    "min_ttft",
    "session",
    "user",
    "range",
    "since",
    "until",
    "cursor",
    "limit",
    "bucket",
)


def test_empty_values_mean_no_filter_and_defaults_apply() -> None:
    """Empty form fields are ignored; the default range is resolved against now."""
    f = params.filters({"service": [""], "outcome": ["error"]}, allowed=ALL, default_range="1h", now=10_000.0)
    assert f.service is None and f.outcome == "error" and f.range == "1h" and f.since == 10_000.0 - 3600
    assert f.limit == 50 and not f.limit_given


def test_as_query_round_trips_the_filter_state() -> None:
    """The link built from parsed filters parses back to the same filters."""
    raw = {"service": ["chat api"], "min_duration": ["1.5"], "limit": ["7"], "range": ["6h"], "q": ["<x>"]}
    f = params.filters(raw, allowed=ALL, now=1000.0)
    query = f.as_query(cursor="5_ab")
    again = params.filters({k: [v] for k, v in query.items()}, allowed=ALL, now=1000.0)
    assert again == params.Filters(**{**f.__dict__, "cursor": "5_ab"})


@pytest.mark.parametrize("raw", ["0" * 32, "ABCDEF0123456789" * 2])
def test_trace_ids_are_lowercased(raw: str) -> None:
    """Hex ids of the right length are accepted in any case and normalised."""
    assert params.trace_id(raw) == raw.lower()


@pytest.mark.parametrize("raw", ["", "0" * 31, "0" * 32 + "\n", " " + "0" * 31, "０" * 32])
def test_trace_ids_reject_near_misses(raw: str) -> None:
    """Trailing newlines, spaces and full-width digits are not hex."""
    with pytest.raises(BadParameter):
        params.trace_id(raw)
