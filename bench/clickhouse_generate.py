"""Fill a ClickHouse store with millions of streams inside the server (INSERT ... SELECT FROM numbers()).

Through ``write`` the 10M-stream / 100M-chunk volume would take hours of Python here; generated in the server it
takes minutes. The rows are the ones a collector stores for one trace per stream (root span + LLM span, a stream
row, its chunk rows, the trace summary), spread evenly over ``span_s`` seconds, with skewed distributions:
four models, three services, 90 % completed streams and the rest abandoned, cancelled, error or timeout, a
long-tailed time to first token, 1,000 users, sessions of ten traces. The aggregate rows are then folded by the
store's own fold from the generated streams (so ``/api/stats`` and the charts answer from exact aggregates),
which is the slow part: it runs the same Python fold as a collector.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from streamscope.collector import aggregates as agg
from streamscope.collector.model import NS
from streamscope.collector.store.clickhouse import ClickHouseStore
from streamscope.collector.store.clickhouse_schema import backfill_sessions
from streamscope.collector.store.clickhouse_writer import FIRST_WINS

MODELS = (
    ("gpt-4o-mini", "openai"),
    ("claude-haiku", "anthropic"),
    ("llama-3-8b", "ollama"),
    ("gpt-4.1", "openai"),
)
SERVICES = ("chat-api", "agent-worker", "batch")
PIECE = 1_000_000  # rows per INSERT ... SELECT (bounds the server's memory and each statement's time)


def _arr(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{x}'" for x in items) + "]"


def _columns(n: str, start: int, span_ns: int, total: int) -> dict[str, str]:
    """SQL expressions of one stream's fields from its number ``n`` (deterministic: hashes, not rand())."""
    u = f"(cityHash64({n}, 1) % 1000000) / 1e6"  # uniform in [0, 1)
    o = f"(cityHash64({n}, 2) % 1000) / 1e3"
    return {
        # trace ids are random like real ones (a counter would sort the trace-keyed tables by time for free)
        "tid": f"concat(leftPad(lower(hex(cityHash64({n}, 7))), 16, '0'), leftPad(lower(hex(cityHash64({n}, 8))), 16, '0'))",
        "root": f"leftPad(lower(hex(2 * {n} + 1)), 16, '0')",
        "llm": f"leftPad(lower(hex(2 * {n} + 2)), 16, '0')",
        "start": f"toInt64({start} + {n} * {span_ns // total} + cityHash64({n}, 3) % 1000000000)",
        "model": f"{_arr(tuple(m for m, _ in MODELS))}[1 + cityHash64({n}, 4) % {len(MODELS)}]",
        "provider": f"{_arr(tuple(p for _, p in MODELS))}[1 + cityHash64({n}, 4) % {len(MODELS)}]",
        "service": f"{_arr(SERVICES)}[1 + cityHash64({n}, 5) % {len(SERVICES)}]",
        "outcome": f"multiIf({o} < 0.90, 'completed', {o} < 0.95, 'abandoned', {o} < 0.97, 'cancelled',"
        f" {o} < 0.99, 'error', 'timeout')",
        "ttft": f"0.08 + pow({u}, 3) * 3.0",  # long tail: p50 ~0.45 s, p99 ~2.9 s
        "gap": f"0.01 + (cityHash64({n}, 6) % 1000) / 1e3 * 0.05",
        "session": f"concat('s', toString(intDiv({n}, 10)))",
        "user": f"concat('u', toString({n} % 1000))",
    }


def generate(
    store: ClickHouseStore,
    n_streams: int,
    n_chunks: int,
    now_s: float,
    span_s: float,
    client: Any = None,
    fold_s: float | None = None,
) -> dict[str, float]:
    """Fill the store (``client``: one with a longer timeout for the big statements); returns seconds per step.
    ``fold_s``: fold the aggregate rows of the last ``fold_s`` seconds only (the fold is the slow step)."""
    c, t = client or store.client, store.layout.table
    start, span_ns = int((now_s - span_s) * NS), int(span_s * NS)
    ver = FIRST_WINS - time.time_ns()
    took: dict[str, float] = {}

    def run(step: str, sql_for: Any, rows: int) -> None:
        t0 = time.perf_counter()
        for lo in range(0, rows, PIECE):
            c.command(sql_for(lo, min(PIECE, rows - lo)), settings={"max_partitions_per_insert_block": 1000})
        took[step] = time.perf_counter() - t0
        print(f"  {step}: {rows:,} rows in {took[step]:.1f} s", file=sys.stderr, flush=True)

    def streams(lo: int, k: int) -> str:
        f = _columns("n", start, span_ns, n_streams)
        dur = f"({f['ttft']} + {f['gap']} * {n_chunks})"
        return (
            f"INSERT INTO {t('streams')} (trace_id, span_id, start_ns, end_ns, service, model, provider, operation,"
            " outcome, ttft, time_to_first_chunk, chunk_count, gap_p50, gap_p95, gap_max, stall_count, output_tokens,"
            " input_tokens, output_tokens_per_second, usage_source, ttft_source, error_type, cost_usd, session_id,"
            " user_id, name, dialect, ver)"
            f" SELECT {f['tid']}, {f['llm']}, st, st + toInt64({dur} * 1e9), {f['service']}, {f['model']},"
            f" {f['provider']}, 'chat', oc, {f['ttft']}, {f['ttft']} * 0.95, {n_chunks}, {f['gap']}, {f['gap']} * 1.5,"
            f" {f['gap']} * 2, 0, {n_chunks}, 50, 1 / ({f['gap']}), 'provider', 'chunk',"
            f" if(oc = 'error', 'openai.APIStatusError', NULL), 1e-5 * {n_chunks}, {f['session']}, {f['user']},"
            f" concat('chat ', {f['model']}), 'streamscope', {ver}"
            f" FROM (SELECT number AS n, {f['start']} AS st, {f['outcome']} AS oc FROM numbers({lo}, {k}))"
        )

    def spans(lo: int, k: int) -> str:
        f = _columns("n", start, span_ns, n_streams)
        dur = f"({f['ttft']} + {f['gap']} * {n_chunks})"
        failed = "oc IN ('error', 'timeout')"
        return (
            f"INSERT INTO {t('spans')} (trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code,"
            " status_message, service, attributes, events, resource, scope, session_id, user_id, ver)"
            f" SELECT {f['tid']}, if(r, {f['root']}, {f['llm']}), if(r, NULL, {f['root']}),"
            f" if(r, 'handle request', concat('chat ', {f['model']})), if(r, 1, 3), st,"
            f" st + toInt64({dur} * 1e9) + if(r, 1000, 0), if({failed}, 2, 0),"
            f" if({failed}, 'Error code: 503 - upstream said no', ''), {f['service']},"
            f' if(r, \'{{}}\', concat(\'{{"gen_ai.operation.name":"chat","gen_ai.request.model":"\', {f["model"]},'
            " '\"}')), NULL, '{\"service.name\":\"bench\"}', 'bench', if(r, " + f["session"] + ", NULL),"
            f" if(r, {f['user']}, NULL), {ver}"
            f" FROM (SELECT intDiv(number, 2) AS n, number % 2 = 0 AS r, {f['start']} AS st, {f['outcome']} AS oc"
            f" FROM numbers({lo}, {k}))"
        )

    def traces(lo: int, k: int) -> str:
        f = _columns("n", start, span_ns, n_streams)
        dur = f"({f['ttft']} + {f['gap']} * {n_chunks})"
        return (
            f"INSERT INTO {t('traces')} (trace_id, root_name, service, start_ns, end_ns, status, span_count,"
            " stream_count, session_id, user_id, waiting_for_root, ver)"
            f" SELECT {f['tid']}, 'handle request', {f['service']}, st, st + toInt64({dur} * 1e9) + 1000,"
            f" if(oc IN ('error', 'timeout'), 'error', 'unset'), 2, 1, {f['session']}, {f['user']}, false, 1"
            f" FROM (SELECT number AS n, {f['start']} AS st, {f['outcome']} AS oc FROM numbers({lo}, {k}))"
        )

    def chunks(lo: int, k: int) -> str:
        f = _columns("n", start, span_ns, n_streams)
        return (
            f"INSERT INTO {t('chunks')} (span_id, idx, offset, gap, kind, size, tokens, content, day, ver)"
            f" SELECT {f['llm']}, i, {f['ttft']} + {f['gap']} * i, if(i = 0, NULL, {f['gap']}), 'content', 4, NULL,"
            f" concat('t', toString(i), ' '), toDate(fromUnixTimestamp64Nano({f['start']})), {ver}"
            f" FROM (SELECT intDiv(number, {n_chunks}) AS n, number % {n_chunks} AS i FROM numbers({lo}, {k}))"
        )

    run("streams", streams, n_streams)
    run("spans", spans, 2 * n_streams)
    run("traces", traces, n_streams)
    t0 = time.perf_counter()
    c.command(backfill_sessions(store.layout))  # the derive pass writes these beside each summary
    took["session_traces"] = time.perf_counter() - t0
    print(f"  session_traces: copied in {took['session_traces']:.1f} s", file=sys.stderr, flush=True)
    run("chunks", chunks, n_streams * n_chunks)
    t0 = time.perf_counter()
    step = agg.MINUTE * NS
    since = int((now_s - fold_s) * NS) if fold_s is not None else 0
    minutes = sorted({int(m) for (m,) in c.query(
        f"SELECT DISTINCT start_ns - start_ns % {step} FROM {t('streams')} WHERE start_ns >= {since}").result_rows})  # fmt: skip
    store._w.fold(set(minutes))  # 500 minutes per read
    took["aggregates (fold)"] = time.perf_counter() - t0
    print(
        f"  aggregates: {len(minutes):,} minutes folded in {took['aggregates (fold)']:.1f} s", file=sys.stderr
    )
    c.command(f"OPTIMIZE TABLE {t('aggregates')} FINAL")  # what background merges reach after a while
    return took
