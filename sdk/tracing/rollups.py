"""Stream rollups: pure functions from chunk arrival times and kinds to the numbers on the LLM span.

Every timing starts at the stream's start (the monotonic clock reading taken when the model run started) and
is reported in seconds. A timing that never happened is absent (``None``), never zero. Percentiles use linear
interpolation between closest ranks (numpy's default), over the gaps between consecutive chunks.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from operator import sub

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

    def first_of(kind: int) -> int | None:
        try:
            return times_ns[kinds.index(kind)]
        except ValueError:
            return None

    def since_start(t: int | None) -> float | None:
        return None if t is None else max(0, t - start_ns) * _NS

    # Gaps in ns, sorted; only the few values reported are converted to seconds, each exactly as
    # ``(t[i] - t[i-1]) * 1e-9`` would be (scaling by a positive constant keeps the order).
    diffs = sorted(map(sub, islice(times_ns, 1, None), times_ns))
    stalls = len(diffs) - bisect_right(diffs, stall_threshold / _NS)
    first_token = first_of(CONTENT)
    last = times_ns[-1] if n else None
    rate = None
    if output_tokens and first_token is not None and last is not None and last > first_token:
        rate = output_tokens / ((last - first_token) * _NS)
    return Rollups(
        chunk_count=n,
        time_to_first_byte=since_start(first_byte_ns),
        time_to_first_chunk=since_start(times_ns[0]) if n else None,
        time_to_first_token=since_start(first_token),
        time_to_first_tool_call=since_start(first_of(TOOL_CALL)),
        time_to_first_reasoning_token=since_start(first_of(REASONING)),
        gap_p50=_scaled_percentile(diffs, 50) if diffs else None,
        gap_p95=_scaled_percentile(diffs, 95) if diffs else None,
        gap_max=diffs[-1] * _NS if diffs else None,
        stall_count=stalls,
        stall_threshold=stall_threshold,
        output_tokens_per_second=rate,
        first_token_ns=first_token,
        last_chunk_ns=last,
    )


def _scaled_percentile(sorted_ns: Sequence[int], q: float) -> float:
    """:func:`percentile` of ``[v * 1e-9 for v in sorted_ns]``, converting only the two values it needs."""
    pos = (len(sorted_ns) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_ns) - 1)
    low = sorted_ns[lo] * _NS
    return low + (sorted_ns[hi] * _NS - low) * (pos - lo)


def estimate_tokens(text_chars: int) -> int:
    """A character-based token estimate (about four characters per token), used when nobody counted."""
    return (text_chars + 3) // 4
