"""OTLP/gRPC receiver (``TraceService/Export``; metrics and logs answered with a clear partial success).

The server is ``grpc.aio`` on its own event-loop thread: a call waiting for its request message is a suspended
coroutine, not a worker thread, so calls that open and never send cannot starve the others. ``Export`` is
registered as stream-unary (the same bytes on the wire as unary) so it runs from the moment the call opens: the
request message must arrive within ``Limits.request_timeout`` (else DEADLINE_EXCEEDED), and calls past
``Limits.grpc_max_concurrent_rpcs`` (or ``grpc_max_calls_per_client`` from one address) are refused with
UNAVAILABLE and a ``RetryInfo``. Decoding and waiting for
the commit run on a small thread pool.

Overload answers follow the OTLP specification: UNAVAILABLE with ``google.rpc.RetryInfo`` (in the standard
``grpc-status-details-bin`` trailer and the ``google.rpc.retryinfo-bin`` one the OpenTelemetry Python exporter
reads), so every exporter retries after the given delay. A request that can never be taken (too many spans, larger
than the queue or the decode budget) is RESOURCE_EXHAUSTED without ``RetryInfo``: not retryable.

With ``grpc.aio`` a handler's ``context.abort`` is a coroutine: it must be awaited (a bare call does nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from streamscope.collector.auth import ApiKeys
from streamscope.collector.budget import OverBudget
from streamscope.collector.decode import DecodeError, TooManySpans, decode_body
from streamscope.collector.http_app import SIGNALS_NOT_STORED
from streamscope.collector.pipeline import BatchTooLarge, Overloaded
from streamscope.collector.receiver import NotStored, Receiver

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def _authorised(context: grpc.aio.ServicerContext[Any, Any], keys: ApiKeys) -> bool:
    if not keys:
        return True
    md = {k.lower(): v for k, v in context.invocation_metadata() or ()}
    return keys.from_headers(str(md.get("x-api-key") or ""), str(md.get("authorization") or ""))


async def _require_key(context: grpc.aio.ServicerContext[Any, Any], keys: ApiKeys) -> None:
    if not _authorised(context, keys):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid API key is required.")


def retry_trailers(code: grpc.StatusCode, message: str, seconds: int) -> tuple[tuple[str, bytes | str], ...]:
    """Trailing metadata telling any OTLP exporter to retry after ``seconds``."""
    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromSeconds(seconds)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    return (
        ("grpc-status-details-bin", status.SerializeToString()),
        ("google.rpc.retryinfo-bin", info.SerializeToString()),
        ("retry-after", str(seconds)),
    )


def _client(peer: str) -> str:
    """The address part of a gRPC peer (``ipv4:1.2.3.4:5678``, ``ipv6:[::1]:5678``, ``unix:...``)."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return rest.rsplit(":", 1)[0]
    return peer


class _Answer(Exception):
    """A non-OK answer: status code, message and retry delay (None: not retryable)."""

    def __init__(self, code: grpc.StatusCode, message: str, retry: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.retry = code, message, retry


class _Traces:
    """``TraceService/Export`` on the raw request bytes, so they go through :func:`decode_body` (the C walker)
    and a body that is not an ``ExportTraceServiceRequest`` gets INVALID_ARGUMENT with the reason."""

    def __init__(self, receiver: Receiver, keys: ApiKeys, pool: futures.ThreadPoolExecutor) -> None:
        self.receiver, self.keys, self.pool = receiver, keys, pool
        self.limits = receiver.limits
        self.active = 0  # calls open now (the event loop's thread is the only one that touches these)
        self.per_client: dict[str, int] = {}  # calls open now by client address

    async def Export(self, _requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        if self.active >= self.limits.grpc_max_concurrent_rpcs:
            await self._abort(context, _Answer(grpc.StatusCode.UNAVAILABLE,
                                               "the collector has too many calls open; retry later.", 1))  # fmt: skip
        client = _client(context.peer())
        if self.per_client.get(client, 0) >= self.limits.grpc_max_calls_per_client:
            await self._abort(context, _Answer(grpc.StatusCode.UNAVAILABLE,
                                               "this client has too many calls open; retry later.", 1))  # fmt: skip
        self.active += 1
        self.per_client[client] = self.per_client.get(client, 0) + 1
        try:
            await _require_key(context, self.keys)
            try:
                body = await asyncio.wait_for(context.read(), self.limits.request_timeout)
            except asyncio.TimeoutError:
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                    f"the request message did not arrive within {self.limits.request_timeout:g} s.")  # fmt: skip
            if body is grpc.aio.EOF:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the call carried no request message.")
            lease = self.receiver.budget.lease()
            try:
                try:
                    lease.grow(len(body))
                except OverBudget as e:
                    self.receiver.ingestor.metrics.rejected.labels("decode_budget").inc()
                    if e.fits_ever:
                        raise _Answer(grpc.StatusCode.UNAVAILABLE, str(e), 1) from None
                    raise _Answer(grpc.StatusCode.RESOURCE_EXHAUSTED, "the message is too large to decode within "
                                  "the collector's memory budget; send smaller batches.") from None  # fmt: skip
                loop = asyncio.get_running_loop()
                resp: bytes = await loop.run_in_executor(self.pool, self._export, body)
                return resp
            finally:
                lease.release()
        except _Answer as a:
            await self._abort(context, a)
            raise  # not reached: abort raises
        finally:
            self.active -= 1
            left = self.per_client.pop(client) - 1
            if left:
                self.per_client[client] = left

    def _export(self, body: bytes) -> bytes:
        metrics = self.receiver.ingestor.metrics
        try:
            decoded = decode_body(body, max_spans=self.limits.max_spans_per_request)
        except TooManySpans as e:
            metrics.rejected.labels("too_large").inc()
            raise _Answer(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e)) from None
        except DecodeError as e:
            metrics.rejected.labels("malformed").inc()
            raise _Answer(grpc.StatusCode.INVALID_ARGUMENT, str(e)) from None
        del body
        try:
            return self.receiver.export_decoded(decoded).SerializeToString()
        except Overloaded as e:
            raise _Answer(grpc.StatusCode.UNAVAILABLE, str(e), e.retry_after) from None
        except BatchTooLarge as e:
            raise _Answer(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e)) from None
        except NotStored as e:
            raise _Answer(grpc.StatusCode.UNAVAILABLE, str(e), 2) from None

    @staticmethod
    async def _abort(context: grpc.aio.ServicerContext[Any, Any], a: _Answer) -> None:
        trailers = retry_trailers(a.code, a.message, a.retry) if a.retry is not None else ()
        await context.abort(a.code, a.message, trailing_metadata=trailers)

    def handler(self) -> grpc.GenericRpcHandler:
        export: grpc.RpcMethodHandler[bytes, bytes] = grpc.stream_unary_rpc_method_handler(
            self.Export,
            request_deserializer=None,  # raw bytes
            response_serializer=None,
        )
        return grpc.method_handlers_generic_handler(TRACE_SERVICE, {"Export": export})


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys

    async def Export(self, request: Any, context: Any) -> Any:
        await _require_key(context, self.keys)
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

    async def Export(self, request: Any, context: Any) -> Any:
        await _require_key(context, self.keys)
        n = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
        resp = logs_service_pb2.ExportLogsServiceResponse()
        resp.partial_success.rejected_log_records = n
        resp.partial_success.error_message = SIGNALS_NOT_STORED
        return resp


class GrpcServer:
    """A ``grpc.aio`` server on its own event-loop thread, stopped from any thread with :meth:`stop`."""

    def __init__(
        self, receiver: Receiver, host: str, port: int, api_keys: Sequence[str], workers: int
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="otlp-grpc-loop", daemon=True)
        self._pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc")
        self._thread.start()
        self._keys = ApiKeys(api_keys)
        self._traces = _Traces(receiver, self._keys, self._pool)
        try:
            self._server, self.port = asyncio.run_coroutine_threadsafe(self._start(receiver, host, port),
                                                                       self._loop).result(30)  # fmt: skip
        except BaseException:
            self._close_loop()
            raise

    async def _start(self, receiver: Receiver, host: str, port: int) -> tuple[grpc.aio.Server, int]:
        limits = receiver.limits
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limits.grpc_max_message_bytes),
                ("grpc.so_reuseport", 0),
                ("grpc.max_concurrent_streams", limits.grpc_max_streams_per_connection),
                ("grpc.server_handshake_timeout_ms", int(limits.request_timeout * 1000)),
                ("grpc.max_connection_idle_ms", 300_000),
            ],
            # a backstop for Metrics/Logs (TraceService refuses past the limit itself, with a RetryInfo)
            maximum_concurrent_rpcs=2 * limits.grpc_max_concurrent_rpcs,
        )
        server.add_generic_rpc_handlers((self._traces.handler(),))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(self._keys), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(self._keys), server)
        bound = server.add_insecure_port(f"{host}:{port}")
        if bound == 0:
            raise OSError(f"cannot bind gRPC on {host}:{port}")
        await server.start()
        return server, bound

    def stop(self, grace: float = 5.0) -> threading.Event:
        """Stop taking calls, let open ones finish for up to ``grace`` seconds; returns a set event."""
        done = threading.Event()
        if self._thread.is_alive():
            with contextlib.suppress(futures.TimeoutError, RuntimeError):
                asyncio.run_coroutine_threadsafe(self._server.stop(grace), self._loop).result(grace + 5)
            self._close_loop()
        done.set()
        return done

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def start_grpc(
    receiver: Receiver, host: str, port: int, api_keys: Sequence[str] = (), workers: int = 8
) -> tuple[GrpcServer, int]:
    """Start the gRPC server; returns it and the bound port (``port=0`` picks a free one)."""
    server = GrpcServer(receiver, host, port, api_keys, workers)
    return server, server.port


__all__ = ["GrpcServer", "retry_trailers", "start_grpc", "trace_service_pb2"]
