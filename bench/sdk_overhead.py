#!/usr/bin/env python3
"""Tracing SDK overhead per chunk: streamscope (chunk spans / rollups only / dead collector) vs no tracing vs
OpenLLMetry and OpenInference, on the same streams. One run, one table, ratios side by side.

    .venv/bin/python bench/sdk_overhead.py                 # full run (installs peer venvs on first use)
    .venv/bin/python bench/sdk_overhead.py --quick         # fewer rounds, smaller streams
    .venv/bin/python bench/sdk_overhead.py --skip-peers    # no peer virtualenvs

Method (follows the peer measurements in ``shared/reference/peer-sdk-overhead.md``):

- Workload ``openai``: the real ``openai`` client streams ``N`` one-word chunks (plus the role-only first
  delta, the finish chunk and the usage chunk) from ``streamscope.testing.fake_llm``'s server, which runs in
  its own process. Workload ``model``: the engine's ``FakeStreamingChatModel`` streams ``N`` chunks in-process
  (``model.stream(...)``), traced through the engine's global handler hook.
- Every variant runs in a fresh process per round (rounds rotate the order). Per repetition, with
  ``gc.collect()`` first: **consumer ns/chunk** = CPU of the consumer's thread (``thread_time_ns``) for
  exactly ``for chunk in stream: pass`` (the end-of-stream rollups, which run on that thread, included);
  **total CPU ns/chunk** = CPU of the whole process (``process_time_ns``: every thread) from the start of
  the loop until the tracing pipeline has been flushed, so span building, OTLP encoding and (for
  streamscope) the real HTTP export to a local OTLP sink process are included.
- streamscope exports over real OTLP/HTTP to a sink process (the sink's CPU is not counted). Peers export
  into a ``BatchSpanProcessor`` whose exporter OTLP-encodes each batch and discards the bytes (as in the
  peer reference): that is their CPU minus the network, so the comparison favours the peers.
- Values are the median over rounds of each round's median over repetitions; Δ = variant − no tracing,
  taken within the same round. Peers run in ``.bench-venvs/{olm,oi}`` (exact versions from the peer
  reference's freeze files) with their own no-tracing baseline in the same venv.
- ``drops``: 100 concurrent engine streams of 1,000 chunks each (threads), exported over OTLP/HTTP; the
  sink counts what arrived.

Exit status is non-zero only on harness errors (a server or worker that fails); targets are reported.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEER_REF = Path("/work/shared/anchors/peerbench")
VENVS = ROOT / ".bench-venvs"
PEERS = {"olm": "OpenLLMetry (opentelemetry-instrumentation-openai)",
         "oi": "OpenInference (openinference-instrumentation-openai)"}
MESSAGES = [{"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Write a long list of words."}]
WORD = "lorem "


# ----------------------------------------------------------------------------------------------------------
# helper processes
# ----------------------------------------------------------------------------------------------------------

def serve_llm() -> None:
    """The fake LLM server, in its own process; scenarios are per request."""
    from streamscope.testing.fake_llm import FakeLLMServer

    srv = FakeLLMServer().start()
    srv.received = _Discard()  # type: ignore[assignment]  # do not keep every request body in memory
    print(f"PORT {srv.port}", flush=True)
    sys.stdin.read()
    srv.stop()


class _Discard(list):  # type: ignore[type-arg]
    def append(self, item: Any) -> None:
        return None


def serve_sink() -> None:
    """An OTLP/HTTP sink that decodes and counts spans; GET /count returns the totals."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    counts = {"spans": 0, "chunk_spans": 0, "requests": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            req = ExportTraceServiceRequest.FromString(body)
            n = c = 0
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    for sp in ss.spans:
                        n += 1
                        c += sp.name == "streamscope.chunk"
            with lock:
                counts["spans"] += n
                counts["chunk_spans"] += c
                counts["requests"] += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            with lock:
                payload = json.dumps(counts).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()


class Helper:
    """A helper process started by PID and stopped by closing its stdin (then by its PID)."""

    def __init__(self, flag: str) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, flag], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("PORT "):
            self.stop()
            raise SystemExit(f"harness error: {flag} did not start (got {line!r})")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(5)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def sink_counts(port: int) -> dict[str, int]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5) as resp:
        return dict(json.loads(resp.read()))


def dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


# ----------------------------------------------------------------------------------------------------------
# worker (runs in our venv or in a peer venv: top-level imports are stdlib only)
# ----------------------------------------------------------------------------------------------------------

def _encode_exporter() -> Any:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class EncodeAndDiscard(SpanExporter):
        def export(self, spans: Any) -> Any:
            encode_spans(spans).SerializeToString()
            return SpanExportResult.SUCCESS

    return EncodeAndDiscard()


def _setup(variant: str, args: argparse.Namespace) -> Any:
    """Install the variant's tracing; return a flush() callable."""
    if variant in ("base", "olm_base", "oi_base"):
        return lambda: None
    if variant == "noop":  # the engine's own cost of calling a handler for every chunk
        from streamscope.engine.callbacks import BaseCallbackHandler, add_global_handler

        add_global_handler(BaseCallbackHandler())
        return lambda: None
    if variant.startswith("ss_"):
        import streamscope

        endpoint = (f"http://127.0.0.1:{args.dead_port}" if variant == "ss_dead"
                    else f"http://127.0.0.1:{args.sink_port}")
        tracing = streamscope.init(endpoint, service_name="bench", chunk_spans=variant != "ss_rollups")
        instrument = getattr(streamscope, "instrument_openai", None)
        if instrument is None:
            from streamscope.instrumentation.openai import instrument_openai as instrument
        instrument()
        if variant == "ss_dead":
            return lambda: None  # never flushed: a flush would wait for a collector that is not there
        return lambda: tracing.force_flush(60)
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(_encode_exporter(), max_queue_size=100_000,
                                             max_export_batch_size=512))
    trace.set_tracer_provider(tp)
    if variant == "olm":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
    elif variant == "oi":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OIInstrumentor

        OIInstrumentor().instrument(tracer_provider=tp)
    else:
        raise SystemExit(f"unknown variant {variant}")
    return lambda: tp.force_flush(60_000)


def _stream_factory(args: argparse.Namespace) -> Any:
    if args.workload == "openai":
        from openai import OpenAI

        client = OpenAI(base_url=f"http://127.0.0.1:{args.llm_port}/v1", api_key="x", max_retries=0)
        scenario = {"words": [WORD] * args.n, "usage": {"prompt_tokens": 20, "completion_tokens": args.n}}

        def make() -> Any:
            return client.chat.completions.create(
                model="bench", messages=MESSAGES, stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True}, extra_body={"scenario": scenario})

        return make
    from streamscope.engine.models import FakeStreamingChatModel

    model = FakeStreamingChatModel(chunks=[WORD] * args.n, model="bench")
    return lambda: model.stream("q")


def worker(args: argparse.Namespace) -> None:
    flush = _setup(args.variant, args)
    make = _stream_factory(args)
    consumer: list[int] = []
    total: list[int] = []
    wall: list[int] = []
    chunks = 0
    for rep in range(args.warmup + args.reps):
        gc.collect()
        stream = make()
        p0 = time.process_time_ns()
        t0 = time.thread_time_ns()
        w0 = time.perf_counter_ns()
        chunks = 0
        for _ in stream:
            chunks += 1
        w1 = time.perf_counter_ns()
        t1 = time.thread_time_ns()
        flush()
        p1 = time.process_time_ns()
        if rep >= args.warmup:
            consumer.append(t1 - t0)
            wall.append(w1 - w0)
            total.append(p1 - p0)
    print(json.dumps({
        "variant": args.variant, "workload": args.workload, "n": args.n, "chunks": chunks,
        "consumer_ns": statistics.median(consumer) / chunks, "total_ns": statistics.median(total) / chunks,
        "wall_ns": statistics.median(wall) / chunks,
    }), flush=True)
    os._exit(0)  # no exit-time flush inside anybody's atexit hooks


def drops_worker(args: argparse.Namespace) -> None:
    import streamscope
    from streamscope.engine.models import FakeStreamingChatModel

    tracing = streamscope.init(f"http://127.0.0.1:{args.sink_port}", service_name="bench-drops")
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            for _ in FakeStreamingChatModel(chunks=[WORD] * 1000, model=f"m{i}").stream("q"):
                time.sleep(0)  # let the 100 streams interleave
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flushed = tracing.force_flush(120)
    print(json.dumps({"dropped": tracing.dropped_spans, "failed": tracing.failed_spans,
                      "exported": tracing.exported_spans, "flushed": flushed, "errors": len(errors),
                      "seconds": time.perf_counter() - started}), flush=True)
    os._exit(0)


# ----------------------------------------------------------------------------------------------------------
# orchestration
# ----------------------------------------------------------------------------------------------------------

def ensure_peer_venvs() -> dict[str, Path]:
    found: dict[str, Path] = {}
    VENVS.mkdir(exist_ok=True)
    for name in PEERS:
        py = VENVS / name / "bin" / "python"
        marker = VENVS / name / ".installed"
        if not marker.exists():
            freeze = PEER_REF / f"freeze_{name}.txt"
            print(f"installing {name} into {VENVS / name} from {freeze} ...", flush=True)
            if not py.exists():
                subprocess.run([sys.executable, "-m", "venv", str(VENVS / name)], check=True)
            result = subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(freeze)],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise SystemExit(f"harness error: installing {name} failed:\n{result.stderr[-2000:]}")
            marker.write_text("ok\n")
        found[name] = py
    return found


def run_worker(python: Path | str, args: list[str]) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH="")
    result = subprocess.run([str(python), __file__, *args], capture_output=True, text=True, env=env,
                            timeout=900, cwd=str(ROOT))
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("{")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"harness error: worker {args} failed (rc={result.returncode}):\n"
                         f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return dict(json.loads(lines[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--n", type=int, default=1000, help="content chunks per stream")
    parser.add_argument("--quick", action="store_true", help="2 rounds, 5 reps, N=500")
    parser.add_argument("--skip-peers", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.reps, args.n = 2, 5, 500

    peers = {} if args.skip_peers else ensure_peer_venvs()
    llm, sink = Helper("--serve-llm"), Helper("--serve-sink")
    dead = dead_port()
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    try:
        plan: list[tuple[str, str, Path | str]] = []
        for variant in ("base", "ss_chunks", "ss_rollups", "ss_dead"):
            plan.append(("openai", variant, sys.executable))
        for name, py in peers.items():
            plan.append(("openai", f"{name}_base", py))
            plan.append(("openai", name, py))
        for variant in ("base", "noop", "ss_chunks", "ss_rollups"):
            plan.append(("model", variant, sys.executable))
        for rnd in range(args.rounds):
            order = plan[rnd % len(plan):] + plan[:rnd % len(plan)]
            for workload, variant, py in order:
                common = ["--worker", variant, "--workload", workload, "--n", str(args.n),
                          "--reps", str(args.reps), "--warmup", "2", "--llm-port", str(llm.port),
                          "--sink-port", str(sink.port), "--dead-port", str(dead)]
                res = run_worker(py, common)
                res["round"] = rnd
                results.setdefault((workload, variant), []).append(res)
                print(f"  round {rnd} {workload:6s} {variant:10s} consumer {res['consumer_ns']:9.0f} ns/chunk"
                      f"  total {res['total_ns']:9.0f} ns/chunk", flush=True)
        before = sink_counts(sink.port)
        drops = run_worker(sys.executable, ["--drops", "--sink-port", str(sink.port)])
        time.sleep(0.2)
        after = sink_counts(sink.port)
    finally:
        llm.stop()
        sink.stop()

    report(results, drops, after["chunk_spans"] - before["chunk_spans"], after["spans"] - before["spans"], args)
    return 0


def _delta(results: dict[tuple[str, str], list[dict[str, Any]]], workload: str, variant: str, base: str,
           key: str) -> float:
    by_round = {r["round"]: r[key] for r in results[(workload, base)]}
    return statistics.median(r[key] - by_round[r["round"]] for r in results[(workload, variant)])


def report(results: dict[tuple[str, str], list[dict[str, Any]]], drops: dict[str, Any], chunk_spans: int,
           spans: int, args: argparse.Namespace) -> None:
    labels = {"base": "no tracing", "noop": "no tracing, a do-nothing engine handler (engine dispatch cost)", "ss_chunks": "streamscope, chunk spans", "ss_rollups": "streamscope, rollups only",
              "ss_dead": "streamscope, chunk spans, no collector listening",
              "olm_base": "no tracing (OpenLLMetry venv)", "olm": PEERS["olm"],
              "oi_base": "no tracing (OpenInference venv)", "oi": PEERS["oi"]}
    print()
    print(f"Tracing overhead per chunk, N={args.n} content chunks per stream, {args.rounds} rounds x "
          f"{args.reps} reps (medians). Δ = variant - its no-tracing baseline in the same round.")
    print()
    print("| workload | variant | consumer ns/chunk | Δ consumer ns/chunk | total CPU ns/chunk | Δ total CPU ns/chunk "
          "| total CPU ratio | wall ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    deltas: dict[tuple[str, str], tuple[float, float]] = {}
    for (workload, variant), rows in results.items():
        base = f"{variant}_base" if variant in PEERS else (variant if variant.endswith("_base") else "base")
        cons = statistics.median(r["consumer_ns"] for r in rows)
        tot = statistics.median(r["total_ns"] for r in rows)
        base_rows = {r["round"]: r for r in results[(workload, base)]}
        ratio = statistics.median(r["total_ns"] / base_rows[r["round"]]["total_ns"] for r in rows)
        wall = statistics.median(r["wall_ns"] / base_rows[r["round"]]["wall_ns"] for r in rows)
        if variant == base:
            print(f"| {workload} | {labels[variant]} | {cons:,.0f} | — | {tot:,.0f} | — | 1.00 | 1.00 |")
            continue
        dc = _delta(results, workload, variant, base, "consumer_ns")
        dt = _delta(results, workload, variant, base, "total_ns")
        deltas[(workload, variant)] = (dc, dt)
        print(f"| {workload} | {labels[variant]} | {cons:,.0f} | {dc:+,.0f} | {tot:,.0f} | {dt:+,.0f} "
              f"| {ratio:.2f} | {wall:.2f} |")
    print()
    print(f"Drops: 100 concurrent streams x 1,000 chunks -> sink received {chunk_spans:,} chunk spans "
          f"({spans:,} spans); dropped_spans={drops['dropped']}, failed_spans={drops['failed']}, "
          f"flushed={drops['flushed']}, stream errors={drops['errors']}, {drops['seconds']:.1f} s")
    print()
    ss = deltas.get(("openai", "ss_chunks"))
    if ss:
        peer_d = [deltas[("openai", p)][0] for p in PEERS if ("openai", p) in deltas]
        print("Targets (openai workload):")
        print(f"  consumer-path cost of chunk spans <= 1,000 ns/chunk: {ss[0]:+,.0f} ns "
              f"-> {'met' if ss[0] <= 1000 else 'NOT met'}")
        if peer_d:
            best = min(peer_d)
            factor = best / ss[0] if ss[0] > 0 else float("inf")
            print(f"  >= 10x below the best peer (consumer path): best peer {best:+,.0f} ns, "
                  f"{factor:.1f}x -> {'met' if factor >= 10 else 'NOT met'}")
        print(f"  total CPU per traced chunk incl. export <= 10,000 ns: {ss[1]:+,.0f} ns "
              f"-> {'met' if ss[1] <= 10_000 else 'NOT met'}")
        dead = deltas.get(("openai", "ss_dead"))
        if dead:
            print(f"  no collector listening: consumer {dead[0]:+,.0f} ns/chunk vs no tracing (see wall ratio above)")
        ok = chunk_spans == 100 * 1000 and drops["dropped"] == 0
        print(f"  no span dropped at 100 x 1,000: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-llm":
        serve_llm()
    elif len(sys.argv) > 1 and sys.argv[1] == "--serve-sink":
        serve_sink()
    elif len(sys.argv) > 1 and sys.argv[1] in ("--worker", "--drops"):
        p = argparse.ArgumentParser()
        p.add_argument("--worker", dest="variant")
        p.add_argument("--drops", action="store_true")
        p.add_argument("--workload", default="openai")
        p.add_argument("--n", type=int, default=1000)
        p.add_argument("--reps", type=int, default=7)
        p.add_argument("--warmup", type=int, default=2)
        p.add_argument("--llm-port", type=int, default=0)
        p.add_argument("--sink-port", type=int, default=0)
        p.add_argument("--dead-port", type=int, default=0)
        wargs = p.parse_args()
        drops_worker(wargs) if wargs.drops else worker(wargs)
    else:
        sys.exit(main())
