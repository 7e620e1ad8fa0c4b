"""The SQLite store's per-minute aggregate rows: kept in the write transaction, read by ``/api/stats``.

A mixin of :class:`~streamscope.collector.store.sqlite.SQLiteStore` (the same connection, lock and write
transaction); the pure arithmetic is in ``collector/aggregates.py``.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from streamscope.collector import aggregates as agg
from streamscope.collector.model import NS, Filters, Stream
from streamscope.collector.store.sqlite_tx import read_snapshot

AGG_CACHE_ROWS = 20_000  # aggregate rows the writer keeps decoded (the current slots of every key)
SEAL_GRACE_S = 300  # a coarser slot is sealed once it ended this long ago (streams usually arrive by then)
STREAM_COLUMNS = tuple(f.name for f in dataclasses.fields(Stream))

# -- aggregates (see collector/aggregates.py): one row per tier x row set (rollup) x slot x key, kept in the
# write transaction. Fields rolled into a row are stored as '' and read back as NULL.
# Minute rows are written with the streams. A coarser tier's rows exist for its *sealed* slots (those that
# ended SEAL_GRACE_S before the writer's clock; stream_aggregate_seals holds the first unsealed slot): a write
# seals what became old enough by merging the finer rows, and a late stream for a sealed slot updates that row
# too. Reads of an unsealed slot merge its finer rows. So every transaction touches the minute rows of the keys
# it adds to, not every tier, and the rows are always exactly the stored streams.
AGG_SCHEMA = """
CREATE TABLE IF NOT EXISTS stream_aggregate_seals (width INTEGER PRIMARY KEY, sealed_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stream_aggregates (
    width INTEGER NOT NULL, rollup INTEGER NOT NULL, slot_ns INTEGER NOT NULL, service TEXT NOT NULL,
    model TEXT NOT NULL, provider TEXT NOT NULL, operation TEXT NOT NULL, outcome TEXT NOT NULL,
    streams INTEGER NOT NULL, state BLOB NOT NULL,
    PRIMARY KEY (width, rollup, slot_ns, service, model, provider, operation, outcome)
) WITHOUT ROWID;
"""
_AGG_KEY = ("width = ? AND rollup = ? AND slot_ns = ? AND service = ? AND model = ? AND provider = ?"
            " AND operation = ? AND outcome = ?")  # fmt: skip
_AGG_REPLACE = "INSERT OR REPLACE INTO stream_aggregates VALUES (?,?,?,?,?,?,?,?,?,?)"
_AGG_COLS = ("width, slot_ns, CASE WHEN rollup < 2 THEN service END, model, provider,"
             " CASE WHEN rollup = 0 THEN operation END, CASE WHEN rollup = 0 THEN outcome END, state")  # fmt: skip


def _agg_row(width: int, slot: int, key: agg.Key) -> tuple[Any, ...]:
    """The primary key columns of an aggregate row."""
    service, model, provider, operation, outcome = key
    return (width, agg.rollup_of(key), slot, service or "", model, provider, operation or "", outcome or "")


def _batched(items: Sequence[str], n: int = 400) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class AggregateRows:
    """Aggregate maintenance and reads for :class:`SQLiteStore` (see the comment above :data:`AGG_SCHEMA`)."""

    _w: sqlite3.Connection
    _wlock: threading.Lock
    _agg_cache: dict[tuple[Any, ...], agg.AggState]
    _agg_version: int
    _seals: dict[int, int]
    clock: Callable[[], int]
    _r: Callable[[], sqlite3.Connection]  # a reader connection of this thread (SQLiteStore._r)
    _writing: Callable[
        [sqlite3.Connection], AbstractContextManager[sqlite3.Connection]
    ]  # SQLiteStore._writing

    def _new_streams(self, con: sqlite3.Connection, streams: Sequence[Stream]) -> list[Stream]:
        """The streams of a batch that ``INSERT OR IGNORE`` will store (first of each span id, not yet stored)."""
        first: dict[str, Stream] = {}
        for st in streams:
            first.setdefault(st.span_id, st)
        ids = list(first)
        for part in _batched(ids):
            marks = ",".join("?" * len(part))
            for (sid,) in con.execute(f"SELECT span_id FROM streams WHERE span_id IN ({marks})", part):
                first.pop(sid, None)
        return list(first.values())

    def _sync_cache(self, con: sqlite3.Connection) -> None:
        """Drop the decoded rows and seals if another connection wrote since (``PRAGMA data_version``)."""
        version = con.execute("PRAGMA data_version").fetchone()[0]
        if version != self._agg_version or len(self._agg_cache) > AGG_CACHE_ROWS or not self._seals:
            self._agg_cache.clear()
            self._seals = dict(con.execute("SELECT width, sealed_ns FROM stream_aggregate_seals"))
            self._agg_version = version

    def _add_aggregates(self, con: sqlite3.Connection, streams: Sequence[Stream]) -> None:
        """Merge new streams into their minute rows (and sealed coarser rows they fall in), then seal what
        became old enough. Current rows come from the write-through cache or from the table."""
        self._sync_cache(con)
        cache, seals = self._agg_cache, self._seals
        touched: dict[tuple[Any, ...], agg.AggState] = {}
        # coarser tiers only where some stream is late (its slot already sealed)
        tiers = [agg.MINUTE, *(w for w in agg.TIERS[1:] if any(agg.slot_of(st.start_ns, w) < seals[w]
                                                                for st in streams))]  # fmt: skip
        for (width, wslot, k), delta in agg.build(streams, tiers).items():
            if width != agg.MINUTE and wslot >= seals[width]:
                continue  # an unsealed slot: reads merge its minute rows
            pk = _agg_row(width, wslot, k)
            state = touched.get(pk)
            if state is None:
                state = cache.get(pk)
                if state is None:
                    old = con.execute(f"SELECT state FROM stream_aggregates WHERE {_AGG_KEY}", pk).fetchone()
                    state = agg.AggState.from_bytes(old[0]) if old is not None else agg.AggState()
                    cache[pk] = state
                touched[pk] = state
            state.merge(delta)  # in place: write() clears the cache if the transaction fails
        if touched:
            con.executemany(_AGG_REPLACE, [(*pk, st.n, st.to_bytes()) for pk, st in touched.items()])
        self._seal(con)

    def _seal(self, con: sqlite3.Connection) -> None:
        """Materialise the coarser rows of slots that ended SEAL_GRACE_S ago (finest tier first)."""
        now = self.clock() - SEAL_GRACE_S * NS
        seals = self._seals
        finer = agg.MINUTE
        for width in agg.TIERS[1:]:
            target = agg.slot_of(now, width)
            if target > seals[width]:
                for rollup in agg.ROLLUPS:
                    rows = self._read_aggregates(con, finer, seals[width], target, None, rollup)
                    self._put_states(con, agg.rollup(rows, width))
                con.execute(
                    "UPDATE stream_aggregate_seals SET sealed_ns = ? WHERE width = ?", (target, width)
                )
                seals[width] = target
            finer = width

    def _recompute_aggregates(self, con: sqlite3.Connection, minutes: set[int]) -> None:
        """Rebuild the aggregate rows of these minute slots (from streams) and of the sealed coarser slots
        holding them (from the finer rows)."""
        if not minutes:
            return
        self._sync_cache(con)
        width = agg.TIERS[0]
        step = width * NS
        for slot in sorted(minutes):
            con.execute("DELETE FROM stream_aggregates WHERE width = ? AND slot_ns = ?", (width, slot))
            streams = [Stream(*r) for r in con.execute(
                f"SELECT {','.join(STREAM_COLUMNS)} FROM streams WHERE start_ns >= ? AND start_ns < ?",
                (slot, slot + step),
            )]  # fmt: skip
            self._put_states(con, agg.build(streams, (width,)))
        finer, slots = width, minutes
        for coarser in agg.TIERS[1:]:
            slots = {agg.slot_of(s, coarser) for s in slots}
            for slot in sorted(x for x in slots if x < self._seals[coarser]):
                con.execute("DELETE FROM stream_aggregates WHERE width = ? AND slot_ns = ?", (coarser, slot))
                for rollup in agg.ROLLUPS:
                    rows = self._read_aggregates(con, finer, slot, slot + coarser * NS, None, rollup)
                    self._put_states(con, agg.rollup(rows, coarser))
            finer = coarser
        self._agg_cache.clear()

    @staticmethod
    def _put_states(con: sqlite3.Connection, states: dict[agg.RowKey, agg.AggState]) -> None:
        con.executemany(
            _AGG_REPLACE,
            [(*_agg_row(w, slot, key), st.n, st.to_bytes()) for (w, slot, key), st in states.items()],
        )

    @staticmethod
    def _read_aggregates(
        con: sqlite3.Connection,
        width: int,
        since_ns: int | None,
        until_ns: int | None,
        filters: Filters | None,
        rollup: int = 0,
    ) -> list[agg.Aggregate]:
        where = ["width = ?", "rollup = ?"]
        p: list[Any] = [width, rollup]
        if since_ns is not None:
            where.append("slot_ns >= ?")
            p.append(since_ns)
        if until_ns is not None:
            where.append("slot_ns < ?")
            p.append(until_ns)
        if filters is not None:
            for col in ("service", "model", "provider", "outcome"):
                val = getattr(filters, col)
                if val is not None:
                    where.append(f"{col} = ?")
                    p.append(val)
        sql = f"SELECT {_AGG_COLS} FROM stream_aggregates WHERE {' AND '.join(where)}"
        return list(map(agg.Aggregate._make, con.execute(sql, p)))

    def aggregates(self, width_s: int, filters: Filters, *, rollup: int = 0) -> list[agg.Aggregate]:
        """Aggregate rows of tier ``width_s`` whose slot starts in ``[since_ns, until_ns)`` and match the key filters."""
        agg.check_filters(filters)
        agg.check_rollup(filters, rollup)
        if width_s not in agg.TIERS:
            raise ValueError(f"no aggregate tier of {width_s} s (tiers: {agg.TIERS})")
        with read_snapshot(self._r()) as con:  # one snapshot for the seal and the rows
            return self._tier_rows(con, width_s, filters.since_ns, filters.until_ns, filters, rollup)

    def _tier_rows(
        self,
        con: sqlite3.Connection,
        width: int,
        lo: int | None,
        hi: int | None,
        filters: Filters,
        rollup: int,
    ) -> list[agg.Aggregate]:
        if width == agg.MINUTE:
            return self._read_aggregates(con, width, lo, hi, filters, rollup)
        (sealed,) = con.execute(
            "SELECT sealed_ns FROM stream_aggregate_seals WHERE width = ?", (width,)
        ).fetchone()
        rows = self._read_aggregates(
            con, width, lo, sealed if hi is None else min(hi, sealed), filters, rollup
        )
        if hi is None or hi > sealed:
            start = sealed if lo is None else max(lo, sealed)
            start -= start % (width * NS)
            finer = agg.TIERS[agg.TIERS.index(width) - 1]
            merged = agg.rollup(self._tier_rows(con, finer, start, hi, filters, rollup), width)
            rows += [agg.Aggregate(w, slot, *key, st.to_bytes()) for (w, slot, key), st in merged.items()]
        return rows

    def rebuild_aggregates(self) -> None:
        """Recompute every aggregate row from the stored streams (upgrades of older databases, and tests)."""
        with self._wlock:
            self._agg_cache.clear()
            con = self._w
            with self._writing(con):  # a failed rebuild drops the cache and the seals
                con.execute("DELETE FROM stream_aggregates")
                con.execute("UPDATE stream_aggregate_seals SET sealed_ns = 0")
                self._seals = {w: 0 for w in agg.TIERS[1:]}
                states: dict[agg.RowKey, agg.AggState] = {}
                cur = con.execute(f"SELECT {','.join(STREAM_COLUMNS)} FROM streams")
                while rows := cur.fetchmany(10_000):
                    for rk, st in agg.build((Stream(*r) for r in rows), (agg.MINUTE,)).items():
                        old = states.get(rk)
                        if old is None:
                            states[rk] = st
                        else:
                            old.merge(st)
                self._put_states(con, states)
                self._seal(con)
            self._agg_cache.clear()
