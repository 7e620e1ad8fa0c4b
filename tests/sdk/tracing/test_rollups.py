"""Rollup maths: TTFT flavours, gaps, stalls, tokens/s; absent timings are None, never 0."""

from __future__ import annotations

import pytest

from streamscope.tracing.rollups import CONTENT, EMPTY, REASONING, ROLE, TOOL_CALL, USAGE, compute, percentile

MS = 1_000_000


def test_role_only_first_chunk_is_not_the_first_token() -> None:
    r = compute(0, [100 * MS, 300 * MS, 350 * MS], [ROLE, CONTENT, CONTENT])
    assert r.time_to_first_chunk == pytest.approx(0.1)
    assert r.time_to_first_token == pytest.approx(0.3)
    assert r.time_to_first_tool_call is None
    assert r.time_to_first_reasoning_token is None


def test_gaps_percentiles_and_stalls() -> None:
    times = [0, 10 * MS, 20 * MS, 30 * MS, 3030 * MS, 3040 * MS]
    r = compute(0, times, [CONTENT] * 6, stall_threshold=2.0)
    assert r.chunk_count == 6
    assert r.gap_max == pytest.approx(3.0)
    assert r.gap_p50 == pytest.approx(0.010)
    assert r.stall_count == 1
    assert compute(0, times, [CONTENT] * 6, stall_threshold=5.0).stall_count == 0


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_tokens_per_second_from_first_content_token_to_last_chunk() -> None:
    r = compute(0, [1 * MS, 100 * MS, 600 * MS, 1100 * MS], [ROLE, CONTENT, CONTENT, USAGE], output_tokens=20)
    assert r.output_tokens_per_second == pytest.approx(20 / 1.0)


def test_tool_only_stream_has_no_ttft_and_no_rate() -> None:
    r = compute(0, [5 * MS, 6 * MS], [TOOL_CALL, TOOL_CALL], output_tokens=4)
    assert r.time_to_first_tool_call == pytest.approx(0.005)
    assert r.time_to_first_token is None
    assert r.output_tokens_per_second is None


def test_empty_stream_and_first_byte() -> None:
    r = compute(10 * MS, [], [], first_byte_ns=60 * MS)
    assert r.chunk_count == 0
    assert r.time_to_first_chunk is None
    assert r.gap_p50 is None and r.gap_max is None
    assert r.time_to_first_byte == pytest.approx(0.05)


def test_reasoning_flavour() -> None:
    r = compute(0, [1 * MS, 2 * MS, 3 * MS], [EMPTY, REASONING, CONTENT])
    assert r.time_to_first_reasoning_token == pytest.approx(0.002)
    assert r.time_to_first_token == pytest.approx(0.003)
