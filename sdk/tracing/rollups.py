"""Stream rollups: pure functions from chunk arrival times and kinds to the numbers on the LLM span.

Every timing starts at the stream's start (the monotonic clock reading taken when the model run started) and
is reported in seconds. A timing that never happened is absent (``None``), never zero. Percentiles use linear
interpolation between closest ranks (numpy's default), over the gaps between consecutive chunks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Chunk kinds. Plain ints so that the hot path stores a small constant; names are for the wire.
ROLE, CONTENT, REASONING, TOOL_CALL, USAGE, EMPTY = range(6)
KIND_NAMES = ("role", "content", "reasoning", "tool_call", "usage", "empty")

DEFAULT_STALL_THRESHOLD = 2.0
_NS = 1e-9


@dataclass(frozen=True)
class Rollups:
    """What one stream's chunks add up to. Times in seconds; ``None`` means "never happened"."""

    chunk_count: int
    time_to_first_byte: float | None
    time_to_first_chunk: float | None
    time_to_first_token: float | None
    time_to_first_tool_call: float | None
    time_to_first_reasoning_token: float | None
    gap_p50: float | None
    gap_p95: float | None
    gap_max: float | None
    stall_count: int
    stall_threshold: float
    output_tokens_per_second: float | None
    first_token_ns: int | None
    last_chunk_ns: int | None


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, linearly interpolated."""
    if not sorted_values:
        raise ValueError("percentile of an empty sequence is undefined")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def compute(
    start_ns: int,
    times_ns: Sequence[int],
    kinds: Sequence[int],
    *,
    first_byte_ns: int | None = None,
    stall_threshold: float = DEFAULT_STALL_THRESHOLD,
    output_tokens: int | None = None,
) -> Rollups:
    """Roll up one stream. ``times_ns`` are monotonic arrival times on the same clock as ``start_ns``."""
    n = len(times_ns)
    firsts: dict[int, int] = {}
    for t, k in zip(times_ns, kinds, strict=True):
        if k not in firsts:
            firsts[k] = t
            if len(firsts) == len(KIND_NAMES):
                break

    def since_start(t: int | None) -> float | None:
        return None if t is None else max(0, t - start_ns) * _NS

    gaps = sorted((times_ns[i] - times_ns[i - 1]) * _NS for i in range(1, n))
    threshold_ns = stall_threshold / _NS
    stalls = sum(1 for i in range(1, n) if times_ns[i] - times_ns[i - 1] > threshold_ns)
    first_token = firsts.get(CONTENT)
    last = times_ns[-1] if n else None
    rate = None
    if output_tokens and first_token is not None and last is not None and last > first_token:
        rate = output_tokens / ((last - first_token) * _NS)
    return Rollups(
        chunk_count=n,
        time_to_first_byte=since_start(first_byte_ns),
        time_to_first_chunk=since_start(times_ns[0]) if n else None,
        time_to_first_token=since_start(first_token),
        time_to_first_tool_call=since_start(firsts.get(TOOL_CALL)),
        time_to_first_reasoning_token=since_start(firsts.get(REASONING)),
        gap_p50=percentile(gaps, 50) if gaps else None,
        gap_p95=percentile(gaps, 95) if gaps else None,
        gap_max=gaps[-1] if gaps else None,
        stall_count=stalls,
        stall_threshold=stall_threshold,
        output_tokens_per_second=rate,
        first_token_ns=first_token,
        last_chunk_ns=last,
    )


def estimate_tokens(text_chars: int) -> int:
    """A character-based token estimate (about four characters per token), used when nobody counted."""
    return (text_chars + 3) // 4
