"""Collector ingest benchmark: spans/s from OTLP request to committed rows, lag, query latency, and the limits.

    .venv/bin/python bench/collector_ingest.py [--duration 20] [--threads 4] [--phoenix-venv DIR]

Load: OTLP/HTTP protobuf (and gRPC) bodies of 512 spans shaped like our SDK's output: 4 traces x (1 root +
1 LLM stream span with streamscope rollups + 126 ``streamscope.chunk`` spans), unique ids in every body.
The collector runs as its own process (``streamscope collector``, SQLite WAL, synchronous=FULL, its writes in a
child process); a 200 means "committed", so acknowledged spans/s is stored spans/s. Closed-loop senders (16 by
default, in this process, on the same 2 cores); on 503 they wait 0.1 s and retry. RSS and CPU are summed over the
collector and its writer process; CPU per span is printed for the collector and for the senders.
Then an open-loop phase offers twice the HTTP rate just measured (128 paced senders, 503s counted, not
retried) for the collector's peak RSS under overload.

Then the generic workload against a fresh collector (HTTP and the lag only, to keep the run near 3 minutes): the same
load with bodies of spans that are not ours, as OpenInference, OpenLLMetry, OpenLIT or a plain OTel SDK send them:
4 traces x (1 HTTP server span + 1 GenAI chat span in one of those dialects + 126 children named ``gen_ai.chunk``
with index/offset/gap/kind attributes); none of them is a chunk row: every attribute is decoded and stored as JSON
in the spans table (each resource and scope once, in span_origins). Both shapes are printed side by side: their
limits (parse, decode, store, one thread each; the raw SQLite limit of the generic shape is its span rows in the
spans table) and the CPU µs per span of every phase (span count on the wire, parse, decode, normalise, hand-off,
the writer's decode and store; with the garbage collector tuned as the collector's processes tune it).

Same run, for scale: raw protobuf parsing (the decode limit), our decode+normalise alone (per-span Python cost),
raw SQLite ``executemany`` of the chunk rows as one table row per chunk (the limit of that layout, which the store
no longer uses: it keeps a stream's chunks of one write in one block row). Phoenix: run side by side when
``--phoenix-venv`` points at a venv with ``arize-phoenix`` (same bodies, same load, stored spans counted in its
SQLite); otherwise the stored spans/s that Phoenix 20.26.1 reached on these bodies on this machine, when run
this way (``PHOENIX_CITED``), is printed for comparison.
Exits non-zero on harness errors (a collector that does not start, lost acknowledged spans, ...).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from streamscope.collector.decode import count_request_spans, decode_body, decode_request, parse_protobuf
from streamscope.collector.gc_tuning import tune_gc
from streamscope.collector.limits import Limits
from streamscope.collector.model import IngestBatch
from streamscope.collector.normalise import normalise
from streamscope.collector.store.sqlite import _INSERT_SPAN, SCHEMA, SQLiteStore, span_rows
from streamscope.collector.store.writer import decode_batch, encode_batch

NS = 1_000_000_000
SPANS_PER_BODY = 512
TRACES_PER_BODY = 4
CHUNKS_PER_TRACE = SPANS_PER_BODY // TRACES_PER_BODY - 2
MODELS = ["gpt-4o-mini", "gpt-4.1", "claude-sonnet-4", "llama-3.1-70b"]
# Stored spans/s of Phoenix 20.26.1 (its SQLite store) in two runs with --phoenix-venv: the same bodies and
# senders on this machine. Printed when Phoenix is not run side by side.
PHOENIX_CITED = (273, 282)


def _kv(key: str, v: Any) -> KeyValue:
    if isinstance(v, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=v))
    if isinstance(v, int):
        return KeyValue(key=key, value=AnyValue(int_value=v))
    if isinstance(v, float):
        return KeyValue(key=key, value=AnyValue(double_value=v))
    return KeyValue(key=key, value=AnyValue(string_value=str(v)))


def build_base(rng: random.Random, t0: int) -> tuple[bytes, list[bytes]]:
    """One body; returns it and every id in it (trace ids and span ids)."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([_kv("service.name", "bench-app"), _kv("service.version", "1.0"),
                                   _kv("telemetry.sdk.language", "python")])  # fmt: skip
    ss = rs.scope_spans.add()
    ss.scope.name = "streamscope"
    ids: list[bytes] = []
    for t in range(TRACES_PER_BODY):
        tid, root, llm = rng.randbytes(16), rng.randbytes(8), rng.randbytes(8)
        ids += [tid, root, llm]
        start = t0 + t * 3 * NS
        model = rng.choice(MODELS)
        ttft = rng.uniform(0.15, 0.9)
        gaps = [rng.uniform(0.004, 0.06) for _ in range(CHUNKS_PER_TRACE)]
        offs, acc = [], ttft
        for g in gaps:
            acc += g
            offs.append(acc)
        llm_start = start + 2_000_000
        llm_end = llm_start + int((offs[-1] + 0.01) * NS)
        s = ss.spans.add(trace_id=tid, span_id=root, name="POST /chat/stream", kind=2, start_time_unix_nano=start,
                         end_time_unix_nano=llm_end + 1_000_000)  # fmt: skip
        s.attributes.extend([_kv("http.method", "POST"), _kv("http.route", "/chat/stream"),
                             _kv("session.id", f"s{rng.randrange(1000)}")])  # fmt: skip
        srt = sorted(gaps)
        attrs = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model,
            "gen_ai.response.model": model, "gen_ai.request.stream": True, "gen_ai.response.id": f"chatcmpl-{t}",
            "gen_ai.usage.input_tokens": rng.randrange(20, 400), "gen_ai.usage.output_tokens": CHUNKS_PER_TRACE,
            "gen_ai.response.time_to_first_chunk": ttft, "streamscope.stream.outcome": "completed",
            "streamscope.stream.time_to_first_chunk": ttft, "streamscope.stream.time_to_first_token": ttft + 0.01,
            "streamscope.stream.chunk_count": CHUNKS_PER_TRACE, "streamscope.stream.gap_p50": srt[len(srt) // 2],
            "streamscope.stream.gap_p95": srt[int(len(srt) * 0.95)], "streamscope.stream.gap_max": srt[-1],
            "streamscope.stream.stall_count": 0, "streamscope.stream.output_tokens_per_second": 40.0,
            "streamscope.usage.source": "provider",
        }  # fmt: skip
        s = ss.spans.add(trace_id=tid, span_id=llm, parent_span_id=root, name=f"chat {model}", kind=3,
                         start_time_unix_nano=llm_start, end_time_unix_nano=llm_end)  # fmt: skip
        s.attributes.extend(_kv(k, v) for k, v in attrs.items())
        prev = 0.0
        for i, off in enumerate(offs):
            cid = rng.randbytes(8)
            ids.append(cid)
            at = llm_start + int(off * NS)
            c = ss.spans.add(trace_id=tid, span_id=cid, parent_span_id=llm, name="streamscope.chunk", kind=1,
                             start_time_unix_nano=at, end_time_unix_nano=at)  # fmt: skip
            c.attributes.extend([_kv("streamscope.chunk.index", i), _kv("streamscope.chunk.offset", off),
                                 _kv("streamscope.chunk.gap", off - prev), _kv("streamscope.chunk.kind", "content"),
                                 _kv("streamscope.chunk.size", 4)])  # fmt: skip
            prev = off
    return req.SerializeToString(), ids


#: The GenAI span of each trace in a generic body, one dialect per trace: (span name, attributes); ``M`` stands for
#: the model, ``I``/``O`` for the token counts, ``T`` for the time to first token.
GENERIC_LLM_SPANS: list[tuple[str, dict[str, Any]]] = [
    (
        "chat M",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "M",
            "gen_ai.response.model": "M",
            "gen_ai.response.id": "chatcmpl-1",
            "gen_ai.usage.input_tokens": "I",
            "gen_ai.usage.output_tokens": "O",
            "gen_ai.request.temperature": 0.7,
            "server.address": "api.openai.com",
        },
    ),  # plain OTel GenAI semconv
    (
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "M",
            "llm.provider": "openai",
            "llm.system": "openai",
            "llm.token_count.prompt": "I",
            "llm.token_count.completion": "O",
            "llm.invocation_parameters": '{"temperature": 0.7, "stream": true}',
            "input.mime_type": "application/json",
        },
    ),  # OpenInference
    (
        "openai.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "M",
            "gen_ai.response.model": "M",
            "gen_ai.usage.prompt_tokens": "I",
            "gen_ai.usage.completion_tokens": "O",
            "llm.is_streaming": True,
            "gen_ai.openai.api_base": "https://api.openai.com/v1/",
        },
    ),  # OpenLLMetry
    (
        "chat M",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "M",
            "gen_ai.usage.input_tokens": "I",
            "gen_ai.usage.output_tokens": "O",
            "gen_ai.server.time_to_first_token": "T",
            "gen_ai.request.is_stream": True,
        },
    ),  # OpenLIT
]


def build_generic(rng: random.Random, t0: int) -> tuple[bytes, list[bytes]]:
    """A body of spans that are not ours, as a plain OTel app sends them: per trace an HTTP server span, a GenAI
    chat span (plain semconv, OpenInference, OpenLLMetry, OpenLIT in turn) and 126 children named
    ``gen_ai.chunk`` whose index/offset/gap/kind attributes are not our ``streamscope.chunk.*`` names."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([_kv("service.name", "generic-app"), _kv("service.version", "2.3"),
                                   _kv("telemetry.sdk.language", "python"),
                                   _kv("telemetry.sdk.name", "opentelemetry")])  # fmt: skip
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.openai"
    ids: list[bytes] = []
    for t in range(TRACES_PER_BODY):
        tid, root, llm = rng.randbytes(16), rng.randbytes(8), rng.randbytes(8)
        ids += [tid, root, llm]
        start = t0 + t * 3 * NS
        model = rng.choice(MODELS)
        ttft = rng.uniform(0.15, 0.9)
        offs, acc = [], ttft
        for _ in range(CHUNKS_PER_TRACE):
            acc += rng.uniform(0.004, 0.06)
            offs.append(acc)
        llm_start = start + 2_000_000
        llm_end = llm_start + int((offs[-1] + 0.01) * NS)
        s = ss.spans.add(trace_id=tid, span_id=root, name="POST /v1/chat", kind=2, start_time_unix_nano=start,
                         end_time_unix_nano=llm_end + 1_000_000)  # fmt: skip
        s.attributes.extend([_kv("http.request.method", "POST"), _kv("http.route", "/v1/chat"),
                             _kv("url.path", "/v1/chat"), _kv("url.scheme", "https"),
                             _kv("http.response.status_code", 200), _kv("server.address", "chat.example.com"),
                             _kv("user_agent.original", "python-httpx/0.28.1")])  # fmt: skip
        name, shape = GENERIC_LLM_SPANS[t % len(GENERIC_LLM_SPANS)]
        fill = {"M": model, "I": rng.randrange(20, 400), "O": CHUNKS_PER_TRACE, "T": ttft}
        s = ss.spans.add(trace_id=tid, span_id=llm, parent_span_id=root, name=name.replace("M", model), kind=3,
                         start_time_unix_nano=llm_start, end_time_unix_nano=llm_end)  # fmt: skip
        s.attributes.extend(_kv(k, fill.get(v, v) if isinstance(v, str) else v) for k, v in shape.items())
        prev = 0.0
        for i, off in enumerate(offs):
            cid = rng.randbytes(8)
            ids.append(cid)
            at = llm_start + int(off * NS)
            c = ss.spans.add(trace_id=tid, span_id=cid, parent_span_id=llm, name="gen_ai.chunk", kind=1,
                             start_time_unix_nano=at, end_time_unix_nano=at)  # fmt: skip
            c.attributes.extend([_kv("gen_ai.chunk.index", i), _kv("gen_ai.chunk.offset", off),
                                 _kv("gen_ai.chunk.gap", off - prev), _kv("gen_ai.chunk.kind", "content")])  # fmt: skip
            prev = off
    return req.SerializeToString(), ids


class BodyPool:
    """Many bodies with globally unique ids, cheaply: variants of base bodies with the first 4 bytes of every id
    rewritten (one ``bytes.join`` per body, so the senders' CPU stays small next to the collector's)."""

    def __init__(
        self,
        n_base: int,
        seed: int = 1,
        build: Callable[[random.Random, int], tuple[bytes, list[bytes]]] = build_base,
    ) -> None:
        rng = random.Random(seed)
        t0 = time.time_ns() - 60 * NS  # streams that just ended, as an SDK exports them
        self.bases: list[list[bytes]] = []  # each body split around the 4 id bytes that vary
        for _ in range(n_base):
            body, ids = build(rng, t0)
            positions: set[int] = set()
            for ident in ids:
                start = 0
                while (i := body.find(ident, start)) >= 0:
                    positions.add(i)
                    start = i + 1
            parts, prev = [], 0
            for p in sorted(positions):
                if p < prev:  # overlaps the previous id's 4 bytes (random ids: practically never)
                    continue
                parts.append(body[prev:p])
                prev = p + 4
            parts.append(body[prev:])
            self.bases.append(parts)
        self.counter = 0
        self.lock = threading.Lock()

    def next(self) -> bytes:
        with self.lock:
            n = self.counter
            self.counter += 1
        parts = self.bases[n % len(self.bases)]
        return (n // len(self.bases) + 1).to_bytes(4, "little").join(parts)


# -- limits ------------------------------------------------------------------------------------------
PHASES = ("count", "parse", "decode", "normalise", "hand-off", "child", "store")
PHASE_NAMES = {
    "count": "span count on the wire (the span cap, before the parse)",
    "parse": "upb ParseFromString",
    "decode": "decode (C walker + Python), after the parse",
    "normalise": "normalise (dialects, stream rows)",
    "hand-off": "hand-off to the writer process (encode)",
    "child": "writer process: batch decoded",
    "store": "writer process: SQLiteStore.write (CPU)",
}


def bench_limits(pool: BodyPool, n: int = 200) -> dict[str, float]:
    """Each phase alone on ``n`` bodies, one thread: spans/s where a phase is a limit of its own, and CPU µs per
    span of each phase of the end-to-end path (``us_<phase>``)."""
    bodies = [pool.next() for _ in range(n)]
    spans = n * SPANS_PER_BODY
    out: dict[str, float] = {}

    def phase(name: str, run: Callable[[], Any]) -> Any:
        cpu, t = time.process_time(), time.perf_counter()
        result = run()
        out["us_" + name], out["wall_" + name] = (
            (time.process_time() - cpu) / spans * 1e6,
            time.perf_counter() - t,
        )
        return result

    cap = Limits().max_spans_per_request  # as the receivers call decode_body
    phase("count", lambda: [count_request_spans(b, cap) for b in bodies])
    phase("parse", lambda: [ExportTraceServiceRequest.FromString(b) for b in bodies])
    decoded = phase("decode", lambda: [decode_body(b, max_spans=cap) for b in bodies])
    out["us_decode"] -= out["us_parse"] + out["us_count"]
    batches = phase("normalise", lambda: [normalise(d) for d in decoded])
    groups = [IngestBatch(tuple(s for b in part for s in b.spans), tuple(s for b in part for s in b.streams),
                          tuple(c for b in part for c in b.chunks))
              for part in (batches[i : i + 10] for i in range(0, n, 10))]  # fmt: skip
    msgs = phase("hand-off", lambda: [bytes(encode_batch(g, 0, False)) for g in groups])
    child = phase("child", lambda: [decode_batch(m)[2:] for m in msgs])
    t = time.perf_counter()
    py = [normalise(decode_request(parse_protobuf(b))) for b in bodies]
    out["decode_py"] = spans / (time.perf_counter() - t)
    out["parse"] = spans / out["wall_parse"]
    out["decode"] = spans / (out["wall_decode"] + out["wall_normalise"])  # count + parse + decode + normalise
    del py
    with tempfile.TemporaryDirectory() as d:
        con = sqlite3.connect(os.path.join(d, "raw.db"), isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        if any(b.chunks for b in batches):  # our shape: the chunk rows, a table row per chunk
            con.execute('CREATE TABLE chunks (span_id TEXT, idx INTEGER, "offset" REAL, gap REAL, kind TEXT, size'
                        " INTEGER, tokens INTEGER, content TEXT, PRIMARY KEY (span_id, idx)) WITHOUT ROWID")  # fmt: skip
            rows = [tuple(c) for b in batches for c in b.chunks]
            insert = "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?)"
        else:  # generic spans: their rows in the spans table alone (with its unique index)
            con.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS streams")[0])
            rows = [r for b in batches for r in span_rows(b.spans).rows]
            insert = _INSERT_SPAN
        t = time.perf_counter()
        for i in range(0, len(rows), 5120):
            con.execute("BEGIN")
            con.executemany(insert, rows[i : i + 5120])
            con.execute("COMMIT")
        out["raw_sql"] = len(rows) / (time.perf_counter() - t)
        con.close()
        store = SQLiteStore(os.path.join(d, "store.db"))
        phase("store", lambda: [store.write(g, rows, chunks) for g, rows, chunks in child])
        out["store"] = spans / out["wall_store"]
        store.close()
    return out


# -- end to end --------------------------------------------------------------------------------------
def start_collector(db: str, queue: int) -> tuple[subprocess.Popen[str], int, int]:
    cmd = [sys.executable, "-m", "streamscope", "collector", "--db", db, "--http-port", "0", "--grpc-port", "0",
           "--queue-size", str(queue)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ports = {}
    while len(ports) < 2:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("harness error: the collector did not start")
        m = re.match(r"listening on (http|grpc)://[^:]+:(\d+)", line)
        if m:
            ports[m.group(1)] = int(m.group(2))
    return proc, ports["http"], ports["grpc"]


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the collector and its writer process)."""
    out = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
                out += process_tree(int(child))
    except OSError:
        pass
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of the process and its descendants."""
    total = 0.0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def cpu_ticks() -> list[int]:
    """The machine's CPU time by state (user, nice, system, idle, iowait, irq, softirq, steal) from /proc/stat."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def steal_share(before: list[int], after: list[int]) -> float:
    """The share of CPU time the hypervisor took from this machine between two ``cpu_ticks()``: when it is large,
    every CPU-bound number of the run is low (and CPU per span high)."""
    d = [b - a for a, b in zip(before, after, strict=True)]
    return d[7] / max(1, sum(d))


def cpu_by_process(pid: int) -> dict[int, float]:
    """User + system CPU seconds of the process and of each of its descendants (the writer process), by pid."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            out[p] = (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return out


def run_load(kind: str, port: int, pool: BodyPool, duration: float, threads: int, pid: int) -> dict[str, Any]:
    acked = [0]
    rejected = [0]
    latencies: list[float] = []
    stop = threading.Event()
    lock = threading.Lock()
    peak = [0.0]

    def http_worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = pool.next()
        while not stop.is_set():
            t = time.perf_counter()
            conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                with lock:
                    acked[0] += SPANS_PER_BODY
                    latencies.append(time.perf_counter() - t)
                body = pool.next()
            elif r.status in (429, 503):
                with lock:
                    rejected[0] += 1
                time.sleep(0.1)
            else:
                raise SystemExit(f"harness error: HTTP {r.status} {r.read()[:200]!r}")
        conn.close()

    def grpc_worker() -> None:
        with grpc.insecure_channel(
            f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)]
        ) as ch:
            stub = trace_service_pb2_grpc.TraceServiceStub(ch)
            req = ExportTraceServiceRequest.FromString(pool.next())
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    stub.Export(req, timeout=60)
                except grpc.RpcError as e:
                    if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
                        with lock:
                            rejected[0] += 1
                        time.sleep(0.1)
                        continue
                    raise
                with lock:
                    acked[0] += SPANS_PER_BODY
                    latencies.append(time.perf_counter() - t)
                req = ExportTraceServiceRequest.FromString(pool.next())

    def sampler() -> None:
        while not stop.wait(0.5):
            peak[0] = max(peak[0], rss_mb(pid))

    worker = http_worker if kind == "http" else grpc_worker
    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    ts.append(threading.Thread(target=sampler, daemon=True))
    cpu0, own0, ticks0 = cpu_by_process(pid), time.process_time(), cpu_ticks()
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    time.sleep(duration)
    stop.set()
    for t in ts:
        t.join(120)
    elapsed = time.perf_counter() - t0
    cpu1, own, steal = cpu_by_process(pid), time.process_time() - own0, steal_share(ticks0, cpu_ticks())
    cpu = sum(cpu1.values()) - sum(cpu0.values())
    receiving = cpu1.get(pid, 0.0) - cpu0.get(
        pid, 0.0
    )  # the receiving process; the rest is its writer process
    lat = sorted(latencies)
    return {
        "spans": acked[0], "rate": acked[0] / elapsed, "rejected": rejected[0], "peak_rss": peak[0],
        "cpu_us": cpu / max(1, acked[0]) * 1e6, "receiving_cpu_us": receiving / max(1, acked[0]) * 1e6,
        "writer_cpu_us": (cpu - receiving) / max(1, acked[0]) * 1e6, "sender_cpu_us": own / max(1, acked[0]) * 1e6, "steal": steal,
        "p50": lat[len(lat) // 2] if lat else float("nan"), "p99": lat[int(len(lat) * 0.99)] if lat else float("nan"),
    }  # fmt: skip


def run_overload(
    port: int, pool: BodyPool, rate: float, duration: float, threads: int, pid: int
) -> dict[str, Any]:
    """Open loop: offer ``rate`` spans/s (bodies on a fixed schedule, whatever the answers), like many
    exporters at once. 503s are counted, not retried; reports what was accepted and the peak RSS."""
    interval = threads * SPANS_PER_BODY / rate  # seconds between sends of one thread
    acked, rejected, sent = [0], [0], [0]
    lock = threading.Lock()
    peak = [0.0]
    stop = threading.Event()

    def worker(offset: float) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        due = time.perf_counter() + offset
        while not stop.is_set():
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            due += interval
            conn.request("POST", "/v1/traces", pool.next(), {"Content-Type": "application/x-protobuf"})
            r = conn.getresponse()
            r.read()
            with lock:
                sent[0] += SPANS_PER_BODY
                if r.status == 200:
                    acked[0] += SPANS_PER_BODY
                elif r.status in (429, 503):
                    rejected[0] += 1
                else:
                    raise SystemExit(f"harness error: HTTP {r.status}")

    def sampler() -> None:
        while not stop.wait(0.25):
            peak[0] = max(peak[0], rss_mb(pid))

    ts = [
        threading.Thread(target=worker, args=(i * interval / threads,), daemon=True) for i in range(threads)
    ]
    ts.append(threading.Thread(target=sampler, daemon=True))
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    time.sleep(duration)
    stop.set()
    for t in ts:
        t.join(120)
    elapsed = time.perf_counter() - t0
    return {"offered": rate, "sent": sent[0] / elapsed, "accepted": acked[0] / elapsed, "rejected": rejected[0],
            "peak_rss": peak[0]}  # fmt: skip


def probe_lag(port: int, pool: BodyPool, n: int = 40) -> tuple[float, float]:
    """Time from sending a trace to it being returned by the query API (while idle)."""
    lags = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(n):
        body = pool.next()
        tid = (
            ExportTraceServiceRequest.FromString(body)
            .resource_spans[0]
            .scope_spans[0]
            .spans[0]
            .trace_id.hex()
        )
        t = time.perf_counter()
        conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        conn.getresponse().read()
        while True:
            conn.request("GET", f"/api/streams?trace_id={tid}")
            r = conn.getresponse()
            if b'"span_id"' in r.read():
                break
        lags.append(time.perf_counter() - t)
    conn.close()
    lags.sort()
    return lags[len(lags) // 2], lags[int(len(lags) * 0.99)]


def query_latency(port: int, path: str, reps: int = 7) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit(f"harness error: {path} -> {r.status}")
        times.append(time.perf_counter() - t)
    conn.close()
    return statistics.median(times)


def count_rows(db: str) -> tuple[int, int]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    spans = con.execute("SELECT count(*) FROM spans").fetchone()[0]
    chunks = con.execute("SELECT coalesce(sum(n), 0) FROM chunk_blocks").fetchone()[
        0
    ]  # n chunks per block row
    con.close()
    return spans, chunks


def run_generic(pool: BodyPool, duration: float, threads: int) -> dict[str, Any] | None:
    """The generic workload end to end over HTTP against a fresh collector, with its lag and a stored-rows check."""
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "generic.db")
        proc, http_port, _ = start_collector(db, 100_000)
        try:
            res = run_load("http", http_port, pool, duration, threads, proc.pid)
            spans, _ = count_rows(db)
            if spans < res["spans"]:
                print(f"harness error: acknowledged {res['spans']} generic spans but only {spans} are stored")
                return None
            res["lag"] = probe_lag(http_port, pool)
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(60)
    return res


def print_side_by_side(ours: dict[str, float], ours_e2e: dict[str, Any], ours_lag: tuple[float, float],
                       generic: dict[str, float], generic_e2e: dict[str, Any]) -> None:  # fmt: skip
    """Both shapes, one column each: the limits (spans/s, one thread), the CPU per span of every phase and the
    end-to-end numbers. The machine's other load moves all of them: compare the columns, not runs."""
    print()
    print(f"{'both shapes, same run':58} {'ours':>14} {'generic':>14} {'generic/ours':>13}")
    print("-" * 102)
    rows: list[tuple[str, float, float, str]] = [
        ("limit: raw protobuf parse (spans/s)", ours["parse"], generic["parse"], ",.0f"),
        ("limit: parse + decode + normalise (spans/s)", ours["decode"], generic["decode"], ",.0f"),
        (
            "limit: parse + decode + normalise, Python reference",
            ours["decode_py"],
            generic["decode_py"],
            ",.0f",
        ),
        ("limit: raw SQLite executemany of the rows (spans/s)", ours["raw_sql"], generic["raw_sql"], ",.0f"),
        ("limit: SQLiteStore.write (spans/s)", ours["store"], generic["store"], ",.0f"),
    ]
    rows += [(f"CPU µs/span: {PHASE_NAMES[p]}", ours["us_" + p], generic["us_" + p], ".2f") for p in PHASES]
    rows += [
        ("CPU µs/span: all phases", sum(ours["us_" + p] for p in PHASES),
         sum(generic["us_" + p] for p in PHASES), ".2f"),
        ("end to end, HTTP, committed (spans/s)", ours_e2e["rate"], generic_e2e["rate"], ",.0f"),
        ("end to end: collector CPU µs/span", ours_e2e["cpu_us"], generic_e2e["cpu_us"], ".2f"),
        ("end to end: receiving process CPU µs/span", ours_e2e["receiving_cpu_us"], generic_e2e["receiving_cpu_us"],
         ".2f"),
        ("end to end: writer process CPU µs/span", ours_e2e["writer_cpu_us"], generic_e2e["writer_cpu_us"], ".2f"),
        ("end to end: request latency p99 (ms)", ours_e2e["p99"] * 1e3, generic_e2e["p99"] * 1e3, ".1f"),
        ("ingest-to-queryable lag p99 (ms)", ours_lag[1] * 1e3, generic_e2e["lag"][1] * 1e3, ".1f"),
        ("collector peak RSS under load (MB)", ours_e2e["peak_rss"], generic_e2e["peak_rss"], ".0f"),
    ]  # fmt: skip
    for name, a, b, fmt in rows:
        print(f"{name:58} {a:>14{fmt}} {b:>14{fmt}} {b / a if a else float('nan'):>12.2f}x")
    print(f"CPU steal by the hypervisor: ours {ours_e2e['steal']:.0%}, generic {generic_e2e['steal']:.0%}")


# -- Phoenix -----------------------------------------------------------------------------------------
def run_phoenix(venv: str, pool: BodyPool, duration: float, threads: int) -> dict[str, Any] | None:
    exe = Path(venv) / "bin" / "phoenix"
    if not exe.exists():
        print(f"(no Phoenix at {exe}; printing its earlier result)")
        return None
    import socket

    def free() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    wd = tempfile.mkdtemp(prefix="phoenix-")
    port, gport = free(), free()
    env = {**os.environ, "PHOENIX_WORKING_DIR": wd, "PHOENIX_PORT": str(port), "PHOENIX_GRPC_PORT": str(gport),
           "PHOENIX_HOST": "127.0.0.1", "PHOENIX_TELEMETRY_ENABLED": "false"}  # fmt: skip
    log = open(os.path.join(wd, "phoenix.log"), "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([str(exe), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        started = time.monotonic()
        while True:
            if proc.poll() is not None or time.monotonic() - started > 180:
                print(
                    f"(Phoenix did not become healthy; log in {wd}/phoenix.log; printing its earlier result)"
                )
                return None
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        print(f"Phoenix healthy after {time.monotonic() - started:.1f} s", file=sys.stderr)
        res = run_load("http", port, pool, duration, threads, proc.pid)
        db = os.path.join(wd, "phoenix.db")
        t_end = time.perf_counter()
        stored, last, last_change = 0, -1, t_end
        while time.perf_counter() - t_end < 900:  # drain: until every accepted span is stored (or 60 s stuck)
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            stored = con.execute("SELECT count(*) FROM spans").fetchone()[0]
            con.close()
            now = time.perf_counter()
            if stored != last:
                last, last_change = stored, now
            if stored >= res["spans"] or now - last_change > 60:
                break
            time.sleep(2)
        res["drain_s"] = last_change - t_end
        res["stored_rate"] = stored / (duration + res["drain_s"])
        res["stored"] = stored
        return res
    finally:
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        log.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--base-bodies", type=int, default=40)
    ap.add_argument("--fill", type=int, default=1_000_000, help="chunk spans stored before timing queries")
    ap.add_argument("--phoenix-venv", default=None)
    args = ap.parse_args()

    tune_gc()  # the phases below run as in the collector's two processes, whose garbage collector is tuned so
    pool = BodyPool(args.base_bodies)
    limits = bench_limits(pool)
    generic_pool = BodyPool(args.base_bodies, seed=2, build=build_generic)
    generic_limits = bench_limits(generic_pool)
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "bench.db")
        proc, http_port, grpc_port = start_collector(db, 100_000)
        try:
            idle = rss_mb(proc.pid)
            http_res = run_load("http", http_port, pool, args.duration, args.threads, proc.pid)
            grpc_res = run_load("grpc", grpc_port, pool, args.duration / 2, args.threads, proc.pid)
            over = run_overload(http_port, pool, 2 * http_res["rate"], args.duration / 2, 128, proc.pid)
            spans, chunks = count_rows(db)
            sent = http_res["spans"] + grpc_res["spans"]
            if spans + chunks < sent:
                print(f"harness error: acknowledged {sent} spans but only {spans + chunks} rows are stored")
                return 1
            stored_chunks = chunks
            while stored_chunks < args.fill:  # top up to the query-latency fill level
                extra = run_load("http", http_port, pool, 5, args.threads, proc.pid)
                stored_chunks += extra["spans"] * CHUNKS_PER_TRACE // (CHUNKS_PER_TRACE + 2)
            lag50, lag99 = probe_lag(http_port, pool)
            _, chunks_now = count_rows(db)
            q_stats = query_latency(http_port, "/api/stats?group_by=model&bucket=60")
            q_streams = query_latency(http_port, "/api/streams?limit=50")
            q_streams_f = query_latency(http_port, "/api/streams?limit=50&model=gpt-4.1&min_ttft=0.5")
            q_traces = query_latency(http_port, "/api/traces?limit=50&q=chat")
            peak = max(http_res["peak_rss"], grpc_res["peak_rss"])
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(60)
    generic = run_generic(generic_pool, args.duration, args.threads)
    if generic is None:
        return 1
    phoenix = run_phoenix(args.phoenix_venv, pool, args.duration, args.threads) if args.phoenix_venv else None
    px_rate = phoenix["stored_rate"] if phoenix else statistics.mean(PHOENIX_CITED)
    px_label = "Phoenix (this run)" if phoenix else "Phoenix 20.26.1 (earlier run, same bodies)"

    e2e = http_res["rate"]
    print()
    print(f"{'measurement':58} {'spans/s':>12} {'vs Phoenix':>11} {'vs limit':>9}")
    print("-" * 94)
    rows = [
        ("raw protobuf ParseFromString (limit, 1 thread)", limits["parse"], None),
        ("parse + decode + normalise, C walker (1 thread)", limits["decode"], None),
        ("parse + decode + normalise, Python reference (1 thread)", limits["decode_py"], None),
        ("raw SQLite executemany, a table row per chunk (FULL sync)", limits["raw_sql"], None),
        ("SQLiteStore.write of normalised batches (1 thread)", limits["store"], None),
        (f"collector HTTP protobuf, end to end, committed ({args.threads} senders)", e2e, limits["decode"]),
        (
            f"collector gRPC, end to end, committed ({args.threads} senders)",
            grpc_res["rate"],
            limits["decode"],
        ),
        (px_label + ", stored", px_rate, None),
    ]
    for name, rate, limit in rows:
        ratio = f"{rate / px_rate:10.0f}x"
        lim = f"{rate / limit:8.2f}x" if limit else ""
        print(f"{name:58} {rate:12,.0f} {ratio:>11} {lim:>9}")
    print()
    print(f"HTTP: {http_res['spans']:,} spans acknowledged (= committed) in {args.duration:.0f} s, "
          f"{http_res['rejected']} 503s, request latency p50 {http_res['p50'] * 1e3:.1f} ms / p99 {http_res['p99'] * 1e3:.1f} ms; "
          f"CPU per span: collector {http_res['cpu_us']:.1f} µs (receiving process {http_res['receiving_cpu_us']:.1f}, "
          f"writer process {http_res['writer_cpu_us']:.1f}), senders {http_res['sender_cpu_us']:.1f} µs; "
          f"CPU steal by the hypervisor during the run {http_res['steal']:.0%}")  # fmt: skip
    print(f"gRPC: {grpc_res['spans']:,} spans in {args.duration / 2:.0f} s, {grpc_res['rejected']} UNAVAILABLE, "
          f"p50 {grpc_res['p50'] * 1e3:.1f} ms / p99 {grpc_res['p99'] * 1e3:.1f} ms")  # fmt: skip
    print(
        f"ingest-to-queryable lag (send -> visible in /api/streams): p50 {lag50 * 1e3:.1f} ms, p99 {lag99 * 1e3:.1f} ms"
    )
    print(f"collector RSS: idle {idle:.0f} MB, peak under closed-loop load {peak:.0f} MB, peak at twice the "
          f"sustained rate {over['peak_rss']:.0f} MB (open loop, 128 senders: offered {over['offered']:,.0f} spans/s, "
          f"sent {over['sent']:,.0f}/s, accepted {over['accepted']:,.0f}/s, {over['rejected']} 503s)")  # fmt: skip
    print(f"query latency (median of 7) at {chunks_now:,} stored chunk rows: /api/stats {q_stats * 1e3:.0f} ms, "
          f"/api/streams {q_streams * 1e3:.0f} ms, /api/streams filtered {q_streams_f * 1e3:.0f} ms, "
          f"/api/traces?q= {q_traces * 1e3:.0f} ms")  # fmt: skip
    if phoenix:
        print(f"Phoenix this run: accepted {phoenix['spans']:,} in {args.duration:.0f} s, stored {phoenix['stored']:,} "
              f"({phoenix['drain_s']:.0f} s after the load ended), peak RSS {phoenix['peak_rss']:.0f} MB; "
              f"stored spans/s = stored / (load + drain)")  # fmt: skip
    print_side_by_side(limits, http_res, (lag50, lag99), generic_limits, generic)
    print(f"targets: >=100k spans/s ({'met' if e2e >= 100_000 else 'NOT met'}), lag p99 < 1 s "
          f"({'met' if lag99 < 1 else 'NOT met'}), RSS < 250 MB at twice the rate "
          f"({'met' if max(peak, over['peak_rss']) < 250 else 'NOT met'}), "
          f">=10x Phoenix ({'met' if e2e >= 10 * px_rate else 'NOT met'}), generic >=100k spans/s "
          f"({'met' if generic['rate'] >= 100_000 else 'NOT met'}), ours >=250k spans/s "
          f"({'met' if e2e >= 250_000 else 'NOT met'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
