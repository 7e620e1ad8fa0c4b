"""Decode OTLP trace exports (protobuf or JSON) once, at the edge, into frozen dataclasses.

Whole-request problems (not protobuf, not JSON, wrong JSON types, bad hex ids) raise :class:`DecodeError`
with a one-sentence reason (HTTP 400 / gRPC INVALID_ARGUMENT). Problems with single spans (missing or
zero ids, timestamps out of range) reject just those spans: they are counted for an OTLP partial success.
Chunk spans (``streamscope.chunk``) are decoded straight into compact :class:`Chunk` rows. A chunk span that
carries the in-flight signal (``streamscope.live.*``, on the first chunk of every slice our SDK exports while a
stream runs) also yields a :class:`LiveStream` for its stream, summing up every chunk of that stream in the request.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError as _PbDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from streamscope.collector.model import NS, Chunk, LiveStream, Span, SpanEvent
from streamscope.collector.wire import count_spans

CHUNK_SPAN = "streamscope.chunk"
LIVE_PREFIX = "streamscope.live."
MAX_ATTRIBUTES = 1024  # per span (and per event); the rest is counted, not stored
MAX_EVENTS = 1024  # per span
#: per request: an empty event is 2 bytes on the wire and ~200 bytes decoded, the largest expansion of any field
MAX_EVENTS_PER_REQUEST = 20_000
MAX_STRING = 1 << 20  # characters per string value
MAX_SECONDS = 1e7  # a chunk's offset or gap beyond this (or not finite) is ignored, like a wrong type
MAX_FUTURE_NS = 24 * 3600 * NS  # timestamps further ahead of the collector's clock are rejected
DROPPED_ATTRS = "streamscope.collector.dropped_attributes_count"
DROPPED_EVENTS = "streamscope.collector.dropped_events_count"  # events past MAX_EVENTS or the request's share

SESSION_KEYS = ("session.id", "gen_ai.conversation.id", "langfuse.session.id")
USER_KEYS = ("user.id", "enduser.id", "langfuse.user.id")


REJECT_REASONS = (  # by the code the C walker reports (collector/_fastotlp.c)
    "",
    "a span has a missing or invalid trace id (16 non-zero bytes required)",
    "a span has a missing or invalid span id (8 non-zero bytes required)",
    "a span has an invalid parent span id (8 bytes required)",
    "a span has a start or end time that is zero or more than a day ahead",
)

try:  # the C accelerator; without it (no compiler at install) everything is decoded here
    from streamscope.collector import _fastotlp  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the build
    _fastotlp = None
else:
    _fastotlp.configure(Chunk, Span, tuple(f.name for f in fields(Span)), SESSION_KEYS, USER_KEYS, DROPPED_ATTRS,
                        MAX_ATTRIBUTES)  # fmt: skip
# the span count before the parse: wire.count_spans, in C when built (the Python walk costs ~0.4 µs a span, this ~6 ns)
count_request_spans: Callable[[bytes, int], int] = getattr(_fastotlp, "count_spans", None) or count_spans


class DecodeError(ValueError):
    """The whole request is unreadable; ``str(err)`` is a one-sentence reason."""


class TooManySpans(Exception):
    """The request holds more spans than one request may (HTTP 413, gRPC RESOURCE_EXHAUSTED without RetryInfo:
    retrying the same request cannot help); checked before decoding."""

    def __init__(self, limit: int, encoding: str, values: int | None = None) -> None:
        what = (
            f"{limit} spans" if values is None else f"{values} values (spans, attributes, events and links)"
        )
        super().__init__(f"the request holds more than {what}, the most one {encoding} request may carry; "
                         "send smaller batches.")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Decoded:
    spans: tuple[Span, ...]
    chunks: tuple[Chunk, ...]
    received: int
    rejected: int
    reason: str = ""  # first rejection reason, for the partial-success message
    live: tuple[LiveStream, ...] = ()


def _any(v: Any) -> Any:
    k = v.WhichOneof("value")
    if k == "string_value":
        s: str = v.string_value
        return s if len(s) <= MAX_STRING else s[:MAX_STRING]
    if k == "int_value":
        return v.int_value
    if k == "double_value":
        return v.double_value
    if k == "bool_value":
        return v.bool_value
    if k == "array_value":
        return [_any(x) for x in v.array_value.values]
    if k == "kvlist_value":
        return {kv.key: _any(kv.value) for kv in v.kvlist_value.values}
    if k == "bytes_value":
        return v.bytes_value.hex()
    return None


def _attrs(kvs: Any) -> dict[str, Any]:
    n = len(kvs)
    if n <= MAX_ATTRIBUTES:
        return {kv.key: _any(kv.value) for kv in kvs}
    out = {kvs[i].key: _any(kvs[i].value) for i in range(MAX_ATTRIBUTES)}
    out[DROPPED_ATTRS] = n - MAX_ATTRIBUTES
    return out


def _first(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = attrs.get(k)
        if v is not None and v != "":
            return str(v)[:256]
    return None


_CHUNK_INDEX, _CHUNK_OFFSET, _CHUNK_GAP, _CHUNK_KIND, _CHUNK_SIZE, _CHUNK_TOKENS, _CHUNK_CONTENT = range(7)
_CHUNK_KEYS = {f"streamscope.chunk.{name}": i for i, name in enumerate(
    ("index", "offset", "gap", "kind", "size", "tokens", "content"))}  # fmt: skip


def _new_chunk(*fields: Any) -> Chunk:
    """``Chunk(*fields)`` without the named tuple's Python-level ``__new__``."""
    return _tuple_new(Chunk, fields)


_tuple_new = tuple.__new__
_INTEGRAL = frozenset({"int_value", "bool_value"})  # bool is an int, as isinstance says
_NUMERIC = frozenset({"int_value", "bool_value", "double_value"})


def _chunk(s: Any, parent: str, start: int) -> tuple[Chunk, dict[str, Any] | None]:
    """A chunk span's row, and the in-flight signal's attributes when the span carries them. The hot path of
    ingest (most spans are chunks): one dict lookup per attribute and only the value field the key needs;
    unknown keys and values of the wrong type are ignored."""
    index, offset, gap, kind, size, tokens, content = 0, None, None, "content", 0, None, None
    live: dict[str, Any] | None = None
    keys = _CHUNK_KEYS
    for kv in s.attributes:
        f = keys.get(kv.key)
        if f is None:
            if kv.key.startswith(LIVE_PREFIX):
                if live is None:
                    live = {}
                live[kv.key[len(LIVE_PREFIX) :]] = _any(kv.value)
            continue
        v = kv.value
        which = v.WhichOneof("value")
        if f == _CHUNK_INDEX:
            if which in _INTEGRAL:
                index = int(getattr(v, which))
        elif f == _CHUNK_OFFSET:
            if which in _NUMERIC:
                x = float(getattr(v, which))
                if -MAX_SECONDS <= x <= MAX_SECONDS:  # not NaN, not infinite
                    offset = x
        elif f == _CHUNK_GAP:
            if which in _NUMERIC:
                x = float(getattr(v, which))
                if -MAX_SECONDS <= x <= MAX_SECONDS:
                    gap = x
        elif f == _CHUNK_SIZE:
            if which in _INTEGRAL:
                size = int(getattr(v, which))
        elif f == _CHUNK_TOKENS:
            if which in _INTEGRAL:
                tokens = int(getattr(v, which))
        elif which == "string_value":
            text: str = v.string_value
            if f == _CHUNK_KIND:
                kind = text[:32]
            else:
                content = text if len(text) <= MAX_STRING else text[:MAX_STRING]
    return _new_chunk(
        parent, index, offset if offset is not None else 0.0, gap, kind, size, tokens, content
    ), live


def _text(value: Any) -> str:
    return value[:256] if isinstance(value, str) else ""


def _live_streams(
    marks: Mapping[str, tuple[str, str, dict[str, Any], int]], chunks: list[Chunk]
) -> tuple[LiveStream, ...]:
    """One :class:`LiveStream` per stream with a signal in this request, over all its chunks here."""
    top: dict[str, tuple[int, float]] = {}
    for c in chunks:
        if c.span_id in marks:
            index, offset = top.get(c.span_id, (-1, 0.0))
            top[c.span_id] = (max(index, c.index), max(offset, c.offset))
    out = []
    for parent, (trace_id, service, signal, start_ns) in marks.items():
        index, offset = top[parent]
        out.append(
            LiveStream(
                trace_id=trace_id,
                span_id=parent,
                service=service,
                model=_text(signal.get("request_model")),
                provider=_text(signal.get("provider")),
                operation=_text(signal.get("operation")) or "chat",
                start_ns=start_ns,
                last_ns=start_ns + int(offset * NS),
                chunk_count=index + 1,
                last_offset=offset,
            )
        )
    return tuple(out)


class _Context:
    """What a resource and a scope give each of their spans (computed once per resource)."""

    __slots__ = ("r_session", "r_user", "resource", "service")

    def __init__(self, rs: Any) -> None:
        self.resource = _attrs(rs.resource.attributes)
        self.service = str(self.resource.get("service.name") or "unknown_service")[:256]
        self.r_session = _first(self.resource, SESSION_KEYS)
        self.r_user = _first(self.resource, USER_KEYS)


def _span(s: Any, tid: bytes, parent: str | None, start: int, end: int, ctx: _Context, scope: str,
          events_left: list[int]) -> Span:  # fmt: skip
    """``events_left``: events this request may still decode (one-element list, shared by its spans)."""
    attrs = _attrs(s.attributes)
    n = len(s.events)
    keep = min(n, MAX_EVENTS, events_left[0])
    events_left[0] -= keep
    events = tuple(
        SpanEvent(e.name[:256], e.time_unix_nano, _attrs(e.attributes) if len(e.attributes) else {})
        for e in s.events[:keep]
    )
    if keep < n:
        attrs[DROPPED_EVENTS] = n - keep
    return Span(
        trace_id=tid.hex(),
        span_id=s.span_id.hex(),
        parent_span_id=parent,
        name=s.name[:1024],
        kind=s.kind,
        start_ns=start,
        end_ns=max(start, end),
        status_code=s.status.code,
        status_message=s.status.message[:4096],
        service=ctx.service,
        attributes=attrs,
        events=events,
        resource=ctx.resource,
        scope=scope,
        session_id=_first(attrs, SESSION_KEYS) or ctx.r_session,
        user_id=_first(attrs, USER_KEYS) or ctx.r_user,
    )


Marks = dict[str, tuple[str, str, dict[str, Any], int]]  # stream span id -> its in-flight signal


def _mark(
    marks: Marks, parent: str, tid: bytes, service: str, live: dict[str, Any], start: int, chunk: Chunk
) -> None:
    if parent not in marks:
        marks[parent] = (tid.hex(), service, live, max(0, start - int(chunk.offset * NS)))


def decode_request(req: ExportTraceServiceRequest, now_ns: int | None = None) -> Decoded:
    """Walk an ``ExportTraceServiceRequest`` into spans and chunk rows, rejecting invalid spans one by one."""
    horizon = (now_ns if now_ns is not None else time.time_ns()) + MAX_FUTURE_NS
    spans: list[Span] = []
    chunks: list[Chunk] = []
    marks: Marks = {}
    events_left = [MAX_EVENTS_PER_REQUEST]
    received = rejected = 0
    reason = ""
    for rs in req.resource_spans:
        ctx = _Context(rs)
        for ss in rs.scope_spans:
            scope = ss.scope.name[:256]
            for s in ss.spans:
                received += 1
                tid, sid, pid = s.trace_id, s.span_id, s.parent_span_id
                start, end = s.start_time_unix_nano, s.end_time_unix_nano
                code = 0
                if len(tid) != 16 or not any(tid):
                    code = 1
                elif len(sid) != 8 or not any(sid):
                    code = 2
                elif pid and len(pid) != 8:
                    code = 3
                elif start == 0 or start > horizon or end > horizon:
                    code = 4
                if code:
                    rejected += 1
                    reason = reason or REJECT_REASONS[code]
                    continue
                parent = pid.hex() if pid and any(pid) else None
                if s.name == CHUNK_SPAN and parent is not None:
                    chunk, signal = _chunk(s, parent, start)
                    chunks.append(chunk)
                    if signal is not None:
                        _mark(marks, parent, tid, ctx.service, signal, start, chunk)
                    continue
                spans.append(_span(s, tid, parent, start, end, ctx, scope, events_left))
    live = _live_streams(marks, chunks) if marks else ()
    return Decoded(tuple(spans), tuple(chunks), received, rejected, reason, live)


def decode_body(body: bytes, now_ns: int | None = None, max_spans: int | None = None) -> Decoded:
    """Parse and decode a protobuf body: :func:`decode_request` with the C walker taking the spans it can (chunk
    spans, and other spans without events) and this module the rest.
    With ``max_spans``, a body holding more spans raises :class:`TooManySpans` before anything is parsed.

    upb parses (and validates) the whole body first, so errors and their messages are the same either way."""
    if max_spans is not None and count_request_spans(body, max_spans) > max_spans:
        raise TooManySpans(max_spans, "protobuf")
    req = parse_protobuf(body)
    if _fastotlp is None:
        return decode_request(req, now_ns)
    horizon = (now_ns if now_ns is not None else time.time_ns()) + MAX_FUTURE_NS
    walked = _fastotlp.walk(body, horizon)
    if walked is None:  # something the walker leaves to the reference decoder
        return decode_request(req, now_ns)
    received, rejected, code, chunks, spans, others = walked
    marks: Marks = {}
    events_left = [MAX_EVENTS_PER_REQUEST]
    contexts: dict[int, _Context] = {}
    rss = req.resource_spans
    for rs_i, ss_i, sp_i, pos, span_pos in others:  # in body order, as decode_request meets them
        ctx = contexts.get(rs_i)
        if ctx is None:
            ctx = contexts[rs_i] = _Context(rss[rs_i])
        ss = rss[rs_i].scope_spans[ss_i]
        s = ss.spans[sp_i]
        tid, pid, start = s.trace_id, s.parent_span_id, s.start_time_unix_nano
        parent = pid.hex() if pid and any(pid) else None
        if pos >= 0:  # a chunk span the walker left here (it carries the in-flight signal)
            assert parent is not None
            chunk, signal = _chunk(s, parent, start)
            chunks[pos] = chunk
            if signal is not None:
                _mark(marks, parent, tid, ctx.service, signal, start, chunk)
        else:
            scope = ss.scope.name[:256]
            spans[span_pos] = _span(s, tid, parent, start, s.end_time_unix_nano, ctx, scope, events_left)
    live = _live_streams(marks, chunks) if marks else ()
    return Decoded(tuple(spans), tuple(chunks), received, rejected, REJECT_REASONS[code], live)


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    try:
        return ExportTraceServiceRequest.FromString(body)
    except _PbDecodeError as e:
        detail = "invalid UTF-8 in a string field" if "UTF-8" in str(e) else "truncated or not protobuf"
        raise DecodeError(f"the body is not a valid OTLP ExportTraceServiceRequest ({detail}).") from None
    except RecursionError:
        raise DecodeError("the body nests values too deeply.") from None


_ID_FIELDS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


def _fix_ids(obj: dict[str, Any]) -> None:
    """OTLP/JSON ids are hex; protobuf's JSON parser expects base64: convert (and validate) in place."""
    for key, n in _ID_FIELDS.items():
        if key not in obj:
            continue
        raw = obj[key]
        if raw in ("", None):
            obj[key] = ""
            continue
        if not isinstance(raw, str) or len(raw) != 2 * n:
            raise DecodeError(f"{key} must be a {2 * n}-character hex string.")
        try:
            obj[key] = base64.b64encode(binascii.unhexlify(raw)).decode()
        except (binascii.Error, ValueError):
            raise DecodeError(f"{key} must be a {2 * n}-character hex string.") from None


_SPAN_KINDS = frozenset(PbSpan.SpanKind.keys())
_STATUS_CODES = frozenset(Status.StatusCode.keys())


def _check_enum(value: Any, names: frozenset[str], field: str) -> None:
    """OTLP/JSON enums are integers (protobuf's names are accepted too); anything else is a 400, where protobuf's
    parser, told to ignore unknown fields, would silently drop the value."""
    if value is None or (isinstance(value, str) and value in names):
        return
    if isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31:
        return
    raise DecodeError(f"the {field} must be an integer enum value, not {str(value)[:40]!r}.")


def _walk_ids(doc: Any) -> None:
    if not isinstance(doc, dict):
        raise DecodeError("the JSON body must be an object with a resourceSpans list.")
    rss = doc.get("resourceSpans", doc.get("resource_spans", []))
    if not isinstance(rss, list):
        raise DecodeError("resourceSpans must be a list.")
    for rs in rss:
        if not isinstance(rs, dict):
            raise DecodeError("each resourceSpans item must be an object.")
        for ss in _json_list(rs.get("scopeSpans", rs.get("scope_spans", [])), "scopeSpans"):
            if not isinstance(ss, dict):
                raise DecodeError("each scopeSpans item must be an object.")
            for s in _json_list(ss.get("spans", []), "spans"):
                if not isinstance(s, dict):
                    raise DecodeError("each span must be an object.")
                for alias in ("trace_id", "span_id", "parent_span_id"):
                    if alias in s:
                        camel = {
                            "trace_id": "traceId",
                            "span_id": "spanId",
                            "parent_span_id": "parentSpanId",
                        }[alias]
                        s[camel] = s.pop(alias)
                _fix_ids(s)
                _check_enum(s.get("kind"), _SPAN_KINDS, "span kind")
                status = s.get("status")
                if isinstance(status, dict):
                    _check_enum(status.get("code"), _STATUS_CODES, "status code")
                for link in _json_list(s.get("links", []), "links"):
                    if isinstance(link, dict):
                        _fix_ids(link)


def _json_cost(doc: Any, max_values: int) -> tuple[int, int]:
    """Spans, and values (spans, attributes, events, links and theirs) in a parsed OTLP/JSON document, counting
    values only until they pass ``max_values``; 0 where its shape is wrong (:func:`_walk_ids` says why)."""
    spans = values = 0
    if not isinstance(doc, dict):
        return 0, 0
    rss = doc.get("resourceSpans", doc.get("resource_spans"))
    for rs in rss if isinstance(rss, list) else ():
        if not isinstance(rs, dict):
            continue
        values += _items(rs.get("resource"), "attributes")
        sss = rs.get("scopeSpans", rs.get("scope_spans"))
        for ss in sss if isinstance(sss, list) else ():
            if not isinstance(ss, dict):
                continue
            values += _items(ss.get("scope"), "attributes")
            span_list = ss.get("spans")
            if not isinstance(span_list, list):
                continue
            spans += len(span_list)
            for sp in span_list:
                if values > max_values:
                    return spans, values
                if not isinstance(sp, dict):
                    continue
                values += 1 + _items(sp, "attributes")
                for key in ("events", "links"):
                    inner = sp.get(key)
                    if isinstance(inner, list):
                        values += len(inner) + sum(_items(x, "attributes") for x in inner[: max_values + 1])
    return spans, values


def json_nodes(doc: Any, cap: int) -> int:
    """Objects, arrays and their items in a parsed JSON document, counted until the count passes ``cap``."""
    n = 0
    stack = [doc]
    while stack and n <= cap:
        v = stack.pop()
        if isinstance(v, dict):
            n += len(v)
            stack.extend(v.values())
        elif isinstance(v, list):
            n += len(v)
            stack.extend(v)
    return n


def _items(obj: Any, key: str) -> int:
    inner = obj.get(key) if isinstance(obj, dict) else None
    return len(inner) if isinstance(inner, list) else 0


def _json_list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{field} must be a list.")
    return value


def parse_json(
    body: bytes, max_spans: int | None = None, max_values: int | None = None
) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON body. With ``max_spans`` (and ``max_values``: spans, attributes, events and links), a
    larger body raises :class:`TooManySpans` before protobuf's JSON parser (pure Python, ~2.5 us a value) sees it."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        msg = str(e)
        detail = "nested too deeply" if "recursion" in msg.lower() else "not valid JSON"
        raise DecodeError(f"the body is {detail}.") from None
    if max_spans is not None:
        limit = max_values if max_values is not None else 25 * max_spans
        spans, values = _json_cost(doc, limit)
        if spans > max_spans:
            raise TooManySpans(max_spans, "JSON")
        if values > limit:
            raise TooManySpans(max_spans, "JSON", values=limit)
    _walk_ids(doc)
    req = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(doc, req, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as e:
        first = str(e).splitlines()[0][:200].rstrip(".")
        raise DecodeError(f"the JSON body does not match OTLP: {first}.") from None
    except RecursionError:
        raise DecodeError("the body nests values too deeply.") from None
    return req
