"""Every bound the collector's ingest edge enforces, with its default (docs/security.md lists what each returns).

Memory: a request is decoded only while its decompressed body fits in ``decode_budget_bytes`` together with the
bodies being decoded at that moment (else 503 / UNAVAILABLE with a retry delay), and holds at most
``max_spans_per_request`` spans, counted on the wire before anything is decoded. The ingest queue holds at most
``--queue-size`` rows. So what requests can make the collector hold is bounded by about
``EXPANSION * decode_budget_bytes`` for requests being decoded plus ``ROW_BYTES * queue rows`` for decoded
batches waiting for the writer, whatever the number, size or speed of the requests.
"""

from __future__ import annotations

from dataclasses import dataclass

#: bytes of memory one byte of decompressed protobuf body costs at most while it is decoded (parse tree,
#: Python objects and the normalised batch), measured by bench/ingest_edge_soak.py's big-body case
EXPANSION = 12
#: bytes a queued row (span, stream or chunk) holds at most with the per-span caps of decode.py on its strings
ROW_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Limits:
    #: a request body, before and after decompression (413 above)
    max_body_bytes: int = 64 * 1024 * 1024
    #: spans in one request, counted on the wire before decoding (413 / gRPC RESOURCE_EXHAUSTED above)
    max_spans_per_request: int = 50_000
    #: decompressed bytes being decoded at once, over all requests (503 + Retry-After / UNAVAILABLE beyond)
    decode_budget_bytes: int = 128 * 1024 * 1024
    #: OTLP/JSON bodies cost ~30x the CPU of protobuf per span: their span cap is this much lower
    json_span_divisor: int = 5
    #: seconds from a request's first byte until it must have arrived whole (HTTP), or the gRPC message (gRPC)
    request_timeout: float = 30.0
    #: seconds an HTTP connection may stay open with no request in progress
    http_idle_timeout: float = 30.0
    #: HTTP connections open at once (waitress stops accepting above), and from one client address
    http_max_connections: int = 1000
    http_max_connections_per_client: int = 256
    #: gRPC streams open at once over all connections, and per HTTP/2 connection
    grpc_max_concurrent_rpcs: int = 1000
    grpc_max_streams_per_connection: int = 100

    @property
    def max_json_spans(self) -> int:
        return max(1, self.max_spans_per_request // self.json_span_divisor)

    @property
    def http_request_timeout(self) -> float:
        return self.request_timeout

    def memory_bound(self, queue_rows: int) -> int:
        """Bytes that requests can make the collector hold at most (on top of its idle footprint)."""
        return EXPANSION * self.decode_budget_bytes + ROW_BYTES * queue_rows


DEFAULT_LIMITS = Limits()
