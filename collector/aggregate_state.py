"""The mergeable summary of a set of streams (:class:`AggState`) and its compact, canonical bytes.

An :class:`AggState` holds counts and sums (streams, chunks, stalls, tokens, cost, first/last start) and, for
each metric in :data:`METRICS`, a :class:`~streamscope.collector.histogram.Metric` (count, sum, exact min and
max and a log-spaced histogram). Everything here is pure Python (no SQL, no I/O), so every store computes
exactly the same numbers, and a state travels between store and query layer as bytes (:meth:`AggState.to_bytes`).

States merge through one method, :meth:`AggState.merge` (which merges each metric with
:meth:`~streamscope.collector.histogram.Metric.merge`); stored rows are decoded into states (:func:`decode`,
which only sets fields) and merged with it. Merging is exact and does not depend on grouping or order (float
sums aside, which round differently).

Stored bytes: the fixed fields (see :data:`_ROW`'s sections below), then each other outcome (its UTF-8 length,
count and text), then per metric its negative bins (bin of ``|x|``, count) and its packed positive lanes.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from streamscope.collector.histogram import LANE_BITS, MAX_BINS, Metric, lane_bytes
from streamscope.collector.model import OUTCOMES, Stream

METRICS = ("ttft", "time_to_first_chunk", "duration", "gap_p95", "gap_max", "output_tokens_per_second")

# The fixed-size fields of the stored bytes, section by section (little-endian, no padding). Each section's
# field names are the variable names its encoder and decoder use (AggState.to_bytes and decode, below).
_TOTALS = "qqqqqdqqq"  # n, chunks, stalls, input_tokens, output_tokens, cost_sum, cost_n, start_min_ns, start_max_ns
_OUTCOME_COUNTS = "q" * len(OUTCOMES)  # streams per standard outcome, in OUTCOMES order
_N_OTHER = "q"  # how many other outcomes follow the fixed fields
_METRIC = "qdddqiiI"  # n, sum, min, max, zeros, neg_bins, base, lane_bytes (all 0 while the metric is empty)
_ROW = struct.Struct("<" + _TOTALS + _OUTCOME_COUNTS + _N_OTHER + _METRIC * len(METRICS))
_OUTCOMES_AT = len(_TOTALS)
_N_OTHER_AT = _OUTCOMES_AT + len(_OUTCOME_COUNTS)
_METRIC_AT = tuple(_N_OTHER_AT + len(_N_OTHER) + len(_METRIC) * i for i in range(len(METRICS)))
_EMPTY_METRIC = (0, 0.0, 0.0, 0.0, 0, 0, 0, 0)
_OTHER = struct.Struct("<Hq")  # text length, count (the text follows the length)
_NEG = struct.Struct("<iq")  # bin of |x|, count
_STANDARD = frozenset(OUTCOMES)
#: The largest ``AggState.to_bytes()`` a row can take, outcome names aside: every metric with every bin filled.
MAX_STATE_BYTES = _ROW.size + len(METRICS) * MAX_BINS * (_NEG.size + LANE_BITS // 8)


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
        """Add everything ``other`` holds. The one merge of a state: stored rows are decoded and merged with this."""
        if not other.n:
            return
        self.n += other.n
        outcomes = self.outcomes
        for o, c in other.outcomes.items():
            outcomes[o] = outcomes.get(o, 0) + c
        self.chunks += other.chunks
        self.stalls += other.stalls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_sum += other.cost_sum
        self.cost_n += other.cost_n
        lo, hi = other.start_min_ns, other.start_max_ns
        if lo is not None and (self.start_min_ns is None or lo < self.start_min_ns):
            self.start_min_ns = lo
        if hi is not None and (self.start_max_ns is None or hi > self.start_max_ns):
            self.start_max_ns = hi
        for m, om in zip(self.metrics, other.metrics, strict=True):
            m.merge(om)

    def merge_rows(self, rows: Sequence[bytes]) -> None:
        """Merge stored rows (:meth:`to_bytes`)."""
        for data in rows:
            if data:
                self.merge(decode(data))

    def copy(self) -> AggState:
        s = AggState()
        s.merge(self)
        return s

    def metric(self, name: str) -> Metric:
        return self.metrics[METRICS.index(name)]

    def to_bytes(self) -> bytes:
        """Compact, canonical bytes: everything, outcome counts included (the layout: :data:`_ROW`)."""
        others = sorted((o, c) for o, c in self.outcomes.items() if o not in _STANDARD and c)
        fixed: list[int | float] = [self.n, self.chunks, self.stalls, self.input_tokens, self.output_tokens,
                                    self.cost_sum, self.cost_n, self.start_min_ns or 0, self.start_max_ns or 0]  # fmt: skip
        fixed.extend(self.outcomes.get(o, 0) for o in OUTCOMES)
        fixed.append(len(others))
        tail: list[bytes] = []
        for o, c in others:
            text = o.encode()[:65535]
            tail.append(_OTHER.pack(len(text), c) + text)
        for m in self.metrics:
            if not m.n or m.min is None or m.max is None:
                fixed.extend(_EMPTY_METRIC)
                continue
            nb = lane_bytes(m.lanes)
            fixed.extend((m.n, m.sum, m.min, m.max, m.zeros, len(m.neg), m.base, nb))
            tail.extend(_NEG.pack(k, c) for k, c in sorted(m.neg.items()))
            if nb:
                tail.append(m.lanes.to_bytes(nb, "little"))
        return _ROW.pack(*fixed) + b"".join(tail)

    @staticmethod
    def from_bytes(data: bytes) -> AggState:
        return decode(data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AggState):
            return NotImplemented
        return self.to_bytes() == other.to_bytes() and self.outcomes == other.outcomes

    def __repr__(self) -> str:
        return f"AggState(n={self.n}, outcomes={self.outcomes})"


def decode(data: bytes) -> AggState:
    """Stored bytes (:meth:`AggState.to_bytes`) as a new state: fields are set, nothing is merged."""
    s = AggState()
    if not data:
        return s
    h = _ROW.unpack_from(data)
    n, chunks, stalls, input_tokens, output_tokens, cost_sum, cost_n, first, last = h[:_OUTCOMES_AT]
    if not n:
        return s
    s.n, s.chunks, s.stalls, s.input_tokens, s.output_tokens = n, chunks, stalls, input_tokens, output_tokens
    s.cost_sum, s.cost_n, s.start_min_ns, s.start_max_ns = cost_sum, cost_n, first, last
    outcomes = s.outcomes = {o: c for o, c in zip(OUTCOMES, h[_OUTCOMES_AT:_N_OTHER_AT], strict=True) if c}
    off = _ROW.size
    for _ in range(h[_N_OTHER_AT]):
        size, c = _OTHER.unpack_from(data, off)
        off += _OTHER.size
        o = data[off : off + size].decode(errors="replace")
        outcomes[o] = outcomes.get(o, 0) + c
        off += size
    for m, at in zip(s.metrics, _METRIC_AT, strict=True):
        mn, total, lo, hi, zeros, neg_bins, base, nb = h[at : at + len(_METRIC)]
        if not mn:
            continue
        m.n, m.sum, m.min, m.max, m.zeros = mn, total, lo, hi, zeros
        for _ in range(neg_bins):
            k, c = _NEG.unpack_from(data, off)
            m.neg[k] = c
            off += _NEG.size
        if nb:
            m.base, m.lanes = base, int.from_bytes(data[off : off + nb], "little")
            off += nb
    return s


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def metric_values(st: Stream) -> tuple[float | None, ...]:
    """The values of :data:`METRICS` for one stream (non-finite values count as missing)."""
    return (_finite(st.ttft), _finite(st.time_to_first_chunk), st.duration, _finite(st.gap_p95),
            _finite(st.gap_max), _finite(st.output_tokens_per_second))  # fmt: skip
