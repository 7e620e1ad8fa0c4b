"""A ClickHouse server that stops answering (a stalled process, not a refused connection; the refused case is
test_clickhouse_scaleout.py): ingest answers 503 with Retry-After, never 500 or 200 for spans not stored, and
recovers without a restart once the server answers again; nothing acknowledged is lost and a retry counts once. The
503 comes before an OTLP exporter's default timeout (10 s) runs out."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from google.rpc import status_pb2

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parents[1] / "collector"))
from otlp import our_stream
from proc import start_collector

import chserver
from streamscope.collector.receiver import ACK_TIMEOUT

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PROTOBUF = {"Content-Type": "application/x-protobuf"}
EXPORTER_TIMEOUT = 10.0  # s: what OTLP exporters wait for an answer by default (OTEL_EXPORTER_OTLP_TIMEOUT)


def test_a_stalled_clickhouse_gives_503_and_ingest_recovers_without_restart(tmp_path: Path) -> None:
    server = chserver.start(tmp_path / "ch")
    collector = start_collector(str(tmp_path / "unused.db"), "--store", server.url("stall"))
    stopped = False
    try:
        with httpx.Client(base_url=collector.url, timeout=ACK_TIMEOUT + 60) as client:
            req, before = our_stream(3)
            assert (
                client.post("/v1/traces", content=req.SerializeToString(), headers=PROTOBUF).status_code
                == 200
            )
            os.kill(server.proc.pid, signal.SIGSTOP)  # accepts connections (the kernel does), answers nothing
            stopped = True
            req, during = our_stream(4)
            body = req.SerializeToString()
            # answered before an exporter with the default timeout gives up (httpx raises ReadTimeout otherwise)
            r = client.post("/v1/traces", content=body, headers=PROTOBUF, timeout=EXPORTER_TIMEOUT)
            assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1, (r.status_code, r.text[:200])
            assert "retry" in status_pb2.Status.FromString(r.content).message  # the OTLP error body
            os.kill(server.proc.pid, signal.SIGCONT)
            stopped = False
            for _ in range(100):  # the exporter's retries
                r = client.post("/v1/traces", content=body, headers=PROTOBUF)
                if r.status_code == 200:
                    break
                assert r.status_code == 503, (r.status_code, r.text[:200])
                time.sleep(0.2)
            assert r.status_code == 200
            ids = sorted(s["span_id"] for s in client.get("/api/streams").json()["streams"])
            assert ids == sorted([before["llm"], during["llm"]])
            # aggregates are derived off the write path (once a second): wait for them to converge, then check
            # that they counted each stream once
            deadline = time.monotonic() + 60
            while client.get("/api/stats").json()["total"]["count"] < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(2)  # a later pass must not count the retried stream again
            assert client.get("/api/stats").json()["total"]["count"] == 2
    finally:
        if stopped:
            os.kill(server.proc.pid, signal.SIGCONT)
        collector.stop()
        server.stop()
