"""Server-side response time of every dashboard page and API call over a large SQLite store.

Fills a collector SQLite store (through the collector's own ``SQLiteStore.write``) with N streams of M chunks each,
then requests every page and API through the real Flask app (test client: server-side time, no network) and prints
p50/p95 per route next to the 150 ms target.

    python bench/dashboard_queries.py                       # 10k streams x 100 chunks = 1M chunks
    python bench/dashboard_queries.py --streams 100000 --chunks 50   # the issue's 100k / 5M target
    python bench/dashboard_queries.py --db big.db --only "by user"    # reuse a filled store, a few routes

Exits non-zero on a harness error (a non-200 answer, a failed write).
"""

from __future__ import annotations

import argparse
import html
import os
import re
import statistics
import sys
import tempfile
import time

from streamscope.collector.model import NS, Chunk, IngestBatch, Span, SpanEvent, Stream
from streamscope.collector.store.sqlite import SQLiteStore
from streamscope.dashboard import create_app

MODELS = (
    ("gpt-4o-mini", "openai"),
    ("claude-haiku", "anthropic"),
    ("llama-3-8b", "ollama"),
    ("gpt-4.1", "openai"),
)
OUTCOMES = ("completed",) * 11 + ("abandoned", "cancelled", "error", "timeout")
TARGET_MS = 150.0


def fill(store: SQLiteStore, n_streams: int, n_chunks: int, now: float, span_s: float) -> None:
    """One trace per stream: root span + LLM span + stream row + chunk rows, spread over ``span_s`` seconds."""
    batch_size = max(1, 200_000 // max(n_chunks, 1))
    for first in range(0, n_streams, batch_size):
        spans, streams, chunks = [], [], []
        for n in range(first, min(first + batch_size, n_streams)):
            tid, root, llm = f"{n + 1:032x}", f"{2 * n + 1:016x}", f"{2 * n + 2:016x}"
            model, provider = MODELS[n % len(MODELS)]
            t0 = int((now - span_s + span_s * n / n_streams) * NS)
            ttft = 0.15 + (n % 17) * 0.02
            gap = 0.02 + (n % 5) * 0.005
            dur = ttft + gap * n_chunks
            end = t0 + int(dur * NS)
            service = ("chat-api", "agent-worker", "batch")[n % 3]
            outcome = OUTCOMES[n % len(OUTCOMES)]
            failed = outcome in ("error", "timeout")
            status = 2 if failed else 0
            message = (
                f"Error code: {(500, 429, 503)[n % 3]} - upstream said no"
                if outcome == "error"
                else "TimeoutError"
            )
            events = (
                (
                    SpanEvent(
                        "exception",
                        end,
                        {
                            "exception.type": "openai.APIStatusError"
                            if outcome == "error"
                            else "TimeoutError",
                            "exception.message": message,
                            "exception.stacktrace": "Traceback ...\n" * 20,
                        },
                    ),
                )
                if failed
                else ()
            )
            session, user = f"s{n // 10}", f"u{n % 1000}"  # sessions of 10 traces, 1,000 users
            spans.append(
                Span(
                    trace_id=tid,
                    span_id=root,
                    parent_span_id=None,
                    name="handle request",
                    kind=1,
                    start_ns=t0,
                    end_ns=end + 1000,
                    service=service,
                    session_id=session,
                    user_id=user,
                    status_code=status,
                    status_message=message if failed else "",
                    events=events,
                )
            )
            spans.append(
                Span(
                    trace_id=tid,
                    span_id=llm,
                    parent_span_id=root,
                    name=f"chat {model}",
                    kind=3,
                    start_ns=t0,
                    end_ns=end,
                    service=service,
                    status_code=status,
                    status_message=message if failed else "",
                    events=events,
                    attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": model},
                )
            )
            streams.append(
                Stream(
                    trace_id=tid,
                    span_id=llm,
                    start_ns=t0,
                    end_ns=end,
                    service=service,
                    model=model,
                    provider=provider,
                    outcome=outcome,
                    ttft=ttft,
                    time_to_first_chunk=ttft,
                    chunk_count=n_chunks,
                    gap_p50=gap,
                    gap_p95=gap * 1.5,
                    gap_max=gap * 2,
                    stall_count=0,
                    output_tokens=n_chunks,
                    input_tokens=50,
                    output_tokens_per_second=1 / gap,
                    cost_usd=1e-5 * n_chunks,
                    name=f"chat {model}",
                    session_id=session,
                    user_id=user,
                )
            )
            chunks.extend(
                Chunk(
                    span_id=llm,
                    index=i,
                    offset=ttft + gap * i,
                    gap=None if i == 0 else gap,
                    kind="content",
                    size=4,
                    content=f"t{i} ",
                )
                for i in range(n_chunks)
            )
        store.write(IngestBatch(spans=tuple(spans), streams=tuple(streams), chunks=tuple(chunks)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--chunks", type=int, default=100, help="chunks per stream")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db", help="reuse (or create) this database file instead of a temporary one")
    parser.add_argument("--only", help="time only the routes whose name contains this text (e.g. 'by user')")
    args = parser.parse_args()

    now = time.time()
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="dash-bench-")
        db = os.path.join(tmp.name, "bench.db")
    else:
        db = args.db
    store = SQLiteStore(db, synchronous="OFF")
    counts = store.counts()
    if counts["streams"] == 0:
        t = time.perf_counter()
        fill(store, args.streams, args.chunks, now, span_s=6 * 3600)
        print(
            f"filled {args.streams:,} streams / {args.streams * args.chunks:,} chunks "
            f"in {time.perf_counter() - t:.1f} s",
            file=sys.stderr,
        )
        counts = store.counts()
    from streamscope.collector.model import Filters

    newest = store.streams(Filters(), 1)[0]
    failed_stream = store.streams(Filters(outcome="error"), 1)[0]
    session = newest.session_id or ""
    user = newest.user_id or ""
    cold = create_app({"stats_ttl": 0}, store=store).test_client()  # every request recomputes
    warm = create_app(store=store).test_client()  # default: aggregates reused for 5 s
    routes = [
        ("overview 24h", "/"),
        ("overview 1h", "/?range=1h"),
        ("overview model filter", "/?model=gpt-4o-mini&range=24h"),
        ("models", "/models"),
        ("traces", "/traces"),
        ("traces filtered", "/traces?service=chat-api&outcome=error&min_duration=1"),
        ("traces search", "/traces?q=claude"),
        ("traces page 2", None),
        ("streams", "/streams"),
        ("streams filtered", "/streams?model=claude-haiku&min_ttft=0.3"),
        ("trace detail", f"/traces/{newest.trace_id}"),
        ("live", "/live"),
        ("api overview", "/api/overview?range=6h"),
        ("api traces", "/api/traces?limit=100"),
        ("api streams", "/api/streams?limit=100"),
        ("api chunks", f"/api/streams/{newest.span_id}/chunks"),
        ("api live", "/api/live"),
        ("trace detail (error)", f"/traces/{failed_stream.trace_id}"),
        ("errors 24h", "/errors"),
        ("errors 1h", "/errors?range=1h"),
        ("errors by user", f"/errors?user={newest.user_id}&range=7d"),
        ("sessions", "/sessions"),
        ("sessions by user", f"/sessions?user={newest.user_id}"),
        ("session", f"/sessions/{session}"),
        ("traces by session", f"/traces?session={session}"),
        ("quickstart", "/quickstart"),
        ("compare models 24h", "/compare?model_a=gpt-4o-mini&model_b=claude-haiku&range=24h"),
        ("compare streams", f"/compare?a={newest.span_id}&b={failed_stream.span_id}"),
        ("compare pick", f"/compare?a={newest.span_id}"),
        ("sessions page 2", "sessions-next"),
        ("errors by session", f"/errors?session={session}&range=7d"),
        ("overview by user", f"/?user={user}&range=24h"),
        ("overview by session", f"/?session={session}&range=24h"),
        ("api overview by user", f"/api/overview?user={user}&range=6h"),
        ("models by user", f"/models?user={user}&range=24h"),
        ("models by session", f"/models?session={session}&range=24h"),
        ("streams by user", f"/streams?user={user}"),
        ("streams by session", f"/streams?session={session}"),
        ("traces by user", f"/traces?user={user}"),
        ("api streams by user", f"/api/streams?user={user}&limit=100"),
        ("live by user", f"/live?user={user}"),
        ("api live by user", f"/api/live?user={user}"),
        ("compare by user", f"/compare?model_a={newest.model}&model_b=gpt-4o-mini&range=24h&user={user}"),
    ]
    first = cold.get("/api/traces?limit=50").get_json()
    sessions_next = re.search(r'<a href="([^"]*)" rel="next">', cold.get("/sessions").get_data(as_text=True))
    if sessions_next is None:
        print("harness error: the sessions list has no next page", file=sys.stderr)
        return 1
    rows = []
    failed = False
    for name, url in routes:
        if args.only and args.only not in name:
            continue
        if url is None:
            url = f"/traces?cursor={first['next']}"
        elif url == "sessions-next":
            url = html.unescape(sessions_next.group(1))
        result = [name, url]
        for client in (cold, warm):
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - t) * 1000)
                if response.status_code != 200:
                    print(f"harness error: {url} answered {response.status_code}", file=sys.stderr)
                    failed = True
                    break
            times.sort()
            result += [statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]]
        rows.append(result)
    print(
        f"store: {counts['streams']:,} streams, {counts['chunks']:,} chunks, {counts['spans']:,} spans "
        f"({os.path.getsize(db) / 1e6:,.0f} MB); {args.repeat} requests per route"
    )
    print(
        "cold: no reuse of aggregates; warm: default 5 s reuse of identical overview aggregates "
        f"(target p95 {TARGET_MS:.0f} ms)"
    )
    print(
        f"{'route':<22} {'cold p50':>9} {'cold p95':>9} {'p95/target':>10} {'warm p50':>9} {'warm p95':>9}  url"
    )
    for name, url, p50, p95, w50, w95 in rows:
        flag = "" if p95 <= TARGET_MS else "  (cold over target)"
        print(
            f"{name:<22} {p50:>9.1f} {p95:>9.1f} {p95 / TARGET_MS:>9.2f}x {w50:>9.1f} {w95:>9.1f}  {url[:50]}{flag}"
        )
    store.close()
    if tmp is not None:
        tmp.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
