"""What a write costs when the trace it touches is already large (issue 18, item 4: incremental trace rollups).

    .venv/bin/python bench/trace_rollup.py [--big 131072] [--batch 500] [--rounds 5]

One SQLiteStore (synchronous=FULL, as the collector runs it) holds one trace of ``--big`` spans (a tree: each
span's parent is an earlier span). Then, alternating, a ``--batch``-span write goes into that big trace and a
``--batch``-span write goes into a brand-new trace, ``--rounds`` times each; the median wall time of each is
printed with their ratio. The store's trace rollup is incremental, so the two should cost about the same; the
``full`` rows run the same writes through a store that re-reads every span of each touched trace (what the
store did before), for comparison in the same run. Exits non-zero on a harness error (a wrong span count).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from streamscope.collector.model import NS, Filters, IngestBatch, Span, Stream
from streamscope.collector.rollup import SpanHead, rollup_trace
from streamscope.collector.store.sqlite import TRACE_COLUMNS, SQLiteStore, _batched

T0 = 1_700_000_000 * NS


class FullRollup(SQLiteStore):
    """The store as it was: every write re-reads all spans of each trace it touches and summarises them."""

    def _rollup(self, con: Any, prepared: Any, new_streams: Sequence[Stream]) -> None:
        trace_ids = sorted(set(prepared.new) | {st.trace_id for st in new_streams})
        summaries = []
        for part in _batched(trace_ids):
            marks = ",".join("?" * len(part))
            heads: dict[str, list[SpanHead]] = {}
            for r in con.execute(
                "SELECT trace_id, span_id, parent_span_id, name, service, start_ns, end_ns, status_code,"
                f" session_id, user_id FROM spans WHERE trace_id IN ({marks})",
                part,
            ):
                heads.setdefault(r[0], []).append(SpanHead(*r[1:]))
            counts = dict(con.execute(
                f"SELECT trace_id, count(*) FROM streams WHERE trace_id IN ({marks}) GROUP BY trace_id", part
            ).fetchall())  # fmt: skip
            for trace_id, hs in heads.items():
                summary = rollup_trace(trace_id, hs, counts.get(trace_id, 0))
                if summary is not None:
                    summaries.append(tuple(getattr(summary, c) for c in TRACE_COLUMNS))
        if summaries:
            con.executemany(
                "INSERT OR REPLACE INTO traces VALUES (" + ",".join("?" * len(TRACE_COLUMNS)) + ")", summaries
            )


def spans(trace: int, first: int, n: int) -> tuple[Span, ...]:
    tid = f"{trace:032x}"
    out = []
    for i in range(first, first + n):
        parent = None if i == 0 else f"{(i - 1) // 4 + 1:016x}"
        out.append(Span(trace_id=tid, span_id=f"{i + 1:016x}", parent_span_id=parent, name=f"step {i % 7}",
                        kind=1, start_ns=T0 + i * 1000, end_ns=T0 + i * 1000 + 500, service="bench"))  # fmt: skip
    return tuple(out)


def run(cls: type[SQLiteStore], big: int, batch: int, rounds: int) -> tuple[list[float], list[float], float]:
    with tempfile.TemporaryDirectory() as d:
        store = cls(os.path.join(d, "r.db"))
        t = time.perf_counter()
        store.write(IngestBatch(spans=spans(1, 0, big)))
        build = time.perf_counter() - t
        into_big, into_new = [], []
        for r in range(rounds):
            b = IngestBatch(spans=spans(1, big + r * batch, batch))
            t = time.perf_counter()
            store.write(b)
            into_big.append(time.perf_counter() - t)
            b = IngestBatch(spans=spans(100 + r, 0, batch))
            t = time.perf_counter()
            store.write(b)
            into_new.append(time.perf_counter() - t)
        (summary,) = store.traces(Filters(trace_id=f"{1:032x}"), 1)
        store.close()
        if summary.span_count != big + rounds * batch:
            raise SystemExit(f"harness error: {cls.__name__} counted {summary.span_count} spans")
    return into_big, into_new, build


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--big", type=int, default=131_072)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"{args.batch}-span writes, trace of {args.big} spans vs a new trace, median of {args.rounds}"
          " (wall clock; other processes share this machine)")  # fmt: skip
    print(f"{'store':<12}{'into big (ms)':>15}{'into new (ms)':>15}{'big/new':>9}")
    medians = {}
    for name, cls in (("incremental", SQLiteStore), ("full", FullRollup)):
        big, new, _build = run(cls, args.big, args.batch, args.rounds)
        mb, mn = statistics.median(big), statistics.median(new)
        medians[name] = mb
        print(f"{name:<12}{mb * 1e3:>15.1f}{mn * 1e3:>15.1f}{mb / mn:>9.2f}")
    print(f"full/incremental into the big trace: {medians['full'] / medians['incremental']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
