"""kill -9 while exporters are sending: after a restart every acknowledged span is queryable."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from otlp import our_stream
from proc import start_collector

pytestmark = pytest.mark.integration
PB = {"Content-Type": "application/x-protobuf"}


def test_kill9_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = str(tmp_path / "d.db")
    c = start_collector(db)
    acked: list[tuple[str, int]] = []  # (trace_id, n_chunks)
    stop = threading.Event()

    def http_sender() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                req, ids = our_stream(50)
                try:
                    r = client.post(f"{c.url}/v1/traces", content=req.SerializeToString(), headers=PB)
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acked.append((ids["trace_id"], 50))

    def grpc_sender() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{c.grpc_port}") as ch:
            stub = trace_service_pb2_grpc.TraceServiceStub(ch)
            while not stop.is_set():
                req, ids = our_stream(20)
                try:
                    stub.Export(req, timeout=10)
                except grpc.RpcError:
                    return
                acked.append((ids["trace_id"], 20))

    threads = [threading.Thread(target=f) for f in (http_sender, http_sender, grpc_sender)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    c.stop(signal.SIGKILL)  # mid-stream: requests are in flight
    stop.set()
    for t in threads:
        t.join(15)
    snapshot = list(acked)
    assert len(snapshot) >= 60
    c2 = start_collector(db)
    try:
        with httpx.Client(base_url=c2.url, timeout=10) as client:
            for trace_id, n in snapshot:
                r = client.get("/api/streams", params={"trace_id": trace_id}).json()["streams"]
                assert len(r) == 1, trace_id
                chunks = client.get(f"/api/streams/{r[0]['span_id']}/chunks").json()["chunks"]
                assert len(chunks) == n
    finally:
        c2.stop()


def test_grpc_without_key_is_unauthenticated(tmp_path: Path) -> None:
    c = start_collector(str(tmp_path / "k.db"), "--api-key", "k1")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{c.grpc_port}") as ch:
            stub = trace_service_pb2_grpc.TraceServiceStub(ch)
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(our_stream(1)[0], timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            stub.Export(our_stream(1)[0], timeout=10, metadata=(("authorization", "Bearer k1"),))
    finally:
        c.stop()
