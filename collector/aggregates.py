"""Per-minute stream aggregates: which rows a store keeps, how they roll up, and which rows answer a query.

Stores keep one :class:`~streamscope.collector.aggregate_state.AggState` per tier x time slot x key in three
row sets (:data:`ROLLUPS`): the full key (service, model, provider, operation, outcome), one with operation and
outcome rolled in, and one with service rolled in too (``Key`` holds None for a rolled-in field). The rolled-up
sets have fewer rows for the common queries that neither filter nor group by those fields. All are maintained in
the same transaction as the stream rows they summarise (see ``docs/retention-and-aggregates.md``). The query
layer merges them instead of scanning raw streams. Everything here is pure Python (no SQL, no I/O), so every
store computes exactly the same numbers.

The summary itself and its bytes are in ``aggregate_state.py``, one metric's histogram in ``histogram.py``;
their public names are re-exported here for the stores and the query layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from streamscope.collector.aggregate_state import MAX_STATE_BYTES, METRICS, AggState, decode, metric_values
from streamscope.collector.histogram import (
    HIGH_VALUE,
    LOW_VALUE,
    MAX_BINS,
    RELATIVE_ERROR,
    Metric,
    bin_of,
    bin_value,
)
from streamscope.collector.model import NS, Filters, Stream

__all__ = [
    "HIGH_VALUE", "KEY_FIELDS", "LOW_VALUE", "MAX_BINS", "MAX_STATE_BYTES", "METRICS", "MINUTE", "RELATIVE_ERROR",
    "ROLLUPS", "TIERS", "AggState", "Aggregate", "Key", "Metric", "Plan", "RowKey", "answerable", "bin_of",
    "bin_value", "build", "check_filters", "check_rollup", "choose_rollup", "decode", "finest", "key_of", "matches",
    "metric_values", "plan", "rollup", "rollup_of", "slot_of",
]  # fmt: skip

MINUTE = 60
# Slot widths in seconds; each divides the next, so coarser tiers merge finer ones exactly. A chart bucket reads
# the coarsest tier that divides it (the dashboard's 1 h / 6 h / 24 h views: 1-minute, 5-minute, 30-minute rows).
TIERS = (60, 300, 1800, 3600)
KEY_FIELDS = ("service", "model", "provider", "operation", "outcome")

# (service, model, provider, operation, outcome); a field rolled into the row is None
Key = tuple[str | None, str, str, str | None, str | None]
# Row sets: 0 = the full key, 1 = operation and outcome rolled in, 2 = service rolled in too.
ROLLUPS = (0, 1, 2)
_ROLLED = {0: (), 1: ("operation", "outcome"), 2: ("service", "operation", "outcome")}


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
    groups: dict[RowKey, list[bytes]] = {}
    for r in rows:
        groups.setdefault((width_s, slot_of(r.slot_ns, width_s), r.key), []).append(r.data)
    out: dict[RowKey, AggState] = {}
    for rk, data in groups.items():
        s = out[rk] = AggState()
        s.merge_rows(data)
    return out


# -- what aggregates can answer ------------------------------------------------------------------
_ANSWERABLE = frozenset({"service", "model", "provider", "outcome", "since_ns", "until_ns"})


def answerable(filters: Filters) -> bool:
    """Whether ``filters`` only use fields aggregates are keyed by (the time range and key columns)."""
    return all(getattr(filters, f) is None for f in filters.__slots__ if f not in _ANSWERABLE)


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
