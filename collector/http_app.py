"""The collector's HTTP side (Flask app): OTLP/HTTP ingest, the query API, health, and ``/metrics``.

Every error answer carries a one-sentence reason: ``google.rpc.Status`` for protobuf OTLP requests,
``{"code", "message"}`` JSON otherwise (the OTLP spec: answer in the request's content type).
"""

from __future__ import annotations

import hmac
import zlib
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
from streamscope.collector.decode import DecodeError, decode_body, decode_request, parse_json
from streamscope.collector.pipeline import Overloaded
from streamscope.collector.receiver import NotStored, Receiver
from streamscope.collector.store import StoreUnavailable

MAX_BODY = 64 * 1024 * 1024  # after decompression too (OTLP's recommended default)
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


def _read_body() -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise _Fail(413, f"the body is larger than the {MAX_BODY // 2**20} MiB limit.")
    # read(n) allocates n bytes first: the body's length when it is known (a 64 MiB buffer per request cost more
    # than parsing a body of 512 spans)
    raw = request.stream.read(length if length is not None else MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise _Fail(413, f"the body is larger than the {MAX_BODY // 2**20} MiB limit.")
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "deflate"):
        raise _Fail(415, f"content encoding {encoding[:40]!r} is not supported (use gzip, deflate or none).")
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(raw, MAX_BODY + 1)
    except zlib.error:
        raise _Fail(400, f"the body is not valid {encoding} data.") from None
    if len(out) > MAX_BODY or d.unconsumed_tail:
        raise _Fail(413, f"the decompressed body is larger than the {MAX_BODY // 2**20} MiB limit.")
    if not d.eof:
        raise _Fail(400, f"the {encoding} body is truncated.")
    return out


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


def create_app(receiver: Receiver, *, api_keys: Sequence[str] = ()) -> Flask:
    app = Flask("streamscope.collector")
    app.config["MAX_CONTENT_LENGTH"] = None  # we enforce our own limit (with a one-sentence reason)
    ingestor = receiver.ingestor
    store = ingestor.store
    keys = [k.encode() for k in api_keys]

    def authorised() -> bool:
        if not keys:
            return True
        given = request.headers.get("x-api-key") or ""
        auth = request.headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            given = given or auth[7:].strip()
        g = given.encode()
        return any(hmac.compare_digest(g, k) for k in keys)

    @app.before_request
    def _auth() -> Response | None:
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
        body = _read_body()
        try:
            decoded = decode_body(body) if ct == PROTOBUF else decode_request(parse_json(body))
        except DecodeError as e:
            ingestor.metrics.rejected.labels("malformed").inc()
            raise _Fail(400, str(e)) from None
        try:
            resp = receiver.export_decoded(decoded)
        except Overloaded as e:
            raise _Fail(503, str(e), {"Retry-After": str(e.retry_after)}) from None
        except NotStored as e:
            raise _Fail(503, str(e), {"Retry-After": "2"}) from None
        return _ok(resp, ct)

    def _other_signal(parse: Callable[[bytes, str], tuple[Any, int]]) -> Response:
        ct = _negotiate_ct()
        body = _read_body()
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
            json_format.ParseDict(orjson.loads(body), msg, ignore_unknown_fields=True)
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
        return _json(query.list_traces(store, filters, limit, cursor))

    @app.get("/api/traces/<trace_id>")
    def api_trace(trace_id: str) -> Response:
        query.check_keys(request.args, ())
        out = query.get_trace(store, trace_id)
        if out is None:
            return _error(404, "no trace with this id is stored.")
        return _json(out)

    @app.get("/api/streams")
    def api_streams() -> Response:
        filters, limit, cursor = query.parse_list_args(request.args)
        return _json(query.list_streams(store, filters, limit, cursor))

    @app.get("/api/streams/<span_id>/chunks")
    def api_chunks(span_id: str) -> Response:
        query.check_keys(request.args, ())
        out = query.stream_chunks(store, span_id)
        if out is None:
            return _error(404, "no stream with this span id is stored.")
        return _json(out)

    @app.get("/api/live")
    def api_live() -> Response:
        since_ns, limit = query.parse_live_args(request.args)
        return _json({"live": query.live_streams(store, since_ns, limit)})

    @app.get("/api/stats")
    def api_stats() -> Response:
        group_by, bucket, filters = query.parse_stats_args(request.args)
        return _json(query.stats(store, group_by, bucket, filters))

    return app
