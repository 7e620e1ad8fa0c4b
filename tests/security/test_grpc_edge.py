"""Issue 18 items 2 and 9 (gRPC, in process): calls that open and never send their message hold no worker and
are ended at the deadline; overload answers UNAVAILABLE with a RetryInfo; a poisoned span is a partial success,
not UNKNOWN. Against a real collector process: test_real_processes.py."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from hostile import stored_names
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from otlp import new_span_id, new_trace_id, our_stream, pb_span, request

from streamscope.collector.limits import Limits
from streamscope.collector.server import CollectorServer

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def open_idle_calls(ch: grpc.Channel, n: int, release: threading.Event) -> list[grpc.Future]:
    """``n`` calls that send their headers and then nothing until ``release`` is set."""

    def never() -> Iterator[bytes]:
        release.wait()
        return
        yield b""  # a generator

    call = ch.stream_unary(EXPORT, request_serializer=None, response_deserializer=None)
    return [call.future(never(), timeout=120) for _ in range(n)]


def wait_open(server: CollectorServer, n: int) -> None:
    """Until the collector has ``n`` calls open (the idle calls open asynchronously)."""
    assert server._grpc is not None
    deadline = time.monotonic() + 30
    while server._grpc._traces.active < n:
        assert time.monotonic() < deadline, f"only {server._grpc._traces.active} calls open"
        time.sleep(0.01)


def export(ch: grpc.Channel, body: bytes, timeout: float = 10) -> bytes:
    call = ch.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
    result: bytes = call(body, timeout=timeout)
    return result


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[CollectorServer, grpc.Channel]]:
    s = CollectorServer(str(tmp_path / "g.db"), http_port=0, grpc_port=0,
                        limits=Limits(request_timeout=2, grpc_max_concurrent_rpcs=20))  # fmt: skip
    _, port = s.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield s, ch
    s.stop()


def test_idle_calls_do_not_take_the_workers(tmp_path: Path) -> None:
    """16 calls without a message (twice the worker threads), held for longer than the client waits: a normal
    export is still answered (a thread per call would keep it waiting for the 60 s deadline)."""
    s = CollectorServer(str(tmp_path / "w.db"), http_port=0, grpc_port=0, limits=Limits(request_timeout=60))
    _, port = s.start()
    release = threading.Event()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            idle = open_idle_calls(ch, 16, release)
            wait_open(s, 16)
            for _ in range(3):
                assert export(ch, our_stream(2)[0].SerializeToString(), timeout=10) == b""
            release.set()
            for f in idle:
                f.exception(timeout=30)
    finally:
        release.set()
        s.stop()


def test_a_call_whose_message_does_not_arrive_ends_at_the_deadline(
    limited: tuple[CollectorServer, grpc.Channel],
) -> None:
    server, ch = limited
    release = threading.Event()
    idle = open_idle_calls(ch, 4, release)
    try:
        for f in idle:  # DEADLINE_EXCEEDED with the reason, at the 2 s deadline
            with pytest.raises(grpc.RpcError) as err:
                f.result(timeout=30)
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "did not arrive within 2 s" in (err.value.details() or "")
    finally:
        release.set()
    deadline = time.monotonic() + 10  # the handler's bookkeeping ends just after the client has its answer
    while server._grpc is not None and server._grpc._traces.active and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server._grpc is not None and server._grpc._traces.active == 0


def test_too_many_calls_is_unavailable_with_retry_info(limited: tuple[CollectorServer, grpc.Channel]) -> None:
    server, ch = limited
    release = threading.Event()
    idle = open_idle_calls(ch, 20, release)
    try:
        wait_open(server, 20)
        with pytest.raises(grpc.RpcError) as err:
            export(ch, our_stream(1)[0].SerializeToString())
    finally:
        release.set()
    rpc = err.value
    assert rpc.code() == grpc.StatusCode.UNAVAILABLE
    trailers = dict(rpc.trailing_metadata() or ())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay.seconds == 1
    assert error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]) == info
    for f in idle:
        f.exception(timeout=30)


def test_queue_full_is_unavailable_with_retry_info(tmp_path: Path) -> None:
    s = CollectorServer(
        str(tmp_path / "q.db"), http_port=0, grpc_port=0, max_queue_rows=10
    )  # one batch of 7 rows fits
    _, port = s.start()
    try:
        s.ingestor.paused.set()  # the writer holds: the first batch stays queued
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            first = ch.unary_unary(EXPORT, request_serializer=None, response_deserializer=None).future(
                our_stream(3)[0].SerializeToString(), timeout=30)  # fmt: skip
            while s.ingestor.queued_rows == 0:
                threading.Event().wait(0.01)
            with pytest.raises(grpc.RpcError) as err:
                export(ch, our_stream(3)[0].SerializeToString())
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            trailers = dict(err.value.trailing_metadata() or ())
            assert (
                error_details_pb2.RetryInfo.FromString(
                    trailers["google.rpc.retryinfo-bin"]
                ).retry_delay.seconds
                == 1
            )
            s.ingestor.paused.clear()
            assert first.result(timeout=30) == b""
    finally:
        s.ingestor.paused.clear()
        s.stop()


def test_too_many_spans_is_resource_exhausted_without_retry_info(
    limited: tuple[CollectorServer, grpc.Channel],
) -> None:
    server, ch = limited
    tid = new_trace_id()
    n = server.limits.max_spans_per_request + 1
    body = request([pb_span(tid, (i + 1).to_bytes(8, "big")) for i in range(n)]).SerializeToString()
    with pytest.raises(grpc.RpcError) as err:
        export(ch, body, timeout=60)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "spans" in (err.value.details() or "")
    assert "google.rpc.retryinfo-bin" not in dict(err.value.trailing_metadata() or ())


def test_a_poisoned_span_is_a_partial_success_over_grpc(
    limited: tuple[CollectorServer, grpc.Channel],
) -> None:
    server, ch = limited
    tid = new_trace_id()
    poisoned = pb_span(tid, new_span_id(), name="poisoned", attrs={
        "langfuse.observation.type": "generation", "langfuse.observation.completion_start_time": math.nan})  # fmt: skip
    body = request([pb_span(tid, new_span_id(), name="plain"), poisoned]).SerializeToString()
    resp = ExportTraceServiceResponse.FromString(export(ch, body))
    assert resp.partial_success.rejected_spans == 1
    with httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}", timeout=10) as client:
        assert stored_names(client, tid) == ["plain"]


def test_one_client_holds_at_most_its_share_of_calls(tmp_path: Path) -> None:
    s = CollectorServer(str(tmp_path / "pc.db"), http_port=0, grpc_port=0,
                        limits=Limits(request_timeout=20, grpc_max_calls_per_client=4))  # fmt: skip
    _, port = s.start()
    release = threading.Event()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            idle = open_idle_calls(ch, 4, release)
            wait_open(s, 4)
            with pytest.raises(grpc.RpcError) as err:
                export(ch, our_stream(1)[0].SerializeToString())
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "this client" in (err.value.details() or "")
            assert "google.rpc.retryinfo-bin" in dict(err.value.trailing_metadata() or ())
            release.set()
            for f in idle:
                f.exception(timeout=30)
            assert export(ch, our_stream(1)[0].SerializeToString()) == b""  # its share is back
    finally:
        release.set()
        s.stop()
