"""One metric of an aggregate: count, sum, exact min and max, and a log-spaced histogram that merges exactly.

Histogram error: a positive value ``x`` falls in bin ``k = ceil(ln x / ln g)`` with ``g = (1 + a) / (1 - a)``
and is represented by ``2 g**k / (g + 1)``, which is within a relative error ``a`` (:data:`RELATIVE_ERROR`,
1 %) of every value in the bin. Negative values use mirrored bins, zero is counted exactly. Percentiles use
the same closest-rank linear interpolation as :func:`streamscope.collector.query.percentile`, with the exact
min and max at the first and last rank and every other rank's value taken from its bin (clamped to
[min, max]); so a percentile from aggregates is within 1 % (relative) of the one computed from raw values,
counts, sums, means, min and max are exact (sums up to float rounding), and groups of one or two values are
exact.

Positive bins are packed as 32-bit counters ("lanes") into one Python integer starting at the lowest bin
seen, so merging two histograms is one shift and one integer addition in C, not a loop over bins. A lane
holds up to 2**32 - 1, so one merged histogram takes at most that many values (an ``OverflowError`` beyond).

A metric merges through one method, :meth:`Metric.merge`; stored rows are decoded into metrics first.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate

from streamscope.collector.results import Summary

RELATIVE_ERROR = 0.01
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LN_GAMMA = math.log(GAMMA)
_INV_LN_GAMMA = 1.0 / _LN_GAMMA
_KMAX = 40_000  # |ln x| / ln g for every finite double is below this
_REP = 2.0 / (GAMMA + 1.0)
#: Histogram value range: a value whose magnitude is below LOW_VALUE counts in the zero bin, one above HIGH_VALUE in
#: the bin of HIGH_VALUE (its exact value still goes into count, sum, min and max). This bounds a histogram to
#: MAX_BINS bins per sign whatever the values (5e-324 and 1e300 spread one over ~70,000 bins).
LOW_VALUE = 1e-6
HIGH_VALUE = 1e7
MAX_BINS = math.ceil(math.log(HIGH_VALUE / LOW_VALUE) / math.log(GAMMA)) + 2

LANE_BITS = 32
_LANE_MAX = (1 << LANE_BITS) - 1


def _k(x: float) -> int:
    """Bin index of a positive value."""
    return max(-_KMAX, min(_KMAX, math.ceil(math.log(x) * _INV_LN_GAMMA)))


def _rep(k: int) -> float:
    return _REP * math.exp(k * _LN_GAMMA)


def _kb(ax: float) -> int:
    """Bin index of a magnitude within the histogram's range (``ax >= LOW_VALUE``)."""
    return _k(ax if ax <= HIGH_VALUE else HIGH_VALUE)


def bin_of(x: float) -> int:
    """One integer per bin, ordered like the values it holds (0 is the bin of zero)."""
    if x > 0.0:
        return _k(x) + _KMAX + 1
    if x < 0.0:
        return -bin_of(-x)
    return 0


def bin_value(b: int) -> float:
    """The representative value of a bin (within :data:`RELATIVE_ERROR` of every value in it)."""
    if b > 0:
        return _rep(b - _KMAX - 1)
    if b < 0:
        return -bin_value(-b)
    return 0.0


def lane_bytes(lanes: int) -> int:
    """How many bytes the packed positive bins take (whole 32-bit lanes)."""
    return 4 * ((lanes.bit_length() + LANE_BITS - 1) // LANE_BITS)


class Metric:
    """Count, sum, exact min/max and the histogram (zeros, sparse negatives, packed positive lanes) of a metric."""

    __slots__ = ("base", "lanes", "max", "min", "n", "neg", "sum", "zeros")

    def __init__(self) -> None:
        self.n = 0
        self.sum = 0.0
        self.min: float | None = None
        self.max: float | None = None
        self.zeros = 0
        self.neg: dict[int, int] = {}  # bin of |x| -> count
        self.base = 0  # bin of lane 0 (meaningless while lanes == 0)
        self.lanes = 0

    def add(self, x: float) -> None:
        self.n += 1
        if self.n > _LANE_MAX:
            raise OverflowError("an aggregate histogram holds at most 2**32 - 1 values")
        self.sum += x
        if self.min is None or x < self.min:
            self.min = x
        if self.max is None or x > self.max:
            self.max = x
        if x >= LOW_VALUE:
            self._add_lanes(_kb(x), 1)
        elif x > -LOW_VALUE:
            self.zeros += 1
        else:
            k = _kb(-x)
            self.neg[k] = self.neg.get(k, 0) + 1

    def _add_lanes(self, base: int, lanes: int) -> None:
        if not self.lanes:
            self.base, self.lanes = base, lanes
        elif base >= self.base:
            self.lanes += lanes << (LANE_BITS * (base - self.base))
        else:
            self.lanes = (self.lanes << (LANE_BITS * (self.base - base))) + lanes
            self.base = base

    def merge(self, other: Metric) -> None:
        """Add everything ``other`` holds (exact: the result does not depend on grouping or order, float sums
        aside). The one merge of a metric: stored rows are decoded into metrics and merged with this."""
        if not other.n or other.min is None or other.max is None:
            return
        self.n += other.n
        if self.n > _LANE_MAX:
            raise OverflowError("an aggregate histogram holds at most 2**32 - 1 values")
        self.sum += other.sum
        if self.min is None or other.min < self.min:
            self.min = other.min
        if self.max is None or other.max > self.max:
            self.max = other.max
        self.zeros += other.zeros
        if other.neg:
            neg = self.neg
            for k, c in other.neg.items():
                neg[k] = neg.get(k, 0) + c
        if other.lanes:
            self._add_lanes(other.base, other.lanes)

    def bins(self) -> dict[int, int]:
        """The histogram as ``{bin_of value: count}`` (for tests and debugging)."""
        out = {-(k + _KMAX + 1): c for k, c in self.neg.items()}
        if self.zeros:
            out[0] = self.zeros
        for j, c in enumerate(self._lane_counts()):
            if c:
                out[self.base + j + _KMAX + 1] = c
        return out

    def _lane_counts(self) -> list[int]:
        if not self.lanes:
            return []
        return list(memoryview(self.lanes.to_bytes(lane_bytes(self.lanes), "little")).cast("I"))

    def percentiles(self, qs: Iterable[float]) -> list[float | None]:
        """Closest-rank linear interpolation, as :func:`query.percentile` does on raw values."""
        n = self.n
        lo_v, hi_v = self.min, self.max
        if not n or lo_v is None or hi_v is None:
            return [None for _ in qs]
        if n == 1:
            return [float(lo_v) for _ in qs]
        if self.neg or self.zeros:
            negs = sorted(self.neg.items(), reverse=True)  # most negative first
            counts = [c for _, c in negs]
            counts.append(self.zeros)
            first_lane = len(counts)
            counts += self._lane_counts()
        else:
            negs, first_lane, counts = [], 0, self._lane_counts()
        cum = list(accumulate(counts))
        last = n - 1
        base = self.base

        def at(r: int) -> float:
            if r <= 0:
                return lo_v
            if r >= last:
                return hi_v
            i = bisect_right(cum, r)
            if i >= first_lane:
                v = _rep(base + i - first_lane)
            elif i == first_lane - 1:
                v = 0.0
            else:
                v = -_rep(negs[i][0])
            return lo_v if v < lo_v else hi_v if v > hi_v else v

        out: list[float | None] = []
        for q in qs:
            pos = last * q / 100.0
            lo = math.floor(pos)
            a = at(lo)
            frac = pos - lo
            out.append(float(a + (at(lo + 1) - a) * frac) if frac else float(a))
        return out

    def summary(self) -> Summary:
        """What :func:`~streamscope.collector.query_stats.summary` answers for the raw values: p50/p95/p99, mean,
        max and count (built here, positionally: a day's ``/api/stats`` by minute builds ~9,000)."""
        n = self.n
        p50, p95, p99 = self.percentiles((50, 95, 99))
        return tuple.__new__(Summary, (p50, p95, p99, self.sum / n if n else None, self.max, n))

    def copy(self) -> Metric:
        m = Metric()
        m.merge(self)
        return m
