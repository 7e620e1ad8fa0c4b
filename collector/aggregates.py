"""Per-minute stream aggregates: pure, mergeable summaries behind ``/api/stats`` and the dashboard charts.

Stores keep one :class:`AggState` per tier x time slot x key in three row sets (:data:`ROLLUPS`): the full key
(service, model, provider, operation, outcome), one with operation and outcome rolled in, and one with service
rolled in too (``Key`` holds None for a rolled-in field). The rolled-up sets have fewer rows for the common
queries that neither filter nor group by those fields. All are maintained in the same transaction as the stream
rows they summarise (see ``docs/retention-and-aggregates.md``). The query
layer merges them instead of scanning raw streams. Everything here is pure Python (no SQL, no I/O), so every
store computes exactly the same numbers, and a state travels between store and query layer as compact bytes
(:meth:`AggState.to_bytes`).

An :class:`AggState` holds counts and sums (streams, chunks, stalls, tokens, cost, first/last start) and, for
each metric in :data:`METRICS`, the count, sum, exact min and max and a log-spaced histogram.

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
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import NamedTuple

from streamscope.collector.model import NS, OUTCOMES, Filters, Stream

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

_LANE = 32
_LANE_MAX = (1 << _LANE) - 1

MINUTE = 60
# Slot widths in seconds; each divides the next, so coarser tiers merge finer ones exactly. A chart bucket reads
# the coarsest tier that divides it (the dashboard's 1 h / 6 h / 24 h views: 1-minute, 5-minute, 30-minute rows).
TIERS = (60, 300, 1800, 3600)
METRICS = ("ttft", "time_to_first_chunk", "duration", "gap_p95", "gap_max", "output_tokens_per_second")
KEY_FIELDS = ("service", "model", "provider", "operation", "outcome")

# (service, model, provider, operation, outcome); a field rolled into the row is None
Key = tuple[str | None, str, str, str | None, str | None]
# Row sets: 0 = the full key, 1 = operation and outcome rolled in, 2 = service rolled in too.
ROLLUPS = (0, 1, 2)
_ROLLED = {0: (), 1: ("operation", "outcome"), 2: ("service", "operation", "outcome")}


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


# Stored bytes: one fixed-size header, then other outcomes, then per metric its negative bins and its lanes.
# Header: n, chunks, stalls, input, output, cost_sum, cost_n, start min, start max, a count per standard outcome,
# the number of other outcomes, then per metric: n, sum, min, max, zeros, number of negative bins, lowest
# positive bin, lane bytes. An other outcome is its UTF-8 length, text and count.
_HEAD_FIELDS = 10 + len(OUTCOMES)
_MET_FIELDS = 8
_ROW = struct.Struct("<qqqqqdqqq" + "q" * len(OUTCOMES) + "q" + "qdddqiiI" * len(METRICS))
_OTHER = struct.Struct("<Hq")  # text length, count (the text follows the length)
_OUTCOME_INDEX = {o: i for i, o in enumerate(OUTCOMES)}
_NEG = struct.Struct("<iq")  # bin of |x|, count
_EMPTY_METRIC = (0, 0.0, 0.0, 0.0, 0, 0, 0, 0)
#: The largest ``AggState.to_bytes()`` a row can take, outcome names aside: every metric with every bin filled.
MAX_STATE_BYTES = _ROW.size + len(METRICS) * MAX_BINS * (_NEG.size + _LANE // 8)


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
            self.lanes += lanes << (_LANE * (base - self.base))
        else:
            self.lanes = (self.lanes << (_LANE * (self.base - base))) + lanes
            self.base = base

    def merge(self, other: Metric) -> None:
        if not other.n:
            return
        self.n += other.n
        if self.n > _LANE_MAX:
            raise OverflowError("an aggregate histogram holds at most 2**32 - 1 values")
        self.sum += other.sum
        if self.min is None or (other.min is not None and other.min < self.min):
            self.min = other.min
        if self.max is None or (other.max is not None and other.max > self.max):
            self.max = other.max
        self.zeros += other.zeros
        for k, c in other.neg.items():
            self.neg[k] = self.neg.get(k, 0) + c
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
        nl = (self.lanes.bit_length() + _LANE - 1) // _LANE
        return list(memoryview(self.lanes.to_bytes(4 * nl, "little")).cast("I"))

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

    def summary(self) -> dict[str, float | None]:
        """The shape of :func:`query.summary`: p50/p95/p99/mean/max/count."""
        p50, p95, p99 = self.percentiles((50, 95, 99))
        return {
            "p50": p50,
            "p95": p95,
            "p99": p99,
            "mean": self.sum / self.n if self.n else None,
            "max": self.max,
            "count": self.n,
        }

    def copy(self) -> Metric:
        m = Metric()
        m.merge(self)
        return m

    def _header(self) -> tuple[int | float, ...]:
        if not self.n or self.min is None or self.max is None:
            return _EMPTY_METRIC
        nb = 4 * ((self.lanes.bit_length() + _LANE - 1) // _LANE)
        return (self.n, self.sum, self.min, self.max, self.zeros, len(self.neg), self.base, nb)

    def _tail(self, out: list[bytes]) -> None:
        if not self.n:
            return
        for k, c in sorted(self.neg.items()):
            out.append(_NEG.pack(k, c))
        if self.lanes:
            out.append(self.lanes.to_bytes(4 * ((self.lanes.bit_length() + _LANE - 1) // _LANE), "little"))


class AggState:
    """The mergeable summary of a set of streams (see the module docstring)."""

    __slots__ = ("chunks", "cost_n", "cost_sum", "input_tokens", "metrics", "n", "outcomes", "output_tokens",
                 "stalls", "start_max_ns", "start_min_ns")  # fmt: skip

    def __init__(self) -> None:
        self.n = 0
        self.outcomes: dict[str, int] = {}
        self.chunks = 0
        self.stalls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_sum = 0.0
        self.cost_n = 0
        self.start_min_ns: int | None = None
        self.start_max_ns: int | None = None
        self.metrics: list[Metric] = [Metric() for _ in METRICS]

    def add(self, st: Stream) -> None:
        """Add one stream (the same fields :func:`query.compute_stats` reads)."""
        self.n += 1
        self.outcomes[st.outcome] = self.outcomes.get(st.outcome, 0) + 1
        self.chunks += st.chunk_count or 0
        self.stalls += st.stall_count or 0
        self.input_tokens += st.input_tokens or 0
        self.output_tokens += st.output_tokens or 0
        if st.cost_usd is not None:
            self.cost_sum += st.cost_usd
            self.cost_n += 1
        if self.start_min_ns is None or st.start_ns < self.start_min_ns:
            self.start_min_ns = st.start_ns
        if self.start_max_ns is None or st.start_ns > self.start_max_ns:
            self.start_max_ns = st.start_ns
        for m, v in zip(self.metrics, metric_values(st), strict=True):
            if v is not None:
                m.add(v)

    def merge(self, other: AggState) -> None:
        self.n += other.n
        for o, c in other.outcomes.items():
            self.outcomes[o] = self.outcomes.get(o, 0) + c
        self.chunks += other.chunks
        self.stalls += other.stalls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_sum += other.cost_sum
        self.cost_n += other.cost_n
        self._starts(other.start_min_ns, other.start_max_ns)
        for m, om in zip(self.metrics, other.metrics, strict=True):
            m.merge(om)

    def _starts(self, lo: int | None, hi: int | None) -> None:
        if lo is not None and (self.start_min_ns is None or lo < self.start_min_ns):
            self.start_min_ns = lo
        if hi is not None and (self.start_max_ns is None or hi > self.start_max_ns):
            self.start_max_ns = hi

    def copy(self) -> AggState:
        s = AggState()
        s.merge(self)
        return s

    def metric(self, name: str) -> Metric:
        return self.metrics[METRICS.index(name)]

    def to_bytes(self) -> bytes:
        """Compact, canonical bytes: everything, outcome counts included."""
        head: list[int | float] = [self.n, self.chunks, self.stalls, self.input_tokens, self.output_tokens,
                                   self.cost_sum, self.cost_n, self.start_min_ns or 0, self.start_max_ns or 0]  # fmt: skip
        head.extend(self.outcomes.get(o, 0) for o in OUTCOMES)
        others = sorted((o, c) for o, c in self.outcomes.items() if o not in _OUTCOME_INDEX and c)
        head.append(len(others))
        out: list[bytes] = []
        for o, c in others:
            text = o.encode()[:65535]
            out.append(_OTHER.pack(len(text), c) + text)
        for m in self.metrics:
            head.extend(m._header())
            m._tail(out)
        return _ROW.pack(*head) + b"".join(out)

    @staticmethod
    def from_bytes(data: bytes) -> AggState:
        s = AggState()
        s.merge_rows([data])
        return s

    def merge_rows(self, rows: Sequence[bytes]) -> None:
        """Merge stored rows at once (the fast path of queries: column sums in C, one shift and add per
        histogram, no intermediate objects)."""
        rows = [r for r in rows if r]
        if len(rows) <= 1:
            if rows:
                self._merge_one(rows[0])
            return
        unpack = _ROW.unpack_from
        heads = [unpack(data) for data in rows]
        cols = list(zip(*heads, strict=True))
        counts = cols[0]
        if not sum(counts):
            return
        self.n += sum(counts)
        outcomes = self.outcomes
        for i, o in enumerate(OUTCOMES):
            c = sum(cols[9 + i])
            if c:
                outcomes[o] = outcomes.get(o, 0) + c
        self.chunks += sum(cols[1])
        self.stalls += sum(cols[2])
        self.input_tokens += sum(cols[3])
        self.output_tokens += sum(cols[4])
        self.cost_sum += sum(cols[5])
        self.cost_n += sum(cols[6])
        if 0 in counts:  # never for stored rows (they hold at least one stream)
            self._starts(min(lo for lo, c in zip(cols[7], counts, strict=True) if c),
                         max(hi for hi, c in zip(cols[8], counts, strict=True) if c))  # fmt: skip
        else:
            self._starts(min(cols[7]), max(cols[8]))
        varying = []
        for i, m in enumerate(self.metrics):
            b = _HEAD_FIELDS + _MET_FIELDS * i
            mc = cols[b]
            total = sum(mc)
            if not total:
                continue
            m.n += total
            if m.n > _LANE_MAX:
                raise OverflowError("an aggregate histogram holds at most 2**32 - 1 values")
            m.sum += sum(cols[b + 1])
            if 0 in mc:
                lo = min(x for x, c in zip(cols[b + 2], mc, strict=True) if c)
                hi = max(x for x, c in zip(cols[b + 3], mc, strict=True) if c)
            else:
                lo, hi = min(cols[b + 2]), max(cols[b + 3])
            if m.min is None or lo < m.min:
                m.min = lo
            if m.max is None or hi > m.max:
                m.max = hi
            m.zeros += sum(cols[b + 4])
            if any(cols[b + 5]) or any(cols[b + 7]):
                varying.append(i)
        n_other = cols[_HEAD_FIELDS - 1]
        if not varying and not any(n_other):
            return
        metrics = self.metrics
        from_bytes = int.from_bytes
        for data, head in zip(rows, heads, strict=True):
            off = _ROW.size
            view = memoryview(data)
            for _ in range(head[_HEAD_FIELDS - 1]):
                size, c = _OTHER.unpack_from(data, off)
                off += _OTHER.size
                o = bytes(view[off : off + size]).decode(errors="replace")
                off += size
                outcomes[o] = outcomes.get(o, 0) + c
            for i in range(len(METRICS)):
                b = _HEAD_FIELDS + _MET_FIELDS * i
                nneg, base, nb = head[b + 5], head[b + 6], head[b + 7]
                if nneg:
                    neg = metrics[i].neg
                    for _ in range(nneg):
                        k, c = _NEG.unpack_from(data, off)
                        off += _NEG.size
                        neg[k] = neg.get(k, 0) + c
                if nb:
                    metrics[i]._add_lanes(base, from_bytes(view[off : off + nb], "little"))
                    off += nb

    def _merge_one(self, data: bytes) -> None:
        """:meth:`merge_rows` for one row (most cells of a chart hold one row of the rolled-up sets)."""
        h = _ROW.unpack_from(data)
        if not h[0]:
            return
        self.n += h[0]
        outcomes = self.outcomes
        for i, o in enumerate(OUTCOMES):
            c = h[9 + i]
            if c:
                outcomes[o] = outcomes.get(o, 0) + c
        self.chunks += h[1]
        self.stalls += h[2]
        self.input_tokens += h[3]
        self.output_tokens += h[4]
        self.cost_sum += h[5]
        self.cost_n += h[6]
        self._starts(h[7], h[8])
        off = _ROW.size
        for _ in range(h[_HEAD_FIELDS - 1]):
            size, c = _OTHER.unpack_from(data, off)
            off += _OTHER.size
            o = data[off : off + size].decode(errors="replace")
            off += size
            outcomes[o] = outcomes.get(o, 0) + c
        b = _HEAD_FIELDS
        for m in self.metrics:
            c = h[b]
            if c:
                m.n += c
                if m.n > _LANE_MAX:
                    raise OverflowError("an aggregate histogram holds at most 2**32 - 1 values")
                m.sum += h[b + 1]
                lo, hi = h[b + 2], h[b + 3]
                if m.min is None or lo < m.min:
                    m.min = lo
                if m.max is None or hi > m.max:
                    m.max = hi
                m.zeros += h[b + 4]
                for _ in range(h[b + 5]):
                    k, kc = _NEG.unpack_from(data, off)
                    off += _NEG.size
                    m.neg[k] = m.neg.get(k, 0) + kc
                nb = h[b + 7]
                if nb:
                    m._add_lanes(h[b + 6], int.from_bytes(data[off : off + nb], "little"))
                    off += nb
            b += _MET_FIELDS

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AggState):
            return NotImplemented
        return self.to_bytes() == other.to_bytes() and self.outcomes == other.outcomes

    def __repr__(self) -> str:
        return f"AggState(n={self.n}, outcomes={self.outcomes})"


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def metric_values(st: Stream) -> tuple[float | None, ...]:
    """The values of :data:`METRICS` for one stream (non-finite values count as missing)."""
    return (_finite(st.ttft), _finite(st.time_to_first_chunk), st.duration, _finite(st.gap_p95),
            _finite(st.gap_max), _finite(st.output_tokens_per_second))  # fmt: skip


def key_of(st: Stream) -> Key:
    return (st.service or "", st.model or "", st.provider or "", st.operation or "", st.outcome or "")


def rollup_of(key: Key) -> int:
    """Which row set a key belongs to."""
    return 2 if key[0] is None else 1 if key[4] is None else 0


def choose_rollup(filters: Filters, group_by: str) -> int:
    """The smallest row set that answers these filters grouped by ``group_by``."""
    for r in (2, 1):
        rolled = _ROLLED[r]
        if group_by not in rolled and all(getattr(filters, f, None) is None for f in rolled):
            return r
    return 0


def slot_of(start_ns: int, width_s: int) -> int:
    width = width_s * NS
    return start_ns - start_ns % width


class Aggregate(NamedTuple):
    """One stored aggregate row: the streams of one key that started in ``[slot_ns, slot_ns + width_s)``.

    A field rolled into the row (see :data:`ROLLUPS`) is None: the row covers all of its values.
    """

    width_s: int
    slot_ns: int
    service: str | None
    model: str
    provider: str
    operation: str | None
    outcome: str | None
    data: bytes  # AggState.to_bytes(): a store hands rows over as stored, the query layer merges the bytes

    @property
    def key(self) -> Key:
        return (self.service, self.model, self.provider, self.operation, self.outcome)

    @property
    def state(self) -> AggState:
        return AggState.from_bytes(self.data)


RowKey = tuple[int, int, Key]  # (width_s, slot_ns, key)


def finest(streams: Iterable[Stream], width_s: int = TIERS[0]) -> dict[tuple[int, Key], AggState]:
    """Each stream added once, to its row of the finest tier and full key: ``{(slot_ns, key): state}``."""
    out: dict[tuple[int, Key], AggState] = {}
    for st in streams:
        rk = (slot_of(st.start_ns, width_s), key_of(st))
        s = out.get(rk)
        if s is None:
            s = out[rk] = AggState()
        s.add(st)
    return out


def _rolled_key(key: Key, rollup: int) -> Key:
    service, model, provider, _op, _oc = key
    return (service, model, provider, None, None) if rollup == 1 else (None, model, provider, None, None)


def build(streams: Iterable[Stream], tiers: Iterable[int] = TIERS) -> dict[RowKey, AggState]:
    """Aggregate rows for ``streams`` in the given tiers and every row set (what a store adds for them).

    Each stream is added once, to its finest full-key row. Every other row merges the rows one step finer
    (full key -> operation and outcome rolled in -> service too; then tier by tier), so a batch of streams
    costs about one merge per row, not one per row it rolls into.
    """
    widths = tuple(tiers)
    w0 = widths[0]
    level: dict[RowKey, AggState] = {(w0, slot, key): st for (slot, key), st in finest(streams, w0).items()}
    out = dict(level)
    for r in (1, 2):
        rolled: dict[RowKey, AggState] = {}
        for (w, slot, key), st in level.items():
            rk = (w, slot, _rolled_key(key, r))
            acc = rolled.get(rk)
            if acc is None:
                acc = rolled[rk] = AggState()
            acc.merge(st)
        out.update(rolled)
        level = rolled
    finer = out
    for width in widths[1:]:
        coarser: dict[RowKey, AggState] = {}
        for (_w, slot, key), st in finer.items():
            rk = (width, slot_of(slot, width), key)
            acc = coarser.get(rk)
            if acc is None:
                acc = coarser[rk] = AggState()
            acc.merge(st)
        out.update(coarser)
        finer = coarser
    return out


def rollup(rows: Iterable[Aggregate], width_s: int) -> dict[RowKey, AggState]:
    """Merge finer rows into rows of tier ``width_s`` (exact: every field merges)."""
    out: dict[RowKey, AggState] = {}
    for r in rows:
        rk = (width_s, slot_of(r.slot_ns, width_s), r.key)
        s = out.get(rk)
        if s is None:
            s = out[rk] = AggState()
        s.merge_rows([r.data])
    return out


# -- what aggregates can answer ------------------------------------------------------------------
_ANSWERABLE = frozenset({"service", "model", "provider", "outcome", "since_ns", "until_ns"})


def answerable(filters: Filters) -> bool:
    """Whether ``filters`` only use fields aggregates are keyed by (the time range and key columns)."""
    return all(
        getattr(filters, f) is None
        for f in filters.__slots__
        if f not in _ANSWERABLE
    )


def check_filters(filters: Filters) -> None:
    """Stores call this: raise ValueError for filters an aggregate row cannot answer."""
    if not answerable(filters):
        raise ValueError("aggregates answer only time range, service, model, provider and outcome filters")


def check_rollup(filters: Filters, rollup: int) -> None:
    """Stores call this: a row set cannot filter on a field rolled into its rows."""
    if rollup not in _ROLLED:
        raise ValueError(f"no aggregate row set {rollup!r} (row sets: {ROLLUPS})")
    for f in _ROLLED[rollup]:
        if getattr(filters, f, None) is not None:
            raise ValueError(f"aggregate row set {rollup} has {f} rolled in; it cannot filter on it")


def matches(key: Key, filters: Filters, rollup: int = 0) -> bool:
    service, model, provider, _op, outcome = key
    return (
        rollup_of(key) == rollup
        and (filters.service is None or service == filters.service)
        and (filters.model is None or model == filters.model)
        and (filters.provider is None or provider == filters.provider)
        and (filters.outcome is None or outcome == filters.outcome)
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """Where the streams of a window come from: tier rows ``(width_s, since_ns, until_ns)`` and raw ranges."""

    tiers: tuple[tuple[int, int | None, int | None], ...]
    raw: tuple[tuple[int, int], ...]


def _ceil(t: int, w: int) -> int:
    return -((-t) // w) * w


def _floor(t: int, w: int) -> int:
    return t - t % w


def plan(
    since_ns: int | None, until_ns: int | None, bucket_s: int, tiers: Iterable[int] = TIERS
) -> Plan | None:
    """Cover ``[since_ns, until_ns)`` (None: unbounded) with aggregate rows whose slots fit the chart buckets.

    Whole minutes come from aggregate rows (the coarsest tier that divides ``bucket_s`` where it fits), partial
    minutes at the edges from raw streams. None when ``bucket_s`` is not a whole number of minutes (a minute
    row could straddle two chart buckets).
    """
    if bucket_s <= 0 or bucket_s % MINUTE:
        return None
    usable = sorted((w for w in tiers if bucket_s % w == 0), reverse=True)
    minute = MINUTE * NS
    raw: list[tuple[int, int]] = []
    lo, hi = since_ns, until_ns
    if lo is not None and hi is not None and lo >= hi:
        return Plan((), ())
    if lo is not None and lo % minute:
        edge = _ceil(lo, minute)
        if hi is not None and edge >= hi:
            return Plan((), ((lo, hi),))
        raw.append((lo, edge))
        lo = edge
    if hi is not None and hi % minute:
        edge = _floor(hi, minute)
        if lo is not None and edge <= lo:
            return Plan((), (*raw, (lo, hi)))
        raw.append((edge, hi))
        hi = edge
    parts: list[tuple[int, int | None, int | None]] = []
    _decompose(lo, hi, [w * NS for w in usable], parts)
    return Plan(tuple((w // NS, a, b) for w, a, b in parts if a is None or b is None or a < b), tuple(raw))


def _decompose(
    lo: int | None, hi: int | None, widths: list[int], out: list[tuple[int, int | None, int | None]]
) -> None:
    w = widths[0]
    if len(widths) == 1:
        out.append((w, lo, hi))
        return
    a = None if lo is None else _ceil(lo, w)
    b = None if hi is None else _floor(hi, w)
    if a is not None and b is not None and a >= b:
        _decompose(lo, hi, widths[1:], out)
        return
    out.append((w, a, b))
    if lo is not None and a is not None and lo < a:
        _decompose(lo, a, widths[1:], out)
    if hi is not None and b is not None and b < hi:
        _decompose(b, hi, widths[1:], out)
