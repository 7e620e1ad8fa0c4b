"""The collector's HTTP side (Flask app): OTLP/HTTP ingest, the query API, health, and ``/metrics``.

Every error answer carries a one-sentence reason: ``google.rpc.Status`` for protobuf OTLP requests,
``{"code", "message"}`` JSON otherwise (the OTLP spec: answer in the request's content type).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from flask import Flask, Response, request
from google.protobuf import json_format
from google.protobuf.message import DecodeError as _PbDecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from streamscope.collector import query
from streamscope.collector.auth import ApiKeys
from streamscope.collector.budget import Lease, OverBudget
from streamscope.collector.decode import (
    DecodeError,
    TooManySpans,
    decode_body,
    decode_request,
    json_nodes,
    parse_json,
)
from streamscope.collector.hosts import REASON as HOST_REASON
from streamscope.collector.hosts import HostCheck
from streamscope.collector.inflate import InflateError, inflate
from streamscope.collector.limits import DEFAULT_LIMITS, JSON_WEIGHT
from streamscope.collector.pipeline import BatchTooLarge, Overloaded
from streamscope.collector.receiver import NotStored, Receiver
from streamscope.collector.store import StoreUnavailable

MAX_BODY = DEFAULT_LIMITS.max_body_bytes  # after decompression too
READ_STEP = 1024 * 1024  # a body without Content-Length is read (and budgeted) this much at a time
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SIGNALS_NOT_STORED = (
    "this collector stores traces only; send metrics to Prometheus and logs to a log backend."
)


class _Fail(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _content_type() -> str:
    return (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if _content_type() == PROTOBUF and request.path.startswith("/v1/"):
        body = status_pb2.Status(code=_grpc_code(status), message=message).SerializeToString()
        resp = Response(body, status=status, content_type=PROTOBUF)
    else:
        resp = Response(orjson.dumps({"code": status, "message": message}), status=status, content_type=JSON)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _grpc_code(http: int) -> int:
    return {400: 3, 401: 16, 404: 5, 413: 8, 415: 3, 429: 8, 503: 14}.get(http, 2)


def _read_body(limit: int, lease: Lease | None = None) -> bytes:
    """The request's body, decompressed; with a ``lease``, every byte held is taken from the decode budget first
    (the raw body before it is read when its length is known, the decompressed body as it grows)."""
    length = request.content_length
    if length is not None and length > limit:
        raise _Fail(413, f"the body is larger than the {limit // 2**20} MiB limit.")
    grow = lease.grow if lease is not None else None
    if length is not None:
        if grow is not None:
            grow(length)
        # read(n) allocates n bytes first: the body's length when it is known (a 64 MiB buffer per request cost
        # more than parsing a body of 512 spans)
        raw = request.stream.read(length)
    else:  # chunked: read in steps, each taken from the budget before it is read
        parts: list[bytes] = []
        size = 0
        while size <= limit:
            step = min(READ_STEP, limit + 1 - size)
            if grow is not None:
                grow(step)
            part = request.stream.read(step)
            if grow is not None:
                grow(len(part) - step)
            if not part:
                break
            parts.append(part)
            size += len(part)
        raw = b"".join(parts)
    if len(raw) > limit:
        raise _Fail(413, f"the body is larger than the {limit // 2**20} MiB limit.")
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    try:
        return inflate(raw, encoding, limit, grow)
    except InflateError as e:
        raise _Fail(e.status, str(e)) from None


def _over_budget(e: OverBudget) -> _Fail:
    if not e.fits_ever:
        return _Fail(
            413, "the body is too large to decode within the collector's memory budget; send smaller batches."
        )
    return _Fail(503, str(e), {"Retry-After": "1"})


def _negotiate_ct() -> str:
    ct = _content_type()
    if ct not in (PROTOBUF, JSON):
        raise _Fail(415, f"content type {ct[:60]!r} is not supported (use {PROTOBUF} or {JSON}).")
    return ct


def _ok(message: Any, ct: str) -> Response:
    if ct == PROTOBUF:
        return Response(message.SerializeToString(), status=200, content_type=PROTOBUF)
    body = json_format.MessageToJson(message, use_integers_for_enums=True, indent=None)
    return Response(body, status=200, content_type=JSON)


def create_app(receiver: Receiver, *, api_keys: Sequence[str] = (), hosts: HostCheck | None = None) -> Flask:
    app = Flask("streamscope.collector")
    app.config["MAX_CONTENT_LENGTH"] = None  # we enforce our own limit (with a one-sentence reason)
    ingestor = receiver.ingestor
    store = ingestor.store
    limits = receiver.limits
    keys = ApiKeys(api_keys)
    host_check = hosts or HostCheck("127.0.0.1")

    def authorised() -> bool:
        return keys.from_headers(request.headers.get("x-api-key"), request.headers.get("Authorization"))

    @app.before_request
    def _auth() -> Response | None:
        if not host_check.accepts(request.headers.get("Host")):
            return _error(400, HOST_REASON)
        if (request.path.startswith("/v1/") or request.path.startswith("/api/")) and not authorised():
            return _error(401, "a valid API key is required (Authorization: Bearer KEY or x-api-key: KEY).")
        return None

    @app.errorhandler(_Fail)
    def _on_fail(e: _Fail) -> Response:
        return _error(e.status, e.message, e.headers)

    @app.errorhandler(query.QueryError)
    def _on_query(e: query.QueryError) -> Response:
        return _error(400, str(e))

    @app.errorhandler(404)
    def _on_404(_e: Exception) -> Response:
        return _error(404, "there is nothing at this path.")

    @app.errorhandler(405)
    def _on_405(_e: Exception) -> Response:
        return _error(405, "this method is not allowed on this path.")

    @app.errorhandler(StoreUnavailable)
    def _on_store_unavailable(e: StoreUnavailable) -> Response:
        return _error(503, str(e), {"Retry-After": "2"})

    @app.errorhandler(500)
    def _on_500(_e: Exception) -> Response:
        return _error(500, "the collector hit an internal error; nothing from this request was stored.")

    # -- OTLP ------------------------------------------------------------------------------------
    @app.post("/v1/traces")
    def v1_traces() -> Response:
        ct = _negotiate_ct()
        lease = receiver.budget.lease()
        try:
            try:
                body = _read_body(
                    limits.max_body_bytes if ct == PROTOBUF else limits.max_json_body_bytes, lease
                )
                if ct == JSON:
                    lease.grow(
                        len(body) * (JSON_WEIGHT - 1)
                    )  # orjson's tree: JSON costs more memory per byte
                    decoded = decode_request(parse_json(body, limits.max_json_spans, limits.max_json_values))
                else:
                    decoded = decode_body(body, max_spans=limits.max_spans_per_request)
            except OverBudget as e:
                ingestor.metrics.rejected.labels("decode_budget").inc()
                raise _over_budget(e) from None
            except TooManySpans as e:
                ingestor.metrics.rejected.labels("too_large").inc()
                raise _Fail(413, str(e)) from None
            except DecodeError as e:
                ingestor.metrics.rejected.labels("malformed").inc()
                raise _Fail(400, str(e)) from None
            del body
            try:
                resp = receiver.export_decoded(decoded)
            except Overloaded as e:
                raise _Fail(503, str(e), {"Retry-After": str(e.retry_after)}) from None
            except BatchTooLarge as e:
                raise _Fail(413, str(e)) from None
            except NotStored as e:
                raise _Fail(503, str(e), {"Retry-After": "2"}) from None
        finally:
            lease.release()
        return _ok(resp, ct)

    def _other_signal(parse: Callable[[bytes, str], tuple[Any, int]]) -> Response:
        ct = _negotiate_ct()
        lease = receiver.budget.lease()
        try:
            return _answer_other(parse, ct, lease)
        except OverBudget as e:
            raise _over_budget(e) from None
        finally:
            lease.release()

    def _answer_other(parse: Callable[[bytes, str], tuple[Any, int]], ct: str, lease: Lease) -> Response:
        body = _read_body(limits.max_body_bytes if ct == PROTOBUF else limits.max_json_body_bytes, lease)
        if ct == JSON:
            lease.grow(len(body) * (JSON_WEIGHT - 1))
        try:
            resp, _ = parse(body, ct)
        except (
            _PbDecodeError,
            json_format.ParseError,
            ValueError,
            TypeError,
            AttributeError,
            RecursionError,
        ):
            raise _Fail(400, "the body is not a valid OTLP export request.") from None
        return _ok(resp, ct)

    def _parse_into(msg: Any, body: bytes, ct: str) -> Any:
        if ct == PROTOBUF:
            msg.ParseFromString(body)
        else:
            doc = orjson.loads(body)
            if (
                json_nodes(doc, 4 * limits.max_json_values) > 4 * limits.max_json_values
            ):  # ~2.5 us each to parse
                raise _Fail(413, f"the request holds more than {4 * limits.max_json_values} JSON values, the most one "
                                 "JSON request may carry; send smaller batches.")  # fmt: skip
            json_format.ParseDict(doc, msg, ignore_unknown_fields=True)
        return msg

    @app.post("/v1/metrics")
    def v1_metrics() -> Response:
        def parse(body: bytes, ct: str) -> tuple[Any, int]:
            req = _parse_into(ExportMetricsServiceRequest(), body, ct)
            n = 0
            for rm in req.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        kind = m.WhichOneof("data")
                        n += len(getattr(m, kind).data_points) if kind else 0
            resp = ExportMetricsServiceResponse()
            resp.partial_success.rejected_data_points = n
            resp.partial_success.error_message = SIGNALS_NOT_STORED
            return resp, n

        return _other_signal(parse)

    @app.post("/v1/logs")
    def v1_logs() -> Response:
        def parse(body: bytes, ct: str) -> tuple[Any, int]:
            req = _parse_into(ExportLogsServiceRequest(), body, ct)
            n = sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
            resp = ExportLogsServiceResponse()
            resp.partial_success.rejected_log_records = n
            resp.partial_success.error_message = SIGNALS_NOT_STORED
            return resp, n

        return _other_signal(parse)

    # -- health and metrics ------------------------------------------------------------------------
    @app.get("/healthz")
    def healthz() -> Response:
        return Response(orjson.dumps({"status": "ok"}), content_type=JSON)

    @app.get("/readyz")
    def readyz() -> Response:
        full = ingestor.queued_rows >= 0.9 * ingestor.max_queue_rows
        if full:
            return _error(503, "the ingest queue is nearly full.", {"Retry-After": "1"})
        return Response(orjson.dumps({"status": "ready", "queued": ingestor.queued_rows}), content_type=JSON)

    @app.get("/metrics")
    def metrics() -> Response:
        ingestor.metrics.queue_depth.set(ingestor.queued_rows)
        body, ctype = ingestor.metrics.exposition(request.headers.get("Accept"))
        return Response(body, content_type=ctype)

    # -- query API ---------------------------------------------------------------------------------
    def _json(data: Any) -> Response:
        return Response(orjson.dumps(data), content_type=JSON)

    @app.get("/api/traces")
    def api_traces() -> Response:
        filters, limit, cursor = query.parse_list_args(request.args)
        return _json(query.list_traces(store, filters, limit, cursor).to_dict())

    @app.get("/api/traces/<trace_id>")
    def api_trace(trace_id: str) -> Response:
        query.check_keys(request.args, ())
        out = query.get_trace(store, trace_id)
        if out is None:
            return _error(404, "no trace with this id is stored.")
        return _json(out.to_dict())

    @app.get("/api/streams")
    def api_streams() -> Response:
        filters, limit, cursor = query.parse_list_args(request.args)
        return _json(query.list_streams(store, filters, limit, cursor).to_dict())

    @app.get("/api/streams/<span_id>/chunks")
    def api_chunks(span_id: str) -> Response:
        query.check_keys(request.args, ())
        out = query.stream_chunks(store, span_id)
        if out is None:
            return _error(404, "no stream with this span id is stored.")
        return _json(out.to_dict())

    @app.get("/api/live")
    def api_live() -> Response:
        since_ns, limit = query.parse_live_args(request.args)
        return _json({"live": [row.to_dict() for row in query.live_streams(store, since_ns, limit)]})

    @app.get("/api/stats")
    def api_stats() -> Response:
        group_by, bucket, filters = query.parse_stats_args(request.args)
        return Response(query.stats(store, group_by, bucket, filters).to_json(), content_type=JSON)

    return app
