"""Ingest into ClickHouse through one and two collector processes, beside SQLite, in one run.

    .venv/bin/python bench/clickhouse_ingest.py [--duration 10] [--threads 32]

Loads, each for ``--duration`` seconds of closed-loop OTLP/HTTP protobuf senders (in this process):

* ``sqlite x1``: one ``streamscope collector --db`` (the embedded default, for comparison);
* ``clickhouse x1`` and ``clickhouse x2``: one or two ``streamscope collector --store clickhouse://...`` on the
  ClickHouse engine served from the chdb-core wheel (``streamscope.collector.store.clickhouse_local``), the
  senders spread round-robin over the collectors.

Two span shapes, 512 spans per body: our SDK's (4 traces x root + LLM stream span + 126 ``streamscope.chunk``
spans, stored as stream and chunk rows) and generic OTel spans that are not chunks (8 traces x 64 plain spans).
A 200 means stored, so acknowledged spans/s is stored spans/s; on 503 a sender waits 0.1 s and retries. Every
number shares 2 cores with the senders and the ClickHouse server (and with whatever else runs): CPU per span is
each collector's own user+system time over the spans it acknowledged. After each ClickHouse row the collectors
are stopped (each runs its last derive pass), the stored rows are counted and must match what was acknowledged,
and the derived rows must count every stream and trace once (exit 1 otherwise). The targets are printed beside
the results: >= 100k spans/s with two collectors, <= 8 us collector CPU per span. The whole run (two shapes,
three stores each) takes about 3 minutes.

A sustained load, one row, the rate interval by interval (the 10 s rows above are a fresh store's first seconds)::

    .venv/bin/python bench/clickhouse_ingest.py --shapes chunk --stores "clickhouse x2" --duration 300 --interval 15
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector_ingest import SPANS_PER_BODY, BodyPool, _kv, cpu_by_process

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import chserver

NS = 1_000_000_000


class GenericPool(BodyPool):
    """Bodies of generic OTel spans (HTTP/DB-like, no GenAI, no chunks) with unique ids, like BodyPool's."""

    def __init__(self, n_base: int, seed: int = 2) -> None:
        rng = random.Random(seed)
        t0 = time.time_ns() - 60 * NS
        self.bases = []
        for _ in range(n_base):
            req = ExportTraceServiceRequest()
            rs = req.resource_spans.add()
            rs.resource.attributes.extend([_kv("service.name", "bench-generic")])
            ss = rs.scope_spans.add()
            ss.scope.name = "generic"
            ids: list[bytes] = []
            for t in range(8):
                tid, root = rng.randbytes(16), rng.randbytes(8)
                ids += [tid, root]
                start = t0 + t * NS
                s = ss.spans.add(trace_id=tid, span_id=root, name="GET /items", kind=2, start_time_unix_nano=start,
                                 end_time_unix_nano=start + 50_000_000)  # fmt: skip
                s.attributes.extend([_kv("http.method", "GET"), _kv("http.route", "/items")])
                for i in range(63):
                    sid = rng.randbytes(8)
                    ids.append(sid)
                    at = start + i * 500_000
                    c = ss.spans.add(trace_id=tid, span_id=sid, parent_span_id=root, name="SELECT items", kind=3,
                                     start_time_unix_nano=at, end_time_unix_nano=at + 400_000)  # fmt: skip
                    c.attributes.extend([_kv("db.system", "postgresql"), _kv("db.statement", f"SELECT {i}")])
            body = req.SerializeToString()
            positions: set[int] = set()
            for ident in ids:
                start_at = 0
                while (k := body.find(ident, start_at)) >= 0:
                    positions.add(k)
                    start_at = k + 1
            parts, prev = [], 0
            for p in sorted(positions):
                if p < prev:
                    continue
                parts.append(body[prev:p])
                prev = p + 4
            parts.append(body[prev:])
            self.bases.append(parts)
        self.counter = 0
        self.lock = threading.Lock()


def start_collector(args: list[str]) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "streamscope", "collector", "--http-port", "0", "--grpc-port", "0", *args]
    # the collectors' own log (waitress's queue-depth warnings under this load) goes to a file, not the table
    with open(Path(tempfile.gettempdir()) / "streamscope-bench-collectors.log", "a") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"harness error: the collector did not start ({' '.join(args)})")
        m = re.match(r"listening on http://[^:]+:(\d+)", line)
        if m:
            return proc, int(m.group(1))


def run(
    ports: list[int],
    pids: list[int],
    pool: BodyPool,
    duration: float,
    threads: int,
    server_pid: int,
    interval: float = 0.0,
) -> dict[str, Any]:
    acked = [0] * threads
    stop = threading.Event()

    def sender(k: int) -> None:
        conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=60) for p in ports]
        i = k
        while not stop.is_set():
            body = pool.next()
            while not stop.is_set():
                conn = conns[i % len(conns)]
                i += 1
                try:
                    conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
                    r = conn.getresponse()
                    r.read()
                    if r.status == 200:
                        acked[k] += SPANS_PER_BODY
                        break
                except (OSError, http.client.HTTPException):
                    conns[(i - 1) % len(conns)] = http.client.HTTPConnection(
                        "127.0.0.1", ports[(i - 1) % len(ports)]
                    )
                time.sleep(0.1)

    cpu0 = [sum(cpu_by_process(p).values()) for p in pids]
    srv0 = sum(cpu_by_process(server_pid).values())
    t0 = time.perf_counter()
    ts = [threading.Thread(target=sender, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    if interval > 0:  # the rate and each process's CPU per span, interval by interval (a sustained load)
        last, last_cpu, last_srv, last_t = 0, cpu0, srv0, t0
        while (left := duration - (time.perf_counter() - t0)) > 0:
            time.sleep(min(interval, left))
            n, now_t = sum(acked), time.perf_counter()
            now_cpu = [sum(cpu_by_process(p).values()) for p in pids]
            now_srv = sum(cpu_by_process(server_pid).values())
            done = max(1, n - last)
            print(
                f"  {now_t - t0:6.0f} s {(n - last) / (now_t - last_t):>10,.0f} spans/s   ClickHouse"
                f" {(now_srv - last_srv) / done * 1e6:5.1f} us/span   collectors "
                + " ".join(
                    f"{(c - c0) / done * 1e6 * len(pids):.1f}"
                    for c, c0 in zip(now_cpu, last_cpu, strict=True)
                )
                + " us/span",
                flush=True,
            )
            last, last_cpu, last_srv, last_t = n, now_cpu, now_srv, now_t
            # the bodies' times move on with the clock, as an SDK's exports do (streams that just ended): a pool
            # built once would put a 5-minute load's every stream into the same few minute slots
            pool.bases = type(pool)(len(pool.bases)).bases
    else:
        time.sleep(duration)
    stop.set()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    cpu = [sum(cpu_by_process(p).values()) - c for p, c in zip(pids, cpu0, strict=True)]
    srv = sum(cpu_by_process(server_pid).values()) - srv0
    spans = sum(acked)
    return {"spans": spans, "rate": spans / wall, "cpu_us": [c / max(1, spans) * 1e6 * len(pids) for c in cpu],
            "server_us": srv / max(1, spans) * 1e6}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument(
        "--fsync", default="1", help="the store URL's fsync option (1: fsync every inserted part)"
    )
    ap.add_argument("--shapes", default="chunk,generic", help="comma-separated: chunk, generic")
    ap.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="print the rate and CPU per span every this many seconds (with a long --duration: sustained ingest)",
    )
    ap.add_argument(
        "--stores", default="sqlite x1,clickhouse x1,clickhouse x2", help="comma-separated rows to run"
    )
    a = ap.parse_args()
    shapes = [(f"{s} spans", BodyPool(8) if s == "chunk" else GenericPool(8)) for s in a.shapes.split(",")]
    wanted = {x.strip() for x in a.stores.split(",")}
    work = Path(tempfile.mkdtemp(prefix="bench-ch-"))
    server = chserver.start(work / "clickhouse")
    rows: list[tuple[str, str, dict[str, Any]]] = []
    ok = True
    try:
        from streamscope.collector import query
        from streamscope.collector.store.clickhouse import ClickHouseStore

        for shape, pool in shapes:
            for name, n in (("sqlite x1", 1), ("clickhouse x1", 1), ("clickhouse x2", 2)):
                if name not in wanted:
                    continue
                db = f"b{len(rows)}"
                if name.startswith("sqlite"):
                    procs = [start_collector(["--db", str(work / f"{db}.sqlite")])]
                else:
                    procs = [start_collector(["--store", server.url(db, fsync=a.fsync)]) for _ in range(n)]
                try:
                    res = run(
                        [p for _, p in procs],
                        [pr.pid for pr, _ in procs],
                        pool,
                        a.duration,
                        a.threads,
                        server.proc.pid,
                        a.interval,
                    )
                finally:
                    for pr, _ in procs:
                        pr.terminate()
                        pr.wait(30)
                if name.startswith("clickhouse"):
                    store = ClickHouseStore.from_url(server.url(db))
                    c = store.counts()
                    counted = query.stats(store).to_dict()["total"]["count"]
                    store.close()
                    stored = c["spans"] + c["chunks"]
                    if stored != res["spans"]:
                        print(
                            f"harness error: {name} {shape}: stored {stored} != acknowledged {res['spans']}"
                        )
                        ok = False
                    traces = res["spans"] // SPANS_PER_BODY * (4 if shape.startswith("chunk") else 8)
                    if counted != c["streams"] or c["traces"] != traces:
                        print(
                            f"harness error: {name} {shape}: aggregates count {counted} streams of {c['streams']},"
                            f" {c['traces']} trace summaries for {traces} traces"
                        )
                        ok = False
                rows.append((shape, name, res))
                print(
                    f"{shape:14} {name:14} {res['rate']:>9,.0f} spans/s   CPU/span per collector "
                    + " ".join(f"{u:.1f}" for u in res["cpu_us"])
                    + " us",
                    flush=True,
                )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)  # the run's stores (~0.7 GB) would stay in the temp dir
    print(
        f"\n{a.threads} closed-loop senders, {a.duration:g} s per row, {SPANS_PER_BODY} spans per request; the machine's"
        " load shares every number (run it on a quiet machine)"
    )
    print("targets: >= 100,000 spans/s with clickhouse x2, <= 8.0 us collector CPU per span\n")
    print(
        "shape          store             spans/s   vs sqlite   ClickHouse us/span   collector CPU us/span (each)"
    )
    for shape, name, res in rows:
        base = next((r["rate"] for s, n, r in rows if s == shape and n == "sqlite x1"), float("nan"))
        server = f"{res['server_us']:>10.1f}" if name.startswith("clickhouse") else f"{'-':>10}"
        met = ""
        if name == "clickhouse x2":
            rate_ok, cpu_ok = res["rate"] >= 100_000, max(res["cpu_us"]) <= 8.0
            met = f"   rate {'met' if rate_ok else 'NOT met'}, CPU {'met' if cpu_ok else 'NOT met'}"
        print(
            f"{shape:14} {name:14} {res['rate']:>10,.0f} {res['rate'] / base:>9.2f}x   {server}          "
            + " ".join(f"{u:.1f}" for u in res["cpu_us"])
            + met
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
