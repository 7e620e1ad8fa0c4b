"""Every dashboard page and API call over SQLite and over ClickHouse, same data, side by side.

Fills a SQLite store and a ClickHouse store (the engine from the chdb-core wheel, served over HTTP on this machine)
with the same N streams of M chunks (``dashboard_queries.fill``: one trace per stream, spread over 6 hours), then
requests every route through the real Flask app (test client: server-side time, HTTP to ClickHouse included) and
prints p50/p95 per route for both stores and their ratio, next to the 300 ms target.

    python bench/clickhouse_queries.py [--streams 20000] [--chunks 50] [--repeat 15]

At the issue's volume SQLite and ``write`` are too slow to fill; ``--generate`` fills ClickHouse alone, inside the
server (``clickhouse_generate``: INSERT ... SELECT FROM numbers(), then the store's own aggregate fold), spread
over ``--days`` days, and times every route there, printing how long generation took and the disk it uses:

    python bench/clickhouse_queries.py --generate --streams 10000000 --chunks 10 --repeat 10

Exits non-zero on a harness error (a non-200 answer).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from clickhouse_generate import generate
from dashboard_queries import fill
from streamscope.collector.model import Filters
from streamscope.collector.store.clickhouse import ClickHouseStore
from streamscope.collector.store.sqlite import SQLiteStore
from streamscope.dashboard import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import chserver

TARGET_MS = 300.0


def routes(store: Any) -> list[tuple[str, str]]:
    newest = store.streams(Filters(), 1)[0]
    return [
        ("overview 24h", "/"), ("overview 1h", "/?range=1h"), ("overview model", "/?model=gpt-4o-mini&range=24h"),
        ("models", "/models"), ("traces", "/traces"), ("traces filtered", "/traces?service=chat-api&outcome=error"),
        ("traces search", "/traces?q=claude"), ("streams", "/streams"),
        ("streams filtered", "/streams?model=claude-haiku&min_ttft=0.3"), ("trace detail", f"/traces/{newest.trace_id}"),
        ("live", "/live"), ("api overview", "/api/overview?range=6h"), ("api traces", "/api/traces?limit=100"),
        ("api streams", "/api/streams?limit=100"), ("api chunks", f"/api/streams/{newest.span_id}/chunks"),
        ("api live", "/api/live"),
    ]  # fmt: skip


def timings(
    store: Any, urls: list[tuple[str, str]], repeat: int
) -> tuple[dict[str, tuple[float, float]], bool]:
    client = create_app({"stats_ttl": 0}, store=store).test_client()  # no reuse: every request recomputes
    out, failed = {}, False
    for name, url in urls:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                print(f"harness error: {url} answered {r.status_code}", file=sys.stderr)
                failed = True
                break
        times.sort()
        out[name] = (statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))])
    return out, failed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=20_000)
    ap.add_argument("--chunks", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--generate", action="store_true", help="ClickHouse alone, generated inside the server")
    ap.add_argument(
        "--days", type=float, default=10.0, help="with --generate: the days the streams spread over"
    )
    ap.add_argument(
        "--fold-hours",
        type=float,
        default=None,
        help="with --generate: fold aggregates of the last N hours only (the timed routes read <= 24 h)",
    )
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-chq-"))
    server = chserver.start(work / "clickhouse")
    try:
        return generated(a, server) if a.generate else side_by_side(a, server, work)
    finally:
        server.stop()


def side_by_side(a: argparse.Namespace, server: chserver.Server, work: Path) -> int:
    now = time.time()
    stores: dict[str, Any] = {"sqlite": SQLiteStore(str(work / "db.sqlite"), synchronous="OFF"),
                              "clickhouse": ClickHouseStore.from_url(server.url("q", fsync="0"))}  # fmt: skip
    for name, store in stores.items():
        t = time.perf_counter()
        fill(store, a.streams, a.chunks, now, span_s=6 * 3600)
        store.settle()  # ClickHouse derives summaries and aggregates after the write
        print(
            f"{name}: filled {a.streams:,} streams / {a.streams * a.chunks:,} chunks in "
            f"{time.perf_counter() - t:.1f} s",
            file=sys.stderr,
        )
    urls = routes(stores["sqlite"])
    results, failed = {}, False
    for name, store in stores.items():
        results[name], bad = timings(store, urls, a.repeat)
        failed |= bad
    print(
        f"{a.streams:,} streams, {a.streams * a.chunks:,} chunk rows; {a.repeat} requests per route; "
        f"target p95 {TARGET_MS:.0f} ms"
    )
    print(
        f"{'route':<18} {'sqlite p50':>10} {'p95':>8} {'clickhouse p50':>15} {'p95':>8} {'ch/sqlite p95':>14}"
    )
    for name, _ in urls:
        s50, s95 = results["sqlite"][name]
        c50, c95 = results["clickhouse"][name]
        flag = "" if c95 <= TARGET_MS else "  (over target)"
        print(f"{name:<18} {s50:>10.1f} {s95:>8.1f} {c50:>15.1f} {c95:>8.1f} {c95 / s95:>13.2f}x{flag}")
    for store in stores.values():
        store.close()
    return 1 if failed else 0


def generated(a: argparse.Namespace, server: chserver.Server) -> int:
    store = ClickHouseStore.from_url(server.url("q", fsync="0"))
    print(
        f"generating {a.streams:,} streams / {a.streams * a.chunks:,} chunk rows over {a.days:g} days ...",
        file=sys.stderr,
    )
    t = time.perf_counter()
    import clickhouse_connect

    slow = clickhouse_connect.get_client(host="127.0.0.1", port=server.http_port, send_receive_timeout=3600)
    fold_s = None if a.fold_hours is None else a.fold_hours * 3600
    took = generate(store, a.streams, a.chunks, time.time(), a.days * 86400, client=slow, fold_s=fold_s)
    total = time.perf_counter() - t
    disk = store.storage_bytes()
    urls = routes(store)
    results, failed = timings(store, urls, a.repeat)
    counts = store.counts()
    print(
        f"ClickHouse: {counts['streams']:,} streams, {counts['chunks']:,} chunk rows, {counts['spans']:,} spans over "
        f"{a.days:g} days; {a.repeat} requests per route; target p95 {TARGET_MS:.0f} ms"
    )
    print(
        f"generation {total:.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in took.items())
        + f"); {disk / 1e9:.2f} GB on disk"
        + ("" if a.fold_hours is None else f"; aggregates folded for the last {a.fold_hours:g} h only")
    )
    print(f"{'route':<18} {'p50 ms':>8} {'p95 ms':>8}  target")
    for name, _ in urls:
        c50, c95 = results[name]
        print(f"{name:<18} {c50:>8.1f} {c95:>8.1f}  {'met' if c95 <= TARGET_MS else 'OVER'}")
    store.close()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
