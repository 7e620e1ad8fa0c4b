"""The transport-independent part of OTLP ingest, shared by the HTTP and gRPC receivers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from streamscope.collector.budget import DecodeBudget
from streamscope.collector.decode import Decoded, decode_request
from streamscope.collector.limits import DEFAULT_LIMITS, Limits
from streamscope.collector.normalise import normalise_checked
from streamscope.collector.pipeline import BatchTooLarge, Ingestor, Overloaded
from streamscope.collector.pricing import DEFAULT_PRICES, Prices

# s: under the 10 s an OTLP exporter waits for an answer by default (OTEL_EXPORTER_OTLP_TIMEOUT), so during a store
# stall the client gets the 503 and retries instead of timing out first (the write may still land: retries are
# idempotent)
ACK_TIMEOUT = 8.0


class NotStored(Exception):
    """The batch was queued but could not be committed in time; the client should retry (duplicates are ignored)."""


@dataclass
class Receiver:
    ingestor: Ingestor
    prices: Prices = field(default_factory=lambda: DEFAULT_PRICES)
    api_keys: Sequence[str] = ()
    limits: Limits = DEFAULT_LIMITS
    budget: DecodeBudget = field(init=False)

    def __post_init__(self) -> None:
        self.budget = DecodeBudget(self.limits.decode_budget_bytes)

    def export(self, req: ExportTraceServiceRequest) -> ExportTraceServiceResponse:
        """Decode, normalise, queue and wait until durable. Raises Overloaded, BatchTooLarge or NotStored."""
        return self.export_decoded(decode_request(req))

    def export_decoded(self, decoded: Decoded) -> ExportTraceServiceResponse:
        """:meth:`export` for a request already decoded (``decode_body`` on a protobuf body). Spans that are
        invalid, or that cannot be normalised, are left out and reported in the OTLP partial success."""
        metrics = self.ingestor.metrics
        metrics.received.inc(decoded.received)
        batch, bad, bad_reason = normalise_checked(decoded, self.prices)
        rejected = decoded.rejected + bad
        if rejected:
            metrics.rejected.labels("invalid_span").inc(rejected)
        resp = ExportTraceServiceResponse()
        if rejected:
            reason = decoded.reason or bad_reason
            resp.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=rejected, error_message=reason + ".")
            )
        accepted = decoded.received - rejected
        if accepted == 0:
            return resp
        try:
            ticket = self.ingestor.submit(batch, accepted)
        except Overloaded:
            metrics.rejected.labels("queue_full").inc(accepted)
            raise
        except BatchTooLarge:
            metrics.rejected.labels("too_large").inc(accepted)
            raise
        try:
            stored = ticket.wait(ACK_TIMEOUT)
        except Exception as e:
            metrics.rejected.labels("store_error").inc(accepted)
            raise NotStored("the store could not commit the batch; retry later.") from e
        if not stored:
            raise NotStored("the batch was not committed in time; retry later.")
        return resp
