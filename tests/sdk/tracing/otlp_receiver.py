"""A tiny real OTLP/HTTP receiver for tests: stdlib HTTP server decoding ``opentelemetry.proto``."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def attrs(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        which = kv.value.WhichOneof("value")
        if which == "array_value":
            out[kv.key] = tuple(getattr(v, v.WhichOneof("value")) for v in kv.value.array_value.values)
        else:
            out[kv.key] = getattr(kv.value, which) if which else None
    return out


class Receiver:
    """Collects decoded spans; ``status`` can be set to make it answer with an error."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.resources: list[dict[str, Any]] = []
        self.requests = 0
        self.status = 200
        self.fail_next: list[int] = []  # statuses to answer with, one per request, before normal service
        self.headers_seen: list[dict[str, str]] = []
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with lock:
                    receiver.requests += 1
                    receiver.headers_seen.append(dict(self.headers.items()))
                    status = receiver.fail_next.pop(0) if receiver.fail_next else receiver.status
                    if status != 200:
                        self.send_response(status)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    req = ExportTraceServiceRequest.FromString(body)
                    for rs in req.resource_spans:
                        res = {kv.key: kv.value.string_value for kv in rs.resource.attributes}
                        for ss in rs.scope_spans:
                            for sp in ss.spans:
                                receiver.spans.append(sp)
                                receiver.resources.append(res)
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/traces"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    def named(self, name: str) -> list[Span]:
        return [s for s in self.spans if s.name == name]
