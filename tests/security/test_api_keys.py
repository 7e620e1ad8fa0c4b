"""Issue 18, item 10: an empty ``--api-key`` is refused; gRPC Metrics and Logs need the key on a keyed collector.

Item 11 (collector side): the key check is constant-time (fixed-length digests, every key compared).
"""

from __future__ import annotations

import hmac
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

from streamscope.collector import auth
from streamscope.collector.server import CollectorServer

KEY = "s3cret-key"


@pytest.mark.parametrize("bad", ["", " s3cret", "two words", "tab\tkey", "ключ"])
def test_collector_refuses_to_start_with_an_unusable_key(bad: str, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "streamscope", "collector", "--db", str(tmp_path / "c.db"), "--api-key", bad,
           "--http-port", "0", "--grpc-port", "0"]  # fmt: skip
    try:  # a collector that starts anyway would run until killed: the timeout kills it and the test fails
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the collector started with --api-key {bad!r}")
    assert done.returncode == 2
    assert "--api-key" in done.stderr and "listening" not in done.stdout


def _children() -> set[int]:
    """This process's live child processes (from /proc: pid and parent of each)."""
    me, kids = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == me and fields[0] != "Z":
                kids.add(int(entry.name))
    return kids


def test_an_empty_key_is_refused_by_the_embeddable_server_too(tmp_path: Path) -> None:
    before_kids = _children()
    before_threads = {t.ident for t in threading.enumerate()}
    with pytest.raises(ValueError, match="empty"):
        CollectorServer(str(tmp_path / "c.db"), http_port=0, grpc_port=None, api_keys=("ok-key", ""))
    # refused before anything starts: no writer process or writer thread is left running behind the error
    assert _children() - before_kids == set()
    assert [t.name for t in threading.enumerate() if t.ident not in before_threads] == []


@pytest.fixture
def keyed_channel(tmp_path: Path) -> Iterator[grpc.Channel]:
    server = CollectorServer(str(tmp_path / "c.db"), http_port=0, grpc_port=0, api_keys=(KEY,))
    _, port = server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    server.stop()


def test_grpc_metrics_and_logs_need_the_key(keyed_channel: grpc.Channel) -> None:
    metrics = metrics_service_pb2_grpc.MetricsServiceStub(keyed_channel)
    logs = logs_service_pb2_grpc.LogsServiceStub(keyed_channel)
    calls = [(metrics.Export, metrics_service_pb2.ExportMetricsServiceRequest()),
             (logs.Export, logs_service_pb2.ExportLogsServiceRequest())]  # fmt: skip
    for export, req in calls:
        for md in ((), (("authorization", "Bearer wrong"),), (("x-api-key", ""),)):
            with pytest.raises(grpc.RpcError) as err:
                export(req, metadata=md, timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # with the key: answered (partial success saying these signals are not stored)
        resp = export(req, metadata=(("authorization", f"Bearer {KEY}"),), timeout=10)
        assert "stores traces only" in resp.partial_success.error_message


def test_key_check_compares_fixed_length_digests_of_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    keys = auth.ApiKeys(["first-key", "a-much-longer-second-key"])
    for given, ok in (
        ("first-key", True),
        ("x", False),
        ("a-much-longer-second-key", True),
        ("y" * 500, False),
    ):
        seen.clear()
        assert keys.accepts(given) is ok
        # both keys compared even after a match, and every comparison is of 32-byte digests
        assert seen == [(32, 32), (32, 32)]
