"""streamscope.init(): real OTLP export to a real receiver, env vars, drops counted, a dead collector is harmless."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest
from otlp_receiver import Receiver, attrs

import streamscope
from streamscope.tracing.config import ConfigError, resolve
from streamscope.tracing.streams import CONTENT, ROLE, start_stream


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _stream(n: int, model: str = "m") -> None:
    rec = start_stream(model=model, provider="openai")
    rec.chunk(ROLE)
    for i in range(n - 1):
        rec.chunk(CONTENT, f"w{i} ")
    rec.end("completed")


def test_exports_llm_and_chunk_spans_over_otlp_http(receiver: Receiver) -> None:
    tracing = streamscope.init(
        receiver.url, service_name="svc-a", headers={"x-api-key": "k1"}, instrument_engine=False
    )
    try:

        @streamscope.trace
        def job() -> None:
            _stream(5)

        with streamscope.context(session_id="s-9", user_id="u-1", tags=["t"], metadata={"tier": "gold"}):
            job()
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    llm = receiver.named("chat m")[0]
    fn = next(s for s in receiver.spans if s.name.endswith("job"))
    chunks = receiver.named("streamscope.chunk")
    assert len(chunks) == 5
    assert llm.parent_span_id == fn.span_id
    assert all(c.parent_span_id == llm.span_id and c.trace_id == llm.trace_id for c in chunks)
    a = attrs(llm)
    assert a["streamscope.stream.outcome"] == "completed"
    assert a["streamscope.stream.chunk_count"] == 5
    assert a["session.id"] == "s-9" and a["user.id"] == "u-1"
    assert a["streamscope.tags"] == ("t",) and a["streamscope.metadata.tier"] == "gold"
    assert attrs(chunks[0])["session.id"] == "s-9"
    assert sorted(attrs(c)["streamscope.chunk.index"] for c in chunks) == [0, 1, 2, 3, 4]
    assert {r["service.name"] for r in receiver.resources} == {"svc-a"}
    assert all(h.get("x-api-key") == "k1" for h in receiver.headers_seen)
    assert all(h.get("Content-Type") == "application/x-protobuf" for h in receiver.headers_seen)
    assert tracing.dropped_spans == 0 and tracing.failed_spans == 0
    assert tracing.exported_spans == 7


def test_environment_variables_are_honoured(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{receiver.port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0k")
    monkeypatch.setenv("STREAMSCOPE_CHUNK_SPANS", "false")
    monkeypatch.setenv("STREAMSCOPE_CAPTURE_CONTENT", "0")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    tracing = streamscope.init(instrument_engine=False)
    try:
        assert tracing.config.endpoint == f"http://127.0.0.1:{receiver.port}/v1/traces"
        _stream(3)
        tracing.force_flush(10)
    finally:
        tracing.shutdown()
    assert receiver.named("streamscope.chunk") == []
    a = attrs(receiver.named("chat m")[0])
    assert a["streamscope.chunks.kind"] == ("role", "content", "content")
    assert "gen_ai.output.messages" not in a
    assert receiver.resources[0]["service.name"] == "from-env"
    assert receiver.headers_seen[0]["authorization"] == "Bearer t0k"
    assert receiver.headers_seen[0]["Content-Encoding"] == "gzip"


def test_explicit_arguments_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMSCOPE_SERVICE_NAME", "env-name")
    monkeypatch.setenv("STREAMSCOPE_SAMPLE_RATE", "0.5")
    cfg = resolve("http://h:1", service_name="arg-name", sample_rate=1.0)
    assert cfg.service_name == "arg-name" and cfg.sample_rate == 1.0
    assert cfg.endpoint == "http://h:1/v1/traces"
    assert resolve(env={"STREAMSCOPE_SERVICE_NAME": "x", "OTEL_SERVICE_NAME": "y"}).service_name == "x"
    assert resolve(protocol="grpc", env={}).endpoint == "localhost:4317"


@pytest.mark.parametrize(
    ("kwargs", "env", "message"),
    [
        ({"protocol": "carrier-pigeon"}, {}, "protocol must be"),
        ({"sample_rate": 2.0}, {}, "sample_rate must be between"),
        ({"stall_threshold": 0}, {}, "stall_threshold must be"),
        ({}, {"STREAMSCOPE_CHUNK_SPANS": "maybe"}, "must be true or false"),
        ({}, {"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "headers must look like"),
        ({"endpoint": "ftp://x"}, {}, "must be an http"),
        ({}, {"STREAMSCOPE_STALL_THRESHOLD": "soon"}, "must be a number"),
        ({"count_tokens": 4}, {}, "count_tokens must be a callable"),
    ],
)
def test_bad_settings_raise_a_clear_error(
    kwargs: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(env=env, **kwargs)  # type: ignore[arg-type]


def test_sampling_zero_exports_nothing(receiver: Receiver) -> None:
    tracing = streamscope.init(receiver.url, sample_rate=0.0, instrument_engine=False)
    try:
        _stream(10)
        tracing.force_flush(5)
    finally:
        tracing.shutdown()
    assert receiver.spans == []


def test_100_concurrent_streams_of_1000_chunks_are_not_dropped(receiver: Receiver) -> None:
    tracing = streamscope.init(receiver.url, service_name="load", instrument_engine=False)
    try:
        recs = [start_stream(model=f"m{i}") for i in range(100)]
        for j in range(1000):  # interleaved, as concurrent streams are
            for rec in recs:
                rec.chunk(CONTENT, "x" if j else "")
        for rec in recs:
            rec.end("completed")
        assert tracing.force_flush(60)
    finally:
        tracing.shutdown()
    assert tracing.dropped_spans == 0 and tracing.failed_spans == 0
    assert len(receiver.named("streamscope.chunk")) == 100_000
    assert len(receiver.spans) == 100_100


def test_a_full_queue_drops_are_counted_logged_and_reported_on_the_span(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    tracing = streamscope.init(receiver.url, max_queue_size=10, instrument_engine=False)
    try:
        with caplog.at_level(logging.WARNING, logger="streamscope.export"):
            _stream(50)
        tracing.force_flush(10)
    finally:
        tracing.shutdown()
    assert tracing.dropped_spans == 50
    assert "dropped 50 span(s)" in caplog.text
    assert attrs(receiver.named("chat m")[0])["streamscope.stream.chunk_spans_dropped"] == 50


def _dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def test_no_collector_listening_costs_the_app_nothing_visible() -> None:
    tracing = streamscope.init(f"http://127.0.0.1:{_dead_port()}", instrument_engine=False)
    try:

        @streamscope.trace
        def work() -> int:
            _stream(200)
            return 42

        assert work() == 42  # no exception reaches user code
        tracing.force_flush(0.5)
    finally:
        started = time.monotonic()
        tracing.shutdown(timeout=2)
        assert time.monotonic() - started < 3
    assert tracing.failed_spans >= 1


def test_a_rejecting_collector_is_counted_not_raised(receiver: Receiver) -> None:
    receiver.status = 400
    tracing = streamscope.init(receiver.url, instrument_engine=False)
    try:
        _stream(3)
        tracing.force_flush(5)
    finally:
        tracing.shutdown()
    assert receiver.requests == 1  # 400 is never retried
    assert tracing.failed_spans == 4


def test_retryable_status_is_retried(receiver: Receiver) -> None:
    receiver.fail_next = [503, 503]
    tracing = streamscope.init(receiver.url, instrument_engine=False)
    try:
        _stream(2)
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    assert receiver.requests == 3
    assert tracing.failed_spans == 0
    assert len(receiver.named("streamscope.chunk")) == 2


def test_disabled_sdk_is_a_noop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    tracing = streamscope.init("http://127.0.0.1:9", instrument_engine=False)
    assert tracing.provider is None and tracing.force_flush()
    tracing.shutdown()


def test_second_init_replaces_the_first(receiver: Receiver) -> None:
    first = streamscope.init(receiver.url, service_name="one", instrument_engine=False)
    second = streamscope.init(receiver.url, service_name="two", instrument_engine=False)
    try:
        _stream(1)
        second.force_flush(5)
    finally:
        second.shutdown()
    assert first.pipeline is not None and first.pipeline.dropped_spans == 0
    assert {r["service.name"] for r in receiver.resources} == {"two"}


def test_grpc_protocol_exports_to_a_real_grpc_receiver() -> None:
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    got: list[str] = []

    class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # type: ignore[no-untyped-def]
            got.extend(sp.name for rs in request.resource_spans for ss in rs.scope_spans for sp in ss.spans)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        tracing = streamscope.init(f"http://127.0.0.1:{port}", protocol="grpc", instrument_engine=False)
        try:
            _stream(3)
            assert tracing.force_flush(10)
        finally:
            tracing.shutdown()
    finally:
        server.stop(0).wait()
    assert sorted(got) == ["chat m"] + ["streamscope.chunk"] * 3


def test_count_tokens_reaches_the_settings() -> None:
    def count(text: str) -> int:
        return len(text)

    assert resolve(env={}, count_tokens=count).settings.count_tokens is count
    assert resolve(env={}).settings.count_tokens is None
