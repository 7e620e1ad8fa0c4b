"""``capture_spans()``: record every span streamscope emits in memory, to assert on traces in tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from streamscope.tracing import state
from streamscope.tracing.attributes import CHUNK_SPAN_NAME, GEN_AI_OPERATION_NAME
from streamscope.tracing.config import Settings
from streamscope.tracing.exporters import SdkExporter
from streamscope.tracing.pipeline import SpanPipeline
from streamscope.tracing.provider import build_provider
from streamscope.tracing.redaction import safe
from streamscope.tracing.rollups import DEFAULT_STALL_THRESHOLD
from streamscope.tracing.setup import attach_engine, detach_engine


class SpanList(list[ReadableSpan]):
    """The finished spans, in the order they ended, plus a few lookups."""

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        """The only span called ``name`` (AssertionError if there are none or several)."""
        found = self.named(name)
        assert len(found) == 1, (
            f"expected one span named {name!r}, found {len(found)}: {[s.name for s in self]}"
        )
        return found[0]

    def llm_spans(self) -> list[ReadableSpan]:
        return [
            s for s in self if (s.attributes or {}).get(GEN_AI_OPERATION_NAME) in ("chat", "text_completion")
        ]

    def chunks_of(self, span: ReadableSpan) -> list[ReadableSpan]:
        """Chunk spans whose parent is ``span``, by index."""
        sid = span.context.span_id if span.context else None
        found = [
            s for s in self if s.name == CHUNK_SPAN_NAME and s.parent is not None and s.parent.span_id == sid
        ]
        return sorted(found, key=lambda s: int((s.attributes or {}).get("streamscope.chunk.index", 0)))  # type: ignore[arg-type]


class _ListExporter(SpanExporter):
    """An in-memory exporter that appends to a :class:`SpanList`."""

    def __init__(self, spans: SpanList) -> None:
        self.spans = spans

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


@contextmanager
def capture_spans(
    *,
    capture_content: bool = True,
    chunk_spans: bool = True,
    stall_threshold: float = DEFAULT_STALL_THRESHOLD,
    service_name: str = "streamscope-test",
    redact: Callable[[str], str] | None = None,
    count_tokens: Callable[[str], int] | None = None,
    instrument_engine: bool = True,
) -> Iterator[SpanList]:
    """Swap in an in-memory exporter for the duration of the block and yield the list of finished spans.

    Spans are exported synchronously, so the list is complete as soon as a traced call or stream has ended::

        with streamscope.testing.capture_spans() as spans:
            list(model.stream("hi"))
        llm = spans.llm_spans()[0]
        assert llm.attributes["streamscope.stream.outcome"] == "completed"

    Engine runs are recorded with no other setup (as after :func:`streamscope.init`; ``instrument_engine=False``
    leaves them out), and so are ``@streamscope.trace`` functions, ``instrument_openai()`` calls and LangChain
    runs with the streamscope handler. ``capture_content``, ``chunk_spans``, ``stall_threshold``, ``redact`` and
    ``count_tokens`` mean what they mean for :func:`streamscope.init`.
    """
    spans = SpanList()
    resource = Resource.create({SERVICE_NAME: service_name})
    pipeline = SpanPipeline(SdkExporter(_ListExporter(spans)), synchronous=True)
    provider = build_provider(resource, pipeline)
    active = state.Active(
        tracer=provider.get_tracer(state.SCOPE.name, state.SCOPE.version),
        settings=Settings(
            capture_content=capture_content,
            chunk_spans=chunk_spans,
            stall_threshold=stall_threshold,
            redact=safe(redact),
            count_tokens=count_tokens,
        ),
        pipeline=pipeline,
        resource=resource,
    )
    state.push(active)
    handler = attach_engine() if instrument_engine else None
    try:
        yield spans
    finally:
        detach_engine(handler)
        state.remove(active)
        provider.shutdown()
