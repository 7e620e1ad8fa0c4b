"""Every bound the collector's ingest edge enforces, with its default (docs/security.md lists what each returns).

Memory: a request is decoded only while its body fits in ``decode_budget_bytes`` together with the bodies of the
requests in progress at that moment (else 503 / UNAVAILABLE with a retry delay); it keeps its share until it is
answered, so batches waiting in the ingest queue are counted too. A request holds at most
``max_spans_per_request`` spans, counted on the wire before anything is decoded. So what requests can make the
collector hold is about ``EXPANSION * decode_budget_bytes`` plus the buffers of open connections and of gRPC
messages still arriving (:meth:`Limits.memory_bound`), whatever the number, size or speed of the requests; the
writer process holds at most ``EXPANSION * decode_budget_bytes`` again.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024
#: bytes of memory one byte of decompressed protobuf body can cost while it is decoded and queued (parse tree,
#: Python objects, the normalised batch); measured worst shapes: empty span events ~32 (with decode.py's
#: per-request event cap), arrays of chunk offsets ~25, 1,000 small attributes per span ~17
EXPANSION = 40
#: decode-budget bytes charged per byte of an OTLP/JSON body (its parsed tree is larger than protobuf's)
JSON_WEIGHT = 4


@dataclass(frozen=True, slots=True)
class Limits:
    #: a protobuf request body, before and after decompression (413 above)
    max_body_bytes: int = 16 * MiB
    #: an OTLP/JSON body after decompression: protobuf's JSON parser costs ~5x the CPU per byte (413 above)
    max_json_body_bytes: int = 4 * MiB
    #: spans in one protobuf request, counted on the wire before decoding (413 / RESOURCE_EXHAUSTED above)
    max_spans_per_request: int = 50_000
    #: spans in one OTLP/JSON request, and values (spans, attributes, events, links), counted before protobuf's
    #: JSON parser runs (~2.5 us a value; 413 above)
    max_json_spans: int = 10_000
    max_json_values: int = 250_000
    #: body bytes of all requests in progress at once (503 + Retry-After / UNAVAILABLE + RetryInfo beyond)
    decode_budget_bytes: int = 32 * MiB
    #: seconds from a request's first byte until it must have arrived whole (HTTP), or the gRPC message (gRPC)
    request_timeout: float = 30.0
    #: seconds an HTTP connection may stay open with no request in progress
    http_idle_timeout: float = 30.0
    #: HTTP connections open at once (waitress stops accepting above), and from one client address
    http_max_connections: int = 600
    http_max_connections_per_client: int = 256
    #: request headers of one HTTP request (waitress answers 431 above)
    http_max_header_bytes: int = 32 * 1024
    #: what one HTTP connection buffers in memory, for the request body and for the response each; beyond, waitress
    #: spools to a temporary file
    http_buffer_bytes: int = 256 * 1024
    #: one gRPC request message (gRPC answers RESOURCE_EXHAUSTED above; the OpenTelemetry Collector's default too)
    grpc_max_message_bytes: int = 4 * MiB
    #: gRPC calls in progress at once over all connections, from one client address, and per HTTP/2 connection
    grpc_max_concurrent_rpcs: int = 256
    grpc_max_calls_per_client: int = 64
    grpc_max_streams_per_connection: int = 32

    @property
    def http_request_timeout(self) -> float:
        return self.request_timeout

    def memory_bound(self) -> int:
        """Bytes that requests can make the receiving process hold at most, on top of its idle footprint: requests
        being decoded or queued, HTTP connections' buffers, gRPC messages still arriving."""
        http = self.http_max_connections * (self.http_max_header_bytes + 2 * self.http_buffer_bytes)
        grpc = self.grpc_max_concurrent_rpcs * self.grpc_max_message_bytes
        return EXPANSION * self.decode_budget_bytes + http + grpc


DEFAULT_LIMITS = Limits()
