"""Where a ClickHouse write spends its time, phase by phase, for both span shapes, in one run.

    .venv/bin/python bench/clickhouse_ingest_phases.py [--bodies 400]

In this process (no HTTP, no senders): each shape's bodies (512 spans each, ``clickhouse_ingest``'s) are parsed
and decoded, normalised, merged into writes of at most 20,000 rows as the collector's pipeline does, and written
to a ClickHouse engine served from the chdb-core wheel; then one derive pass runs. Collector CPU (this thread's
CPU time, so the server's and the clickhouse-connect pool threads' work is apart) per span for: decode,
normalise, the whole ``Writer.write`` (thread CPU of every writer thread: process CPU less the server), the
derive pass. The server's side comes from ``system.query_log``: per statement kind, rows and bytes written,
server CPU (``UserTimeMicroseconds + SystemTimeMicroseconds``) per span, and ``system.part_log`` parts per table.
The garbage collector is tuned as in ``streamscope collector``. Numbers share the machine with whatever else runs: compare the two shapes of one run, not runs.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from itertools import chain
from pathlib import Path

from clickhouse_ingest import GenericPool
from collector_ingest import SPANS_PER_BODY, BodyPool, cpu_by_process

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import chserver

MAX_BATCH_ROWS = 20_000  # pipeline.Ingestor's default
# clickhouse-local keeps no query or part log unless configured
LOGS = (
    "<query_log><database>system</database><table>query_log</table></query_log>"
    "<part_log><database>system</database><table>part_log</table></part_log>"
)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def profile(server: chserver.Server, db: str, pool: BodyPool, n_bodies: int) -> dict[str, float]:
    from streamscope.collector.decode import decode_body
    from streamscope.collector.model import IngestBatch
    from streamscope.collector.normalise import normalise_checked
    from streamscope.collector.store.clickhouse import ClickHouseStore

    store = ClickHouseStore.from_url(server.url(db))
    bodies = [pool.next() for _ in range(n_bodies)]
    spans = n_bodies * SPANS_PER_BODY
    out: dict[str, float] = {}
    t = time.thread_time()
    decoded = [decode_body(b) for b in bodies]
    out["decode"] = time.thread_time() - t
    t = time.thread_time()
    batches = [normalise_checked(d)[0] for d in decoded]
    out["normalise"] = time.thread_time() - t
    merged: list[IngestBatch] = []
    group: list[IngestBatch] = []
    rows = 0
    for b in batches:
        if group and rows + len(b) > MAX_BATCH_ROWS:
            merged.append(group_batch(group))
            group, rows = [], 0
        group.append(b)
        rows += len(b)
    merged.append(group_batch(group))
    store.client.command("SYSTEM FLUSH LOGS")
    t0 = time.time()
    srv = sum(cpu_by_process(server.proc.pid).values())
    c = _cpu()
    for m in merged:
        store.write(m)
    out["write"] = _cpu() - c
    c = _cpu()
    store.settle()
    out["derive"] = _cpu() - c
    time.sleep(2)  # background merges of the new parts
    out["server process CPU (write, derive, 2 s of merges)"] = (
        sum(cpu_by_process(server.proc.pid).values()) - srv
    )
    store.client.command("SYSTEM FLUSH LOGS")
    out = {k: v / spans * 1e6 for k, v in out.items()}
    q = store.client.query(
        "SELECT query_kind, splitByChar(' ', replaceRegexpAll(query, '\\\\s+', ' '))[3] AS what, count(),"
        " sum(written_rows), sum(written_bytes), sum(read_rows),"
        " sum(ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds'])"
        " FROM system.query_log WHERE type = 'QueryFinish' AND event_time >= toDateTime({t:Float64})"
        " AND has(databases, {db:String}) GROUP BY query_kind, what ORDER BY 7 DESC",
        parameters={"t": t0 - 1, "db": db},
    ).result_rows
    for kind, what, n, wrows, wbytes, rrows, us in q:
        out[f"server {kind} {what[:40]} x{n} (rows w {wrows} r {rrows}, {wbytes / spans:.0f} B/span)"] = (
            us / spans
        )
    parts = store.client.query(
        "SELECT table, count(), sum(rows), sum(size_in_bytes) FROM system.part_log WHERE database = {db:String}"
        " AND event_type = 'NewPart' AND event_time >= toDateTime({t:Float64}) GROUP BY table ORDER BY table",
        parameters={"t": t0 - 1, "db": db},
    ).result_rows
    for table, n, prow, pbytes in parts:
        out[f"parts {table}: {n} parts, {prow} rows, {pbytes / spans:.0f} B/span"] = float("nan")
    store.close()
    return out


def group_batch(group: list[object]) -> object:
    from streamscope.collector.model import IngestBatch

    bs: list[IngestBatch] = group  # type: ignore[assignment]
    return IngestBatch(
        spans=tuple(chain.from_iterable(b.spans for b in bs)),
        streams=tuple(chain.from_iterable(b.streams for b in bs)),
        chunks=tuple(chain.from_iterable(b.chunks for b in bs)),
        live=tuple(chain.from_iterable(b.live for b in bs)),
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bodies", type=int, default=400)
    a = ap.parse_args()
    from streamscope.collector.gc_tuning import tune_gc

    tune_gc()  # as `streamscope collector` does
    work = Path(tempfile.mkdtemp(prefix="bench-ch-phases-"))
    server = chserver.start(work / "clickhouse", extra_config=LOGS)
    results: dict[str, dict[str, float]] = {}
    try:
        for shape, pool in (("chunk", BodyPool(8)), ("generic", GenericPool(8))):
            results[shape] = profile(server, f"p_{shape}", pool, a.bodies)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)  # the run's stores (~0.7 GB) would stay in the temp dir
    print(
        f"{a.bodies} bodies x {SPANS_PER_BODY} spans per shape; us per span (shared machine: compare shapes)"
    )
    for shape, res in results.items():
        print(f"\n{shape} spans")
        for k, v in res.items():
            print(f"  {k:90} {v:8.2f}" if v == v else f"  {k}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
