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

``--data-dir DIR`` keeps the generated ClickHouse data in DIR (default: a temporary directory), and
``--data-dir DIR --reuse`` times the routes again against data generated earlier, without regenerating (the
store's migrations run on start, so an older schema is brought up to date first):

    python bench/clickhouse_queries.py --generate --streams 10000000 --chunks 10 --data-dir /work/ch10m
    python bench/clickhouse_queries.py --data-dir /work/ch10m --reuse --repeat 10

Beside p50/p95 each route prints the rows ClickHouse read to answer one request (the sum of ``read_rows`` of the
queries the request ran): a route that reads O(all data) instead of O(what it shows) stands out there.

Exits non-zero on a harness error (a non-200 answer).
"""

from __future__ import annotations

import argparse
import shutil
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


class CountingClient:
    """The store's client, counting the rows ClickHouse read (``read_rows`` of every query's summary)."""

    def __init__(self, client: Any) -> None:
        self.client, self.read_rows = client, 0

    def query(self, *args: Any, **kw: Any) -> Any:
        res = self.client.query(*args, **kw)
        self.read_rows += int((getattr(res, "summary", None) or {}).get("read_rows", 0))
        return res

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def routes(store: Any) -> list[tuple[str, str]]:
    newest = store.streams(Filters(), 1)[0]
    return [
        ("overview 24h", "/"), ("overview 1h", "/?range=1h"), ("overview model", "/?model=gpt-4o-mini&range=24h"),
        ("models", "/models"), ("traces", "/traces"), ("traces filtered", "/traces?service=chat-api&outcome=error"),
        ("traces search", "/traces?q=claude"), ("streams", "/streams"),
        ("streams filtered", "/streams?model=claude-haiku&min_ttft=0.3"), ("trace detail", f"/traces/{newest.trace_id}"),
        ("live", "/live"), ("api overview", "/api/overview?range=6h"), ("api traces", "/api/traces?limit=100"),
        ("api streams", "/api/streams?limit=100"), ("api chunks", f"/api/streams/{newest.span_id}/chunks"),
        ("api live", "/api/live"), ("errors", "/errors"), ("sessions", "/sessions"),
        ("session", f"/sessions/{newest.session_id}"),
        ("compare models", "/compare?model_a=gpt-4o-mini&model_b=claude-haiku&range=24h"),
    ]  # fmt: skip


def picked(urls: list[tuple[str, str]], names: str | None) -> list[tuple[str, str]]:
    """The routes named in ``names`` (comma-separated), or all of them."""
    if not names:
        return urls
    wanted = {r.strip() for r in names.split(",")}
    unknown = wanted - {name for name, _ in urls}
    if unknown:
        raise SystemExit(f"no route named {', '.join(sorted(unknown))}")
    return [(name, url) for name, url in urls if name in wanted]


def timings(
    store: Any, urls: list[tuple[str, str]], repeat: int
) -> tuple[dict[str, tuple[float, float]], bool]:
    client = create_app({"stats_ttl": 0}, store=store).test_client()  # no reuse: every request recomputes
    out, failed = {}, False
    for name, url in urls:
        times = []
        client.get(url)  # warm-up (not timed): the first request of a route pays for connections and caches
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
        "--data-dir",
        type=Path,
        default=None,
        help="keep the ClickHouse server's data here (default: a temporary directory)",
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="with --data-dir: time the routes against data generated earlier, without generating",
    )
    ap.add_argument(
        "--days", type=float, default=10.0, help="with --generate: the days the streams spread over"
    )
    ap.add_argument(
        "--fold-hours",
        type=float,
        default=None,
        help="with --generate: fold aggregates of the last N hours only (the timed routes read <= 24 h)",
    )
    ap.add_argument(
        "--routes",
        default=None,
        help="time only these routes (comma-separated names as printed, e.g. 'sessions,session,traces')",
    )
    a = ap.parse_args()
    if a.reuse and a.data_dir is None:
        ap.error("--reuse needs --data-dir DIR (the directory an earlier --generate --data-dir DIR filled)")
    if a.reuse and not (a.data_dir / "data").is_dir():
        ap.error(f"{a.data_dir} holds no generated data (no {a.data_dir / 'data'} directory)")
    work = Path(tempfile.mkdtemp(prefix="bench-chq-"))
    server = chserver.start(a.data_dir or work / "clickhouse", timeout=600)
    try:
        if a.reuse:
            return reused(a, server)
        return generated(a, server) if a.generate else side_by_side(a, server, work)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)  # the run's stores (~0.7 GB) would stay in the temp dir


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
    urls = picked(routes(stores["sqlite"]), a.routes)
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
    print(
        f"generation {total:.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in took.items())
        + f") over {a.days:g} days"
        + ("" if a.fold_hours is None else f"; aggregates folded for the last {a.fold_hours:g} h only")
        + (
            ""
            if a.data_dir is None
            else f"; data kept in {a.data_dir} (rerun the timings with --data-dir {a.data_dir} --reuse)"
        )
    )
    return report(a, store)


def reused(a: argparse.Namespace, server: chserver.Server) -> int:
    t = time.perf_counter()
    store = ClickHouseStore.from_url(server.url("q", fsync="0"))  # runs any migration the data lacks
    print(f"reusing {a.data_dir}: server up and schema current in {time.perf_counter() - t:.1f} s")
    return report(a, store)


def report(a: argparse.Namespace, store: ClickHouseStore) -> int:
    disk = store.storage_bytes()
    counts = store.counts()
    urls = picked(routes(store), a.routes)
    counting = CountingClient(store.client)
    store._q.c = counting  # the read path's client: count what each route reads
    results, failed = timings(store, urls, a.repeat)
    rows = {}
    for name, url in urls:  # one more request per route, counted alone
        counting.read_rows = 0
        create_app({"stats_ttl": 0}, store=store).test_client().get(url)
        rows[name] = counting.read_rows
    print(
        f"ClickHouse: {counts['streams']:,} streams, {counts['chunks']:,} chunk rows, {counts['spans']:,} spans;"
        f" {disk / 1e9:.2f} GB on disk; {a.repeat} requests per route; target p95 {TARGET_MS:.0f} ms"
    )
    print(f"{'route':<18} {'p50 ms':>8} {'p95 ms':>8}  {'target':<6} {'rows read':>12}")
    for name, _ in urls:
        c50, c95 = results[name]
        print(
            f"{name:<18} {c50:>8.1f} {c95:>8.1f}  {'met' if c95 <= TARGET_MS else 'OVER':<6} {rows[name]:>12,}"
        )
    store.close()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
