"""What per-minute aggregates cost at write time and what they save at query time.

    .venv/bin/python bench/aggregates.py [--rounds 5] [--bodies 200] [--streams 100000]

Write cost (CPU time and wall clock): ``SQLiteStore.write`` of the collector-ingest bodies (512 spans: 4 streams + 504 chunk spans each,
decoded and normalised once, up front), synchronous=FULL, with aggregate maintenance (the real store) and
without it (the same store with the two aggregate steps skipped), alternating rounds on fresh databases; the
median of each is reported with the ratio. Batch sizes: 39 bodies (~20k rows, what the ingest writer
coalesces when many exporters wait: ``Ingestor.max_batch_rows``), 10 bodies, and 4 bodies (four closed-loop
senders, as in bench/collector_ingest.py). The aggregate work per transaction depends on the keys and slots it
touches, not on its size. "live": the writer's clock is a minute after the streams started (as an SDK exports
them), so their coarser slots are not sealed yet and a transaction touches minute rows only. "late": a day
after (a replay or a backfill), so every tier's rows are updated.

Query: ``query.stats`` over N streams spread across 6 hours (aggregates) against ``compute_stats`` over the
raw streams, with the largest relative percentile difference seen (the documented bound is 1 %).
Exits non-zero on a harness error.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collector_ingest import BodyPool
from streamscope.collector import aggregates as agg
from streamscope.collector import query
from streamscope.collector.decode import decode_request, parse_protobuf
from streamscope.collector.model import NS, Filters, IngestBatch, Stream
from streamscope.collector.normalise import normalise
from streamscope.collector.store.sqlite import SQLiteStore


class NoAggregates(SQLiteStore):
    """The store as it was before aggregates: no new-stream lookup, no aggregate rows."""

    def _new_streams(self, con: Any, streams: Sequence[Stream]) -> list[Stream]:
        return []

    def _add_aggregates(self, con: Any, streams: Sequence[Stream]) -> None:
        return None


def write_rate(
    cls: type[SQLiteStore], batches: list[IngestBatch], spans: int, now_ns: int
) -> tuple[float, float]:
    """(spans/s by the wall clock, spans per CPU-second of this process); ``now_ns`` is the writer's clock."""
    with tempfile.TemporaryDirectory() as d:
        store = cls(os.path.join(d, "w.db"))
        store.clock = lambda: now_ns
        t, c = time.perf_counter(), time.process_time()
        for b in batches:
            store.write(b)
        rate, cpu = spans / (time.perf_counter() - t), spans / (time.process_time() - c)
        store.close()
    return rate, cpu


def _pct_error(got: Any, want: Any, worst: list[float]) -> None:
    if isinstance(want, dict):
        for k, v in want.items():
            if k in ("p50", "p95", "p99") and isinstance(v, float) and v:
                worst[0] = max(worst[0], abs(got[k] - v) / abs(v))
            elif isinstance(v, (dict, list)):
                _pct_error(got[k], v, worst)
    elif isinstance(want, list):
        for g, w in zip(got, want, strict=True):
            _pct_error(g, w, worst)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bodies", type=int, default=200)
    ap.add_argument("--streams", type=int, default=100_000)
    args = ap.parse_args()

    pool = BodyPool(40)
    decoded = [normalise(decode_request(parse_protobuf(pool.next()))) for _ in range(args.bodies)]
    spans = args.bodies * 512
    writes: dict[tuple[int, str], tuple[float, float, list[float], list[float], float, float]] = {}
    first = min(st.start_ns for b in decoded for st in b.streams)
    clocks = {"live": first + 60 * NS, "late": first + 86400 * NS}
    for per, when in ((39, "live"), (10, "live"), (4, "live"), (10, "late")):
        batches = [IngestBatch(tuple(s for b in decoded[i : i + per] for s in b.spans),
                               tuple(s for b in decoded[i : i + per] for s in b.streams),
                               tuple(c for b in decoded[i : i + per] for c in b.chunks))
                   for i in range(0, len(decoded), per)]  # fmt: skip
        with_agg: list[float] = []
        without: list[float] = []
        cpu_with: list[float] = []
        cpu_without: list[float] = []
        for _ in range(args.rounds):
            for cls, wall, cpu in ((NoAggregates, without, cpu_without), (SQLiteStore, with_agg, cpu_with)):
                r, c = write_rate(cls, batches, spans, clocks[when])
                wall.append(r)
                cpu.append(c)
        writes[(per, when)] = (statistics.median(with_agg), statistics.median(without), with_agg, without,
                       statistics.median(cpu_with), statistics.median(cpu_without))  # fmt: skip

    with tempfile.TemporaryDirectory() as d:
        store = SQLiteStore(os.path.join(d, "q.db"), synchronous="OFF")
        now = time.time_ns()
        models = ("gpt-4o-mini", "claude-haiku", "llama-3-8b", "gpt-4.1")
        rows = []
        for n in range(args.streams):
            t0 = now - 6 * 3600 * NS + 6 * 3600 * NS * n // args.streams
            ttft = 0.15 + (n % 17) * 0.02 + (n % 7) * 0.001
            rows.append(Stream(trace_id=f"{n + 1:032x}", span_id=f"{n + 1:016x}", start_ns=t0,
                               end_ns=t0 + int((ttft + 2 + n % 13 * 0.1) * NS), service=("a", "b", "c")[n % 3],
                               model=models[n % 4], provider="p",
                               outcome=("completed", "completed", "completed", "error", "abandoned")[n % 5],
                               ttft=ttft, time_to_first_chunk=ttft, chunk_count=50, gap_p95=0.03 + n % 5 * 0.01,
                               gap_max=0.1, output_tokens=50, input_tokens=20,
                               output_tokens_per_second=20 + n % 11, cost_usd=1e-4))  # fmt: skip
        for i in range(0, len(rows), 5000):
            store.write(IngestBatch(streams=tuple(rows[i : i + 5000])))
        f = Filters(since_ns=now - 24 * 3600 * NS, until_ns=now)
        times_agg, times_raw = [], []
        got = want = None
        for _ in range(5):
            t = time.perf_counter()
            got = query.stats(store, "model", 1440, f).to_dict()
            times_agg.append(time.perf_counter() - t)
            t = time.perf_counter()
            want = query.compute_stats(
                store.streams(f, None), "model", 1440, (f.since_ns or 0, f.until_ns or 0)
            ).to_dict()
            times_raw.append(time.perf_counter() - t)
        store.close()
    if got is None or want is None or got["source"] != "aggregates" or got["total"]["count"] != args.streams:
        print("harness error: stats did not come from aggregates or lost streams")
        return 1
    worst = [0.0]
    _pct_error(got, want, worst)
    qa, qr = statistics.median(times_agg), statistics.median(times_raw)
    print(f"{'measurement':64} {'value':>14} {'ratio':>8}")
    print("-" * 88)
    for (per, when), (w, wo, _, _, cw, cwo) in writes.items():
        print(
            f"{f'SQLiteStore.write, {per}-body batches, {when}, without aggregates (spans/s)':64} {wo:14,.0f}"
        )
        print(
            f"{f'SQLiteStore.write, {per}-body batches, {when}, with aggregates (spans/s)':64} {w:14,.0f} {w / wo:7.3f}x"
        )
        print(f"{'  spans per CPU-second without / with aggregates':64} {cwo:14,.0f} {cw / cwo:7.3f}x")
        print(
            f"{'  write-time cost of aggregates: wall clock / CPU':64} {(1 - w / wo) * 100:8.1f}% / {(1 - cw / cwo) * 100:.1f}%"
        )
    print(f"{f'query.stats 24h, {args.streams:,} streams, from aggregates (ms)':64} {qa * 1e3:14.1f}")
    print(f"{'compute_stats over the raw streams (ms)':64} {qr * 1e3:14.1f} {qr / qa:7.1f}x")
    print(f"{'largest relative percentile difference (bound 1 %)':64} {worst[0] * 100:13.3f}%")
    for (per, when), (_, _, with_agg, without, _, _) in writes.items():
        print(f"{per}-body batches, {when}, {args.rounds} rounds: without {sorted(round(x) for x in without)}, "
              f"with {sorted(round(x) for x in with_agg)}")  # fmt: skip
    return 0 if worst[0] <= agg.RELATIVE_ERROR * (1 + 1e-9) else 1


if __name__ == "__main__":
    sys.exit(main())
