"""One truth in every number: one dataset, every surface, the same figures.

A generated dataset (every outcome, stalls, tool-only and reasoning-first streams, a stream that failed before its
first chunk, three models, two services, provider and estimated usage) goes through OTLP/HTTP into a real collector
(`streamscope collector`, SQLite), which a real Prometheus scrapes. The test computes every figure itself, from the
raw chunk timings it generated and the definitions of docs/concepts.md ("Numbers every surface shows"), with its own
arithmetic (``statistics.quantiles`` for percentiles), and checks the collector's ``/api/stats`` and
``/api/streams``, ``/metrics`` as Prometheus scraped it, and the dashboard's overview, models page, stream list
and ``/api/overview`` against it.
"""

from __future__ import annotations

import math
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamscope.collector.aggregates import RELATIVE_ERROR
from streamscope.dashboard import create_app
from streamscope.dashboard.formatting import duration, number, percent

sys.path.insert(0, str(Path(__file__).parent))
from processes import free_port, stop, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = ("completed", "abandoned", "cancelled", "error", "timeout")
MODELS = ("gpt-4o-mini", "claude-haiku", "llama-3-8b")
SERVICES = ("chat-api", "agent-worker")
STALL = 2.0
N_STREAMS = 60


# -- the dataset ---------------------------------------------------------------------------------------------
@dataclass
class Planned:
    """One stream as generated: its raw chunks ``(offset s, kind, text)`` and what it was told to report."""

    service: str
    model: str
    outcome: str
    start: float  # epoch seconds
    chunks: list[tuple[float, str, str]]
    tail: float  # seconds from the last chunk (or the start) to the end of the span
    input_tokens: int | None
    output_tokens: int
    usage_source: str  # provider | estimate
    trace_id: str = ""
    span_id: str = ""

    # every figure below is computed from the raw chunks, by the definitions in docs/concepts.md
    @property
    def ttfc(self) -> float | None:
        return self.chunks[0][0] if self.chunks else None

    @property
    def ttft(self) -> float | None:
        return next((off for off, kind, _ in self.chunks if kind == "content"), None)

    @property
    def gaps(self) -> list[float]:
        return [b[0] - a[0] for a, b in zip(self.chunks, self.chunks[1:], strict=False)]

    @property
    def stalls(self) -> int:
        return sum(1 for g in self.gaps if g > STALL)

    @property
    def duration(self) -> float:
        return (self.chunks[-1][0] if self.chunks else 0.0) + self.tail

    @property
    def gap_p95(self) -> float | None:
        return _pct(self.gaps, 95)

    @property
    def tokens_per_second(self) -> float | None:
        ttft = self.ttft
        if ttft is None or self.chunks[-1][0] <= ttft:
            return None
        return self.output_tokens / (self.chunks[-1][0] - ttft)


def _dataset(now: float) -> list[Planned]:
    rng = random.Random(16)
    planned: list[Planned] = []
    start = now - 600.0  # ten minutes of traffic, ending a little before now
    for i in range(N_STREAMS):
        start += rng.uniform(3.0, 16.0)
        outcome = OUTCOMES[i % len(OUTCOMES)] if i % 3 else "completed"
        shape = i % 7
        chunks: list[tuple[float, str, str]] = []
        t = rng.uniform(0.05, 0.3)
        if shape != 6 or outcome != "error":  # shape 6 + error: failed before its first chunk (HTTP 500)
            chunks.append((t, "role", ""))
            if shape == 4:  # reasoning first
                for _ in range(3):
                    t += rng.uniform(0.02, 0.1)
                    chunks.append((t, "reasoning", "think "))
            n = rng.randint(3, 12) if outcome == "completed" else rng.randint(1, 4)
            kind = "tool_call" if shape == 5 else "content"  # shape 5: a tool-only stream, no TTFT
            for j in range(n):
                gap = 2.6 if (shape == 2 and j == 1) else rng.uniform(0.01, 0.2)  # shape 2: one stall
                t += gap if j else rng.uniform(0.1, 0.8)
                chunks.append((t, kind, f"w{j} "))
        provider_usage = i % 4 != 0
        out = sum(1 for _, kind, _ in chunks if kind in ("content", "tool_call", "reasoning"))
        planned.append(
            Planned(
                service=SERVICES[i % 2],
                model=MODELS[i % 3],
                outcome=outcome,
                start=start,
                chunks=chunks,
                tail=rng.uniform(0.0, 0.05),
                input_tokens=20 + i if provider_usage else None,
                output_tokens=out * 2 if provider_usage else out,
                usage_source="provider" if provider_usage else "estimate",
            )
        )
    assert planned[-1].start + planned[-1].duration < now
    return planned


def _send(endpoint: str, planned: Sequence[Planned]) -> None:
    """Export the dataset the way the SDK does: one stream span with its rollups, one chunk span per chunk."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    providers = {}
    for service in SERVICES:
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
        providers[service] = provider
    for p in planned:
        tracer = providers[p.service].get_tracer("consistency")
        start_ns = int(p.start * 1e9)
        gaps = p.gaps
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": p.model,
            "streamscope.stream.outcome": p.outcome,
            "streamscope.stream.chunk_count": len(p.chunks),
            "streamscope.stream.stall_count": p.stalls,
            "streamscope.stream.stall_threshold": STALL,
            "gen_ai.usage.output_tokens": p.output_tokens,
            "streamscope.usage.source": p.usage_source,
        }
        if p.input_tokens is not None:
            attrs["gen_ai.usage.input_tokens"] = p.input_tokens
        for key, value in (
            ("time_to_first_chunk", p.ttfc),
            ("time_to_first_token", p.ttft),
            ("gap_p50", _pct(gaps, 50)),
            ("gap_p95", p.gap_p95),
            ("gap_max", max(gaps) if gaps else None),
            ("output_tokens_per_second", p.tokens_per_second),
        ):
            if value is not None:
                attrs[f"streamscope.stream.{key}"] = value
        if p.outcome in ("error", "timeout"):
            attrs["error.type"] = "TimeoutError" if p.outcome == "timeout" else "APIStatusError"
        span = tracer.start_span(
            f"chat {p.model}", kind=SpanKind.CLIENT, start_time=start_ns, attributes=attrs
        )
        ctx = span.get_span_context()
        p.trace_id, p.span_id = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
        parent = trace.set_span_in_context(span)
        prev = None
        for index, (offset, kind, text) in enumerate(p.chunks):
            at = start_ns + int(offset * 1e9)
            tracer.start_span(
                "streamscope.chunk",
                context=parent,
                start_time=at,
                attributes={
                    "streamscope.chunk.index": index,
                    "streamscope.chunk.offset": offset,
                    "streamscope.chunk.gap": offset - prev if prev is not None else offset,
                    "streamscope.chunk.kind": kind,
                    "streamscope.chunk.size": len(text),
                    "streamscope.chunk.content": text,
                },
            ).end(end_time=at)
            prev = offset
        if p.outcome in ("error", "timeout"):
            span.set_status(Status(StatusCode.ERROR, p.outcome))
        span.end(end_time=start_ns + int(p.duration * 1e9))
    for provider in providers.values():
        provider.shutdown()


# -- the expected figures, from the raw chunks -----------------------------------------------------------------
def _pct(values: Sequence[float], q: int) -> float | None:
    """Linear interpolation between closest ranks, by the standard library's own implementation."""
    xs = sorted(values)
    if not xs:
        return None
    if len(xs) == 1:
        return xs[0]
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1]


@dataclass
class Expected:
    streams: list[Planned]
    outcomes: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.outcomes = {o: sum(1 for p in self.streams if p.outcome == o) for o in OUTCOMES}

    @property
    def n(self) -> int:
        return len(self.streams)

    def rate(self, outcome: str) -> float:
        return self.outcomes[outcome] / self.n

    @property
    def error_rate(self) -> float:
        return (self.outcomes["error"] + self.outcomes["timeout"]) / self.n

    @property
    def covered(self) -> float:
        starts = [p.start for p in self.streams]
        return (max(starts) - min(starts)) * self.n / (self.n - 1)

    def pct(self, metric: str, q: int) -> float | None:
        return _pct([v for p in self.streams if (v := getattr(p, metric)) is not None], q)

    @property
    def chunks(self) -> int:
        return sum(len(p.chunks) for p in self.streams)

    @property
    def stalls(self) -> int:
        return sum(p.stalls for p in self.streams)

    @property
    def output_tokens(self) -> int:
        return sum(p.output_tokens for p in self.streams)

    @property
    def input_tokens(self) -> int:
        return sum(p.input_tokens or 0 for p in self.streams)

    def by(self, key: str) -> dict[str, Expected]:
        groups: dict[str, list[Planned]] = {}
        for p in self.streams:
            groups.setdefault(getattr(p, key), []).append(p)
        return {k: Expected(v) for k, v in groups.items()}


# -- the stack --------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    collector: str
    prometheus: str
    db: Path
    expected: Expected
    since: float
    until: float

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.collector}{path}", params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def prom(self, expr: str) -> dict[str, float]:
        response = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert body["status"] == "success", body
        return {
            ",".join(f"{k}={v}" for k, v in sorted(r["metric"].items())): float(r["value"][1])
            for r in body["data"]["result"]
        }


def _start_collector(db: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamscope",
            "collector",
            "--db",
            str(db),
            "--host",
            "127.0.0.1",
            "--http-port",
            "0",
            "--grpc-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    found: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = re.match(r"listening on (http://\S+)$", line.strip())
            if match and not found:
                found.append(match.group(1))

    threading.Thread(target=read, daemon=True).start()
    try:
        wait_for(lambda: found, "the collector to listen", timeout=30)
    except AssertionError:
        stop(proc)
        raise
    return proc, found[0]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus_bin = shutil.which("prometheus")
    if prometheus_bin is None:
        pytest.skip("prometheus is not installed (bash scripts/system-deps.sh installs it)")
    work = tmp_path_factory.mktemp("consistency")
    procs: list[subprocess.Popen[Any]] = []
    log = (work / "prometheus.log").open("w", encoding="utf-8")
    try:
        collector_proc, collector = _start_collector(work / "streamscope.db")
        procs.append(collector_proc)
        (work / "prometheus.yml").write_text(
            "global: {scrape_interval: 500ms}\n"
            "scrape_configs:\n"
            "  - job_name: streamscope-collector\n"
            f"    static_configs: [{{targets: ['{collector.removeprefix('http://')}']}}]\n",
            encoding="utf-8",
        )
        prom_port = free_port()
        procs.append(
            subprocess.Popen(
                [
                    prometheus_bin,
                    f"--config.file={work / 'prometheus.yml'}",
                    f"--storage.tsdb.path={work / 'prom'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        )
        now = time.time()
        planned = _dataset(now)
        _send(collector, planned)
        stack = Stack(
            collector,
            f"http://127.0.0.1:{prom_port}",
            work / "streamscope.db",
            Expected(planned),
            since=now - 900,
            until=now,
        )
        wait_for(
            lambda: len(stack.api("/api/streams", limit=1000)["streams"]) == N_STREAMS, "every stream stored"
        )
        wait_for(
            lambda: (
                sum(stack.prom("sum by (outcome) (streamscope_stream_outcomes_total)").values()) == N_STREAMS
                if _ready(stack)
                else False
            ),
            "Prometheus to scrape every stream",
        )
        yield stack
    finally:
        for proc in reversed(procs):
            stop(proc)
        log.close()


def _ready(stack: Stack) -> bool:
    try:
        return httpx.get(f"{stack.prometheus}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _close(got: float | None, want: float | None, rel: float = 1e-9) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return math.isclose(got, want, rel_tol=rel, abs_tol=1e-9)


# -- the surfaces ------------------------------------------------------------------------------------------------
def test_the_dataset_covers_every_case(stack: Stack) -> None:
    e = stack.expected
    assert all(e.outcomes[o] > 0 for o in OUTCOMES)
    assert e.stalls > 0 and any(p.ttft is None and p.chunks for p in e.streams)  # stalls, a tool-only stream
    assert any(not p.chunks for p in e.streams)  # failed before its first chunk
    assert {p.usage_source for p in e.streams} == {"provider", "estimate"}
    assert len(e.by("model")) == 3 and len(e.by("service")) == 2


@pytest.mark.parametrize("bucket", [15, 60], ids=["raw", "aggregates"])
def test_api_stats(stack: Stack, bucket: int) -> None:
    """``/api/stats`` by model: counts, outcome rates, error rate, rates per second of data, percentiles."""
    got = stack.api("/api/stats", group_by="model", bucket=bucket, since=stack.since, until=stack.until)
    rel = RELATIVE_ERROR if got.get("source") == "aggregates" else 1e-9
    e = stack.expected
    assert _close(got["covered_seconds"], e.covered)
    for want, have in [(e, got["total"]), *((e.by("model")[g["key"]], g) for g in got["groups"])]:
        assert have["count"] == want.n
        assert have["outcomes"] == want.outcomes
        assert all(_close(have["outcome_rates"][o], want.rate(o)) for o in OUTCOMES)
        assert _close(have["error_rate"], want.error_rate) and _close(
            have["abandon_rate"], want.rate("abandoned")
        )
        assert _close(have["rate_per_second"], want.n / e.covered)
        assert (have["stall_count"], have["chunks"]) == (want.stalls, want.chunks)
        assert (have["output_tokens"], have["input_tokens"]) == (want.output_tokens, want.input_tokens)
        for metric, name in (("ttft", "ttft"), ("ttfc", "time_to_first_chunk"), ("duration", "duration")):
            for q in (50, 95, 99):
                assert _close(have[name][f"p{q}"], want.pct(metric, q), rel=max(rel, 1e-6)), (metric, q)
    assert len(got["groups"]) == 3


def test_api_streams_and_chunks(stack: Stack) -> None:
    """``/api/streams``: every stream's timings from its raw chunks; ``/api/streams/<id>/chunks`` the chunks."""
    rows = {r["span_id"]: r for r in stack.api("/api/streams", limit=1000)["streams"]}
    for p in stack.expected.streams:
        r = rows[p.span_id]
        assert (r["service"], r["model"], r["outcome"]) == (p.service, p.model, p.outcome)
        assert _close(r["ttft"], p.ttft) and _close(r["time_to_first_chunk"], p.ttfc)
        assert r["ttft_source"] == ("measured" if p.ttft is not None else None)
        assert (r["chunk_count"], r["stall_count"]) == (len(p.chunks), p.stalls)
        assert _close(r["duration"], p.duration, rel=1e-6)
        assert (r["output_tokens"], r["input_tokens"], r["usage_source"]) == (
            p.output_tokens,
            p.input_tokens,
            p.usage_source,
        )
        chunks = stack.api(f"/api/streams/{p.span_id}/chunks")["chunks"]
        assert [(c["kind"]) for c in chunks] == [k for _, k, _ in p.chunks]
        assert all(
            _close(c["offset"], off, rel=1e-6) for c, (off, _, _) in zip(chunks, p.chunks, strict=True)
        )


def test_metrics_after_a_prometheus_scrape(stack: Stack) -> None:
    """``/metrics`` as Prometheus scraped it: outcome counts, the error rate, TTFT and first-chunk histograms,
    stalls and tokens."""
    e = stack.expected
    by_outcome = stack.prom("sum by (outcome) (streamscope_stream_outcomes_total)")
    assert {k.removeprefix("outcome="): int(v) for k, v in by_outcome.items()} == e.outcomes
    error_rate = stack.prom(
        'sum(streamscope_stream_outcomes_total{outcome=~"error|timeout"}) / '
        "sum(streamscope_stream_outcomes_total)"
    )
    assert _close(next(iter(error_rate.values())), e.error_rate)
    for metric, name in (
        ("ttft", "streamscope_stream_time_to_first_token_seconds"),
        ("ttfc", "gen_ai_client_operation_time_to_first_chunk_seconds"),
    ):
        values = [v for p in e.streams if (v := getattr(p, metric)) is not None]
        assert int(next(iter(stack.prom(f"sum({name}_count)").values()))) == len(values)
        assert _close(next(iter(stack.prom(f"sum({name}_sum)").values())), math.fsum(values), rel=1e-9)
    by_model = stack.prom("sum by (model) (streamscope_stream_time_to_first_token_seconds_count)")
    assert {k.removeprefix("model="): int(v) for k, v in by_model.items()} == {
        m: sum(1 for p in g.streams if p.ttft is not None) for m, g in e.by("model").items()
    }
    assert int(next(iter(stack.prom("sum(streamscope_stream_stalls_total)").values()))) == e.stalls
    tokens = stack.prom("sum by (token_type) (gen_ai_client_token_usage_sum)")
    assert (int(tokens["token_type=output"]), int(tokens["token_type=input"])) == (
        e.output_tokens,
        e.input_tokens,
    )


def _dashboard(stack: Stack) -> Any:
    return create_app({"db_path": str(stack.db)}).test_client()


def test_dashboard_overview_api(stack: Stack) -> None:
    """``/api/overview`` (the overview's and models page's data), on the range the page opens on."""
    e = stack.expected
    data = _dashboard(stack).get("/api/overview").get_json()
    t = data["totals"]
    assert t["streams"] == e.n and t["chunks"] == e.chunks
    assert _close(t["streams_per_second"], e.n / e.covered) and _close(
        t["chunks_per_second"], e.chunks / e.covered
    )
    assert _close(t["error_rate"], e.error_rate)
    assert all(_close(t["rates"][o], e.rate(o)) for o in ("error", "abandoned", "cancelled", "timeout"))
    assert t["tokens"] == {"input": e.input_tokens, "output": e.output_tokens} and t["stalls"] == e.stalls
    for q in (50, 95, 99):
        assert _close(t["ttft"][f"p{q}"], e.pct("ttft", q), rel=1e-6)
        assert _close(t["time_to_first_chunk"][f"p{q}"], e.pct("ttfc", q), rel=1e-6)
    by_model = e.by("model")
    for m in data["models"]:
        want = by_model[m["model"]]
        assert m["streams"] == want.n and _close(m["error_rate"], want.error_rate)
        assert _close(m["ttft"]["p95"], want.pct("ttft", 95), rel=1e-6)
        assert _close(m["streams_per_second"], want.n / e.covered)
    series = data["series"]
    assert sum(sum(s["streams"]) for s in series["by_model"].values()) == e.n
    assert sum(sum(s["error"]) + sum(s["timeout"]) for s in series["by_model"].values()) == (
        e.outcomes["error"] + e.outcomes["timeout"]
    )


def test_dashboard_pages(stack: Stack) -> None:
    """The numbers people read: the overview's KPIs, the models table and the stream list, as rendered."""
    e = stack.expected
    client = _dashboard(stack)
    html = client.get("/").get_data(as_text=True)
    assert re.findall(r'aria-current="true">([^<]+)<', html) == ["15m"]  # the range that shows the data
    kpis = html.split('id="kpis"', 1)[1].split("</section>", 1)[0]
    assert f"<p>{number(e.n)}</p>" in kpis and f"{number(e.n / e.covered, 3)}/s" in kpis
    assert f"<p>{duration(e.pct('ttft', 50))}</p>" in kpis
    assert f"{duration(e.pct('ttft', 95))} · {duration(e.pct('ttft', 99))}" in kpis
    assert f"<p>{duration(e.pct('duration', 50))}</p><small>{duration(e.pct('duration', 95))}" in kpis
    assert f"<p>{duration(e.pct('gap_p95', 95))}</p><small>{duration(e.pct('gap_p95', 99))}" in kpis
    assert f"<p>{number(e.pct('tokens_per_second', 50))}</p>" in kpis
    assert f"<p>{number(e.input_tokens)}</p><small>{number(e.output_tokens)} out" in kpis
    assert f"{number(e.chunks / e.covered, 1)} chunks/s" in kpis
    outcome_kpi = kpis.split('id="kpi-outcomes"', 1)[1].split("</div>", 1)[0]
    assert f"<p>{percent(e.error_rate)}</p>" in outcome_kpi
    for outcome in ("error", "timeout", "abandoned", "cancelled"):
        assert f"{outcome} {percent(e.rate(outcome))}" in outcome_kpi
    models_html = client.get("/models").get_data(as_text=True)
    table = models_html.split('id="models"', 1)[1].split("</table>", 1)[0]
    for model, want in e.by("model").items():
        row = next(r for r in table.split("<tr>") if f">{model}</a>" in r)
        cells = re.findall(r'<td class="num">([^<]*)</td>', row)
        assert cells[0] == number(want.n) and cells[1] == duration(want.pct("ttft", 50))
        assert (
            percent(want.error_rate) == cells[7]
        )  # Streams, TTFT p50/p95/p99, latency, gap, tokens/s, error rate
    streams_html = client.get("/streams?limit=500").get_data(as_text=True)
    for p in e.streams:
        row = next(r for r in streams_html.split("<tr>") if f"#stream-{p.span_id}" in r)
        cells = re.findall(r'<td class="num">([^<]*)</td>', row)
        assert cells[0] == duration(p.ttft) and cells[1] == duration(p.ttfc)
        assert cells[3] == number(len(p.chunks)) and cells[5] == number(p.stalls)
