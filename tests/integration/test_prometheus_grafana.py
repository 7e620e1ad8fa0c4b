"""A real collector, fed real OTLP spans, scraped by a real Prometheus that alerts a real Alertmanager.

Proves that every Grafana panel query and every recording rule returns series for the metrics the collector really
emits, and that the TTFT alert fires for a slow model (reaching Alertmanager) while a healthy model stays silent.
Timings are shrunk for the test (0.5 s scrapes, 1 s evaluation, 5 s rate windows, 1 s `for`); thresholds are the real ones.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
if str(GRAFANA) not in sys.path:
    sys.path.insert(0, str(GRAFANA))

from dashgen import targets  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from processes import free_port, stop, wait_for  # noqa: E402

pytestmark = pytest.mark.integration

SERVICE = "grafana-it"
DEMO_SERVICE = "grafana-it-demo"  # `streamscope demo` feeds this service for the whole module
SLOW_MODEL = "slow-model"  # time to first chunk 5 s: above the 2 s TTFT threshold
HEALTHY_MODEL = "healthy-model"  # time to first chunk 0.1 s
OUTCOMES = ("completed", "abandoned", "cancelled", "error", "timeout")
RATE_WINDOW = "5s"  # stands in for Grafana's $__rate_interval and the rules' 5m windows
DEADLINE = 60.0  # seconds to wait for the stack to come up or an alert to travel
QUERY_GRACE = 10.0  # seconds a query may still need once the stack has been scraped for a while


def _collector_command_available() -> bool:
    return any(ep.name == "collector" for ep in entry_points(group="streamscope.commands"))


def _tool(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"{names[0]} is not installed (bash scripts/system-deps.sh installs it)")


@dataclass
class Collector:
    proc: subprocess.Popen[str]
    url: str  # http://host:port


def _start_collector(db: Path) -> Collector:
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
    lines: list[str] = []
    found: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            match = re.match(r"listening on (http://\S+)$", line.strip())
            if match and not found:
                found.append(match.group(1))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while not found and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if not found:
        stop(proc)
        raise AssertionError("collector did not print 'listening on http://...':\n" + "".join(lines))
    return Collector(proc, found[0])


class Workload:
    """Sends LLM stream spans (stream span + chunk spans, per docs/attributes.md) over OTLP/HTTP, continuously."""

    def __init__(self, endpoint: str, service: str = SERVICE, *, normal: bool = False) -> None:
        """``normal``: only what a healthy app sends (completed, abandoned and error streams; no timeouts, no
        stalls, no slow model, no malformed requests) instead of every case."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.normal = normal
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
        )
        self.tracer = self.provider.get_tracer("streamscope.tests.grafana")
        self.endpoint = endpoint
        self.batches = 0
        self.trace_ids: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def stream(self, model: str, ttft: float, outcome: str, *, stall: bool = False) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        gaps = [0.05, 0.05, 2.5 if stall else 0.06, 0.05]
        chunk_offsets = [ttft]
        for gap in gaps:
            chunk_offsets.append(chunk_offsets[-1] + gap)
        output_tokens = len(chunk_offsets)
        now = time.time_ns()
        start = now - int((chunk_offsets[-1] + 0.01) * 1e9)
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.request.stream": True,
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": output_tokens,
            "gen_ai.response.time_to_first_chunk": ttft,
            "streamscope.stream.outcome": outcome,
            "streamscope.stream.time_to_first_chunk": ttft,
            "streamscope.stream.time_to_first_token": ttft,
            "streamscope.stream.chunk_count": len(chunk_offsets),
            "streamscope.stream.gap_p50": sorted(gaps)[len(gaps) // 2],
            "streamscope.stream.gap_p95": max(gaps),
            "streamscope.stream.gap_max": max(gaps),
            "streamscope.stream.stall_count": 1 if stall else 0,
            "streamscope.stream.stall_threshold": 2.0,
            "streamscope.stream.output_tokens_per_second": output_tokens
            / (chunk_offsets[-1] - chunk_offsets[0]),
            "streamscope.usage.source": "provider",
        }
        if outcome in ("error", "timeout"):
            attributes["error.type"] = "TimeoutError" if outcome == "timeout" else "APIError"
        span = self.tracer.start_span(
            f"chat {model}", kind=SpanKind.CLIENT, start_time=start, attributes=attributes
        )
        self.trace_ids.add(format(span.get_span_context().trace_id, "032x"))
        context = trace.set_span_in_context(span)
        previous = None
        for index, offset in enumerate(chunk_offsets):
            at = start + int(offset * 1e9)
            chunk = self.tracer.start_span(
                "streamscope.chunk",
                context=context,
                start_time=at,
                attributes={
                    "streamscope.chunk.index": index,
                    "streamscope.chunk.offset": offset,
                    "streamscope.chunk.gap": (offset - previous) if previous is not None else offset,
                    "streamscope.chunk.kind": "content",
                    "streamscope.chunk.size": 5,
                    "streamscope.chunk.tokens": 1,
                },
            )
            chunk.end(end_time=at)
            previous = offset
        if outcome in ("error", "timeout"):
            span.set_status(Status(StatusCode.ERROR, f"stream ended with {outcome}"))
        span.end(end_time=now)

    def batch(self) -> None:
        if self.normal:
            for outcome in ("completed", "completed", "completed", "abandoned", "error"):
                self.stream(HEALTHY_MODEL, 0.1, outcome)
            self.provider.force_flush()
            self.batches += 1
            return
        for outcome in OUTCOMES:
            self.stream(HEALTHY_MODEL, 0.1, outcome, stall=outcome == "completed")
        for number in range(3):
            self.stream(SLOW_MODEL, 5.0, "completed", stall=number == 0)
        self.provider.force_flush()
        # A malformed request: the collector must refuse it with a 4xx and count the rejection.
        with httpx.Client(timeout=10) as client:
            client.post(
                f"{self.endpoint}/v1/traces",
                content=b"\x0a\xff not protobuf",
                headers={"Content-Type": "application/x-protobuf"},
            )
        self.batches += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.batch()
            self._stop.wait(0.5)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.provider.shutdown()


def _shrink_rules(text: str) -> dict[str, Any]:
    """The real alerts.yml with test-sized windows and `for` durations; expressions and thresholds unchanged."""
    rules = yaml.safe_load(re.sub(r"\[(5m|1h)\]", f"[{RATE_WINDOW}]", text))
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    return dict(rules)


@dataclass
class Stack:
    collector: Collector
    prometheus: str
    alertmanager: str
    rules: dict[str, Any]
    workload: Workload
    demo: subprocess.Popen[str] | None = None

    def query(self, expr: str) -> list[dict[str, Any]]:
        with httpx.Client(timeout=10) as client:
            response = client.get(f"{self.prometheus}/api/v1/query", params={"query": expr})
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", (expr, body)
        return list(body["data"]["result"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not _collector_command_available():
        pytest.skip(
            "`streamscope collector` is not available yet (no 'collector' entry point in streamscope.commands)"
        )
    prometheus_bin = _tool("prometheus")
    alertmanager_bin = _tool("prometheus-alertmanager", "alertmanager")
    work = tmp_path_factory.mktemp("prometheus-stack")
    procs: list[subprocess.Popen[Any]] = []
    logs: list[IO[str]] = []
    workload: Workload | None = None
    try:
        collector = _start_collector(work / "streamscope.db")
        procs.append(collector.proc)
        host_port = collector.url.removeprefix("http://").rstrip("/")

        am_port = free_port()
        am_config = yaml.safe_load(
            (GRAFANA / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8")
        )
        am_config["route"].update(group_wait="1s", group_interval="1s")
        for receiver in am_config["receivers"]:
            receiver.pop("webhook_configs", None)  # the example's webhooks point nowhere; routing stays real
        (work / "alertmanager.yml").write_text(yaml.safe_dump(am_config), encoding="utf-8")
        procs.append(
            subprocess.Popen(
                [
                    alertmanager_bin,
                    f"--config.file={work / 'alertmanager.yml'}",
                    f"--storage.path={work / 'am'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                ],
                stdout=subprocess.DEVNULL,
                stderr=_log(logs, work / "alertmanager.log"),
            )
        )

        rules = _shrink_rules((GRAFANA / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
        (work / "alerts.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
        config = yaml.safe_load((GRAFANA / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
        config["global"].update(scrape_interval="500ms", evaluation_interval="1s")
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{am_port}"]
        (job,) = config["scrape_configs"]
        job["static_configs"][0]["targets"] = [host_port]
        (work / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        prom_port = free_port()
        procs.append(
            subprocess.Popen(
                [
                    prometheus_bin,
                    f"--config.file={work / 'prometheus.yml'}",
                    f"--storage.tsdb.path={work / 'prom'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--enable-feature=exemplar-storage",
                ],
                stdout=subprocess.DEVNULL,
                stderr=_log(logs, work / "prometheus.log"),
            )
        )

        prometheus, alertmanager = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}"
        with httpx.Client(timeout=5) as client:
            for url in (f"{prometheus}/-/ready", f"{alertmanager}/-/ready"):
                wait_for(lambda url=url: _ok(client, url), url)
        workload = Workload(collector.url)
        workload.start()
        demo = subprocess.Popen(  # the real demo workload, beside the scripted one, on its own service
            [
                sys.executable,
                "-m",
                "streamscope",
                "demo",
                "--endpoint",
                collector.url,
                "--service-name",
                DEMO_SERVICE,
                "--rate",
                "6",
                "--seed",
                "1",
                "--no-progress",
            ],
            stdout=subprocess.DEVNULL,
            stderr=_log(logs, work / "demo.log"),
            text=True,
            cwd=ROOT,
        )
        procs.append(demo)
        stack = Stack(collector, prometheus, alertmanager, rules, workload, demo)
        # Let Prometheus scrape the running workload for longer than a rate window before any query is judged,
        # so each query below gets only a short grace period (a broken name fails fast, not after a minute).
        wait_for(
            lambda: stack.query(
                'count_over_time(up{job="streamscope-collector"}[1m]) >= 12 and '
                'max_over_time(up{job="streamscope-collector"}[1m]) == 1'
            ),
            "a dozen scrapes of the collector",
        )
        yield stack
    finally:
        if workload is not None:
            workload.close()
        for proc in reversed(procs):
            stop(proc)
        for log in logs:
            log.close()


def _log(logs: list[IO[str]], path: Path) -> IO[str]:
    log = path.open("w", encoding="utf-8")
    logs.append(log)
    return log


def _ok(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def _has_finite_value(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def test_prometheus_scrapes_the_collector(stack: Stack) -> None:
    result = wait_for(
        lambda: stack.query('up{job="streamscope-collector"} == 1'), "the collector target to be up"
    )
    assert len(result) == 1
    wait_for(
        lambda: stack.query("streamscope_collector_spans_received_total > 0"), "received spans to be counted"
    )


def _panel_targets() -> list[targets.Target]:
    found = []
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        found.extend(targets.targets(json.loads(path.read_text(encoding="utf-8"))))
    return found


PANEL_TARGETS = _panel_targets()
VARIABLES = {"service": SERVICE, "model": SLOW_MODEL, "job": "streamscope-collector", "instance": ".*"}


@pytest.mark.parametrize(
    "target", PANEL_TARGETS, ids=[f"{t.dashboard}:{t.panel}:{t.ref_id}" for t in PANEL_TARGETS]
)
def test_every_panel_query_returns_series(stack: Stack, target: targets.Target) -> None:
    values = dict(VARIABLES)
    if target.dashboard != "streamscope-model":
        values["model"] = ".*"  # multi-value "All"
    expr = targets.expand(target.expr, values, RATE_WINDOW)
    result = wait_for(
        lambda: (lambda r: r if _has_finite_value(r) else None)(stack.query(expr)),
        f"{target.panel!r} to return a finite value for {expr}",
        timeout=QUERY_GRACE,
    )
    assert result


def _variable_queries() -> list[targets.VariableQuery]:
    found = []
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        found.extend(targets.variable_queries(json.loads(path.read_text(encoding="utf-8"))))
    return found


VARIABLE_QUERIES = _variable_queries()
EXPECTED_VALUES = {"service": SERVICE, "model": SLOW_MODEL, "job": "streamscope-collector"}


@pytest.mark.parametrize(
    "variable", VARIABLE_QUERIES, ids=[f"{v.dashboard}:{v.name}" for v in VARIABLE_QUERIES]
)
def test_every_dashboard_variable_lists_the_workload_values(
    stack: Stack, variable: targets.VariableQuery
) -> None:
    """Grafana fills variables from /api/v1/series; the dropdowns must offer what the collector reports."""
    match = targets.expand(variable.match, {"service": SERVICE, "job": "streamscope-collector"}, RATE_WINDOW)

    def values() -> set[str]:
        with httpx.Client(timeout=10) as client:
            response = client.get(f"{stack.prometheus}/api/v1/series", params={"match[]": match})
        response.raise_for_status()
        return {series.get(variable.label, "") for series in response.json()["data"]} - {""}

    found = wait_for(values, f"values of ${variable.name} from {match}", timeout=QUERY_GRACE)
    expected = EXPECTED_VALUES.get(variable.name)
    if expected is not None:
        assert expected in found


def test_every_recording_rule_returns_series(stack: Stack) -> None:
    records = [
        rule["record"] for group in stack.rules["groups"] for rule in group["rules"] if "record" in rule
    ]
    assert len(records) >= 8
    for record in records:
        wait_for(
            lambda record=record: stack.query(record),
            f"recording rule {record} to return series",
            timeout=QUERY_GRACE,
        )


SDK_SERVICE = "grafana-it-sdk"
SDK_WORKLOAD = """
import sys
import streamscope
from streamscope.engine import FakeStreamingChatModel

tracing = streamscope.init(endpoint=sys.argv[1], service_name=sys.argv[2])
model = FakeStreamingChatModel(chunks=["Hello", " stream", "ing", " world"], ttft=0.01, gap=0.005,
                               usage={"input_tokens": 5, "output_tokens": 4, "total_tokens": 9}, model="sdk-model")
for _ in range(5):
    for _chunk in model.stream("hi"):
        pass
flushed = tracing.force_flush(60)
print(flushed, tracing.exported_spans, tracing.failed_spans)
tracing.shutdown()
"""


def _run_sdk_workload(stack: Stack) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SDK_WORKLOAD, stack.collector.url, SDK_SERVICE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    flushed, exported, failed = result.stdout.split()
    assert (flushed, failed) == ("True", "0") and int(exported) > 0, result.stdout + result.stderr


def test_streams_traced_by_the_real_sdk_fill_the_overview(stack: Stack) -> None:
    """streamscope.init + an engine model stream, through the collector and Prometheus, into the panels."""
    count = f'gen_ai_client_operation_time_to_first_chunk_seconds_count{{service="{SDK_SERVICE}"}}'
    _run_sdk_workload(stack)
    first = wait_for(lambda: stack.query(count), "the SDK's first streams to be scraped")
    _run_sdk_workload(stack)  # a second burst after a scrape, so rates over the window are non-zero
    wait_for(
        lambda: stack.query(f"{count} > {first[0]['value'][1]}"), "the SDK's second streams to be scraped"
    )
    overview = json.loads((GRAFANA / "dashboards" / "streamscope-overview.json").read_text(encoding="utf-8"))
    # Only completed, unstalled, successful streams were sent: skip the panels about other outcomes.
    checked = [
        t
        for t in targets.targets(overview)
        if "outcome=" not in t.expr and "stalls" not in t.expr and "error_type" not in t.expr
    ]
    assert len(checked) >= 12
    for target in checked:
        expr = targets.expand(target.expr, {"service": SDK_SERVICE, "model": ".*"}, "1m")
        result = wait_for(
            lambda expr=expr: (lambda r: r if _has_finite_value(r) else None)(stack.query(expr)),
            f"{target.panel!r} for the SDK's service: {expr}",
            timeout=QUERY_GRACE,
        )
        assert all(series["metric"].get("model", "sdk-model") == "sdk-model" for series in result)


@pytest.mark.parametrize("dashboard", ["streamscope-overview", "streamscope-model"])
def test_every_panel_returns_series_for_the_demo_workload(stack: Stack, dashboard: str) -> None:
    """`streamscope demo` (every outcome, stalls, errors, agents, several models) fills every panel of the
    overview and the per-model drill-down, with no panel skipped."""
    assert stack.demo is not None and stack.demo.poll() is None, "the demo workload exited"
    board = json.loads((GRAFANA / "dashboards" / f"{dashboard}.json").read_text(encoding="utf-8"))
    checked = targets.targets(board)
    assert len(checked) >= 10
    model = "gpt-4o-mini" if dashboard == "streamscope-model" else ".*"
    for target in checked:
        expr = targets.expand(target.expr, {"service": DEMO_SERVICE, "model": model}, "1m")
        result = wait_for(
            lambda expr=expr: (lambda r: r if _has_finite_value(r) else None)(stack.query(expr)),
            f"{target.panel!r} for the demo's service: {expr}",
            timeout=DEADLINE,
        )
        assert all(series["metric"].get("service", DEMO_SERVICE) == DEMO_SERVICE for series in result), result


def test_latency_exemplars_carry_trace_ids_of_real_streams(stack: Stack) -> None:
    """The panels' exemplar points link to /traces/<trace_id>: the id must be one the workload really sent."""

    def exemplars() -> list[dict[str, Any]]:
        now = time.time()
        with httpx.Client(timeout=10) as client:
            response = client.get(
                f"{stack.prometheus}/api/v1/query_exemplars",
                params={
                    "query": f'gen_ai_client_operation_time_to_first_chunk_seconds_bucket{{model="{SLOW_MODEL}"}}',
                    "start": now - 300,
                    "end": now,
                },
            )
        response.raise_for_status()
        return [exemplar for series in response.json()["data"] for exemplar in series["exemplars"]]

    found = wait_for(exemplars, "exemplars on the time-to-first-chunk histogram")
    trace_ids = {exemplar["labels"].get("trace_id") for exemplar in found}
    assert all(re.fullmatch(r"[0-9a-f]{32}", str(trace_id)) for trace_id in trace_ids), trace_ids
    assert trace_ids <= stack.workload.trace_ids


def test_slow_ttft_fires_through_alertmanager_and_the_healthy_model_stays_silent(stack: Stack) -> None:
    alertname = "StreamscopeHighTimeToFirstChunk"

    def alertmanager_alerts() -> list[dict[str, Any]]:
        with httpx.Client(timeout=5) as client:
            response = client.get(
                f"{stack.alertmanager}/api/v2/alerts",
                params={"filter": [f'alertname="{alertname}"', f'service="{SERVICE}"']},
            )
        response.raise_for_status()
        return list(response.json())

    received = wait_for(alertmanager_alerts, f"{alertname} to reach Alertmanager")
    assert {alert["labels"]["model"] for alert in received} == {SLOW_MODEL}
    (alert,) = received
    assert alert["status"]["state"] == "active"
    assert alert["labels"]["severity"] == "warning"
    assert alert["receivers"] == [{"name": "chat"}]  # routed by severity
    assert alert["annotations"]["summary"].startswith(f"{SLOW_MODEL} p95 time to first chunk is ")
    # The healthy model has had as many evaluations with data as the slow one, and never left inactive.
    firing = stack.query(f'ALERTS{{alertname="{alertname}", service="{SERVICE}"}}')
    assert {series["metric"]["model"] for series in firing} == {SLOW_MODEL}
    healthy_p95 = stack.query(
        f'service_model:gen_ai_client_operation_time_to_first_chunk_seconds:p95_rate5m{{model="{HEALTHY_MODEL}"}}'
    )
    assert healthy_p95 and float(healthy_p95[0]["value"][1]) < 2


NORMAL_SERVICE = "grafana-it-normal"


def test_every_panel_has_data_under_normal_traffic(stack: Stack) -> None:
    """Normal traffic only (completed, abandoned and error streams; no timeouts, stalls or rejections) fills every
    panel of the overview and the model drill-down: counters with known labels start at 0, so ratio and stall
    panels read 0 rather than "No data"."""
    normal = Workload(stack.collector.url, NORMAL_SERVICE, normal=True)
    normal.start()
    try:
        for dashboard in ("streamscope-overview", "streamscope-model"):
            board = json.loads((GRAFANA / "dashboards" / f"{dashboard}.json").read_text(encoding="utf-8"))
            model = HEALTHY_MODEL if dashboard == "streamscope-model" else ".*"
            for target in targets.targets(board):
                expr = targets.expand(target.expr, {"service": NORMAL_SERVICE, "model": model}, RATE_WINDOW)
                result = wait_for(
                    lambda expr=expr: (lambda r: r if _has_finite_value(r) else None)(stack.query(expr)),
                    f"{target.panel!r} under normal traffic: {expr}",
                    timeout=DEADLINE,
                )
                assert result
        timeouts = stack.query(
            f'streamscope_stream_outcomes_total{{service="{NORMAL_SERVICE}", outcome="timeout"}}'
        )
        assert timeouts and all(float(series["value"][1]) == 0 for series in timeouts)
    finally:
        normal.close()
