"""OTLP/gRPC receiver (``TraceService/Export``; metrics and logs answered with a clear partial success)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from streamscope.collector.auth import ApiKeys
from streamscope.collector.decode import DecodeError, decode_body
from streamscope.collector.http_app import MAX_BODY, SIGNALS_NOT_STORED
from streamscope.collector.pipeline import Overloaded
from streamscope.collector.receiver import NotStored, Receiver

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def _authorised(context: grpc.ServicerContext, keys: ApiKeys) -> bool:
    if not keys:
        return True
    md = {k.lower(): v for k, v in context.invocation_metadata() or ()}
    return keys.from_headers(str(md.get("x-api-key") or ""), str(md.get("authorization") or ""))


def _require_key(context: grpc.ServicerContext, keys: ApiKeys) -> None:
    if not _authorised(context, keys):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid API key is required.")


class _Traces:
    """``TraceService/Export`` on the raw request bytes, so they go through :func:`decode_body` (the C walker)
    and a body that is not an ``ExportTraceServiceRequest`` gets INVALID_ARGUMENT with the reason."""

    def __init__(self, receiver: Receiver, keys: ApiKeys) -> None:
        self.receiver, self.keys = receiver, keys

    def Export(self, body: bytes, context: grpc.ServicerContext) -> Any:
        _require_key(context, self.keys)
        try:
            decoded = decode_body(body)
        except DecodeError as e:
            self.receiver.ingestor.metrics.rejected.labels("malformed").inc()
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        try:
            return self.receiver.export_decoded(decoded)
        except Overloaded as e:
            context.set_trailing_metadata((("retry-after", str(e.retry_after)),))
            context.abort(grpc.StatusCode.UNAVAILABLE, str(e))
        except NotStored as e:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(e))

    def handler(self) -> grpc.GenericRpcHandler:
        export = grpc.unary_unary_rpc_method_handler(
            self.Export,
            request_deserializer=None,  # raw bytes
            response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString,
        )
        return grpc.method_handlers_generic_handler(TRACE_SERVICE, {"Export": export})


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        _require_key(context, self.keys)
        n = 0
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    n += len(getattr(m, kind).data_points) if kind else 0
        resp = metrics_service_pb2.ExportMetricsServiceResponse()
        resp.partial_success.rejected_data_points = n
        resp.partial_success.error_message = SIGNALS_NOT_STORED
        return resp


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        _require_key(context, self.keys)
        n = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
        resp = logs_service_pb2.ExportLogsServiceResponse()
        resp.partial_success.rejected_log_records = n
        resp.partial_success.error_message = SIGNALS_NOT_STORED
        return resp


def start_grpc(
    receiver: Receiver, host: str, port: int, api_keys: Sequence[str] = (), workers: int = 8
) -> tuple[grpc.Server, int]:
    """Start the gRPC server; returns it and the bound port (``port=0`` picks a free one)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
        options=[("grpc.max_receive_message_length", MAX_BODY), ("grpc.so_reuseport", 0)],
        maximum_concurrent_rpcs=workers * 4,
    )
    keys = ApiKeys(api_keys)
    server.add_generic_rpc_handlers((_Traces(receiver, keys).handler(),))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(keys), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(keys), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC on {host}:{port}")
    server.start()
    return server, bound


__all__ = ["start_grpc", "trace_service_pb2"]
