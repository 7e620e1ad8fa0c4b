"""Timing distributions for the compare page: two samples on shared histogram bins, with their percentiles.

Pure functions. Bins are log-spaced between the smallest and largest positive value of both samples together, so
a 40 ms and a 4 s TTFT both get resolution and the two sides are drawn on the same axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

BINS = 24
#: ``DataSource.percentile``: the sides' percentiles are computed as the data source computes its own
Percentile = Callable[[Sequence[float], float], "float | None"]


@dataclass(frozen=True)
class Side:
    """One sample on the shared bins: counts per bin, and its percentiles (seconds)."""

    counts: list[int]
    n: int
    p50: float | None
    p95: float | None
    p99: float | None

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)


@dataclass(frozen=True)
class Pair:
    """Two samples of one metric on shared bins (``edges`` has one more entry than each side's counts)."""

    edges: list[float]
    a: Side
    b: Side

    @property
    def peak(self) -> int:
        return max(self.a.peak, self.b.peak, 1)


def _clean(values: Iterable[float | None]) -> list[float]:
    return sorted(
        v for v in values if v is not None and isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
    )


def _side(xs: Sequence[float], edges: Sequence[float], percentile: Percentile) -> Side:
    counts = [0] * (len(edges) - 1)
    for x in xs:
        i = 0
        if len(edges) > 2 and x > edges[0]:
            # log-spaced: find the bin by position, then clamp
            lo, hi = math.log(edges[0]), math.log(edges[-1])
            i = int((math.log(x) - lo) / (hi - lo) * (len(edges) - 1)) if hi > lo else 0
        counts[min(max(i, 0), len(counts) - 1)] += 1
    return Side(
        counts=counts, n=len(xs), p50=percentile(xs, 50), p95=percentile(xs, 95), p99=percentile(xs, 99)
    )


def pair(
    a: Iterable[float | None], b: Iterable[float | None], percentile: Percentile, bins: int = BINS
) -> Pair:
    """Histogram both samples on the same log-spaced bins, with their percentiles by ``percentile``."""
    xa, xb = _clean(a), _clean(b)
    positive = [x for x in (*xa, *xb) if x > 0]
    if not positive:
        edges = [0.0, 1.0]
    else:
        lo, hi = min(positive), max(positive)
        if hi <= lo:
            hi = lo * 1.001 + 1e-9
        edges = [lo * (hi / lo) ** (i / bins) for i in range(bins + 1)]
    return Pair(edges=edges, a=_side(xa, edges, percentile), b=_side(xb, edges, percentile))
