"""``streamscope.init()``: a TracerProvider, our span pipeline and an OTLP exporter, in one call."""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider

from streamscope.tracing import state
from streamscope.tracing.config import Config, Settings, resolve
from streamscope.tracing.exporters import BatchExporter, OtlpHttpExporter, SdkExporter
from streamscope.tracing.pipeline import SpanPipeline
from streamscope.tracing.provider import build_provider

logger = logging.getLogger("streamscope")


@dataclass
class Tracing:
    """What :func:`streamscope.init` returns: flush, shut down, and read the export counters."""

    config: Config
    provider: TracerProvider | None
    pipeline: SpanPipeline | None
    _active: state.Active | None = None
    _handler: Any = None
    _closed: bool = False

    @property
    def dropped_spans(self) -> int:
        """Spans (chunk spans included) that were not exported because the queue was full."""
        return self.pipeline.dropped_spans if self.pipeline else 0

    @property
    def failed_spans(self) -> int:
        """Spans whose export failed (collector down, rejected, ...)."""
        return self.pipeline.failed_spans if self.pipeline else 0

    @property
    def exported_spans(self) -> int:
        return self.pipeline.exported_spans if self.pipeline else 0

    @property
    def redaction_failures(self) -> int:
        """Texts exported as ``[redaction failed]`` because the ``redact`` callable raised or returned a non-str."""
        red = self.config.settings.redact
        return red.failures if red is not None else 0

    def force_flush(self, timeout: float = 30.0) -> bool:
        """Export everything queued so far; True if it finished in time."""
        if self.provider is None:
            return True
        return bool(self.provider.force_flush(int(timeout * 1000)))

    def shutdown(self, timeout: float = 5.0) -> None:
        """Flush (bounded by ``timeout``), stop the export thread and detach from the engine. Idempotent."""
        if self._closed:
            return
        self._closed = True
        detach_engine(self._handler)
        if self._active is not None:
            state.remove(self._active)
        if self.pipeline is not None:
            self.pipeline.shutdown(timeout)
        if self.provider is not None:
            for processor in self.provider._active_span_processor._span_processors:
                if processor is not self.pipeline:
                    processor.shutdown()


_lock = threading.Lock()
_current: Tracing | None = None


def _exporter(config: Config) -> BatchExporter:
    if config.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        insecure = not config.endpoint.startswith("https://")
        return SdkExporter(
            OTLPSpanExporter(
                endpoint=config.endpoint,
                insecure=insecure,
                headers=dict(config.headers) or None,
                timeout=int(config.timeout),
            )
        )
    return OtlpHttpExporter(
        config.endpoint, headers=config.headers, timeout=config.timeout, compression=config.compression
    )


_engine_lock = threading.Lock()
_engine_handler: Any = None
_engine_users = 0


def attach_engine() -> Any:
    """Attach the tracing handler to every engine run through the engine's global handler hook.

    One handler serves every user (``init()`` and each ``capture_spans()`` block): it records into the innermost
    active setup, so two users never make two spans of one run. Returns a token for :func:`detach_engine`.
    """
    global _engine_handler, _engine_users
    try:
        from streamscope.engine import callbacks
        from streamscope.tracing.handler import TracingCallbackHandler
    except ImportError:
        return None
    add = getattr(callbacks, "add_global_handler", None)
    if add is None:
        return None
    with _engine_lock:
        if _engine_handler is None:
            _engine_handler = TracingCallbackHandler()
            add(_engine_handler)
        _engine_users += 1
        return _engine_handler


def detach_engine(handler: Any) -> None:
    global _engine_handler, _engine_users
    if handler is None:
        return
    with _engine_lock:
        if handler is not _engine_handler:
            return
        _engine_users -= 1
        if _engine_users > 0:
            return
        _engine_handler = None
    try:
        from streamscope.engine import callbacks

        callbacks.remove_global_handler(handler)
    except Exception:  # pragma: no cover - engine missing or already detached
        logger.debug("streamscope: engine handler already detached", exc_info=True)


def init(
    endpoint: str | None = None,
    *,
    service_name: str | None = None,
    capture_content: bool | None = None,
    chunk_spans: bool | None = None,
    headers: Mapping[str, str] | None = None,
    sample_rate: float | None = None,
    protocol: str | None = None,
    stall_threshold: float | None = None,
    max_queue_size: int | None = None,
    live_interval: float | None = None,
    redact: Callable[[str], str] | None = None,
    count_tokens: Callable[[str], int] | None = None,
    set_global: bool = True,
    instrument_engine: bool = True,
) -> Tracing:
    """Configure tracing and return a :class:`Tracing` handle.

    Defaults: OTLP/HTTP protobuf to ``http://localhost:4318/v1/traces``, content capture on, chunk spans on,
    everything sampled, stalls are gaps over 2 s, and the chunk spans of streams in flight are exported every
    ``live_interval`` seconds (1 s; 0 exports them only when the stream ends). Unset arguments fall back to ``STREAMSCOPE_*`` and then the
    standard ``OTEL_*`` environment variables (see :mod:`streamscope.tracing.config`). A second ``init()``
    shuts the first one down. The tracing handler is attached to every engine run (``instrument_engine``),
    and the provider becomes OpenTelemetry's global one unless another SDK provider is already set.
    ``redact(text) -> text`` rewrites every piece of captured text before it is exported (prompt and output
    messages, partial output, chunk contents, tool arguments and results, exception messages); see
    :mod:`streamscope.tracing.redaction` and ``docs/privacy.md``. A redactor that raises never breaks the app: the
    text is exported as ``[redaction failed]``. With a redactor, chunk spans leave when their stream ends.
    ``count_tokens(text) -> int`` (a tokenizer's count, e.g. tiktoken's ``len(enc.encode(text))``) counts a
    stream's output tokens when the provider reports none (``streamscope.usage.source=tokenizer``), on the export
    thread; without it, or when it fails, they are estimated from the characters received (``estimate``).
    Bad settings raise :class:`streamscope.tracing.config.ConfigError` (a ``ValueError``) right here.
    """
    global _current
    config = resolve(
        endpoint,
        service_name=service_name,
        capture_content=capture_content,
        chunk_spans=chunk_spans,
        headers=headers,
        sample_rate=sample_rate,
        protocol=protocol,
        stall_threshold=stall_threshold,
        max_queue_size=max_queue_size,
        live_interval=live_interval,
        redact=redact,
        count_tokens=count_tokens,
    )
    with _lock:
        if _current is not None:
            _current.shutdown()
            _current = None
        if config.disabled:
            _current = Tracing(config=config, provider=None, pipeline=None)
            return _current
        resource = Resource.create({SERVICE_NAME: config.service_name})
        pipeline = SpanPipeline(
            _exporter(config),
            max_queue_size=config.max_queue_size,
            max_export_batch_size=config.max_export_batch_size,
            schedule_delay=config.schedule_delay,
            live_interval=config.live_interval,
        )
        provider = build_provider(resource, pipeline, config.sample_rate)
        active = state.Active(
            tracer=provider.get_tracer(state.SCOPE.name, state.SCOPE.version),
            settings=config.settings,
            pipeline=pipeline,
            resource=resource,
            defer_start=config.sample_rate >= 1.0,
        )
        state.push(active)
        if set_global and not isinstance(trace.get_tracer_provider(), TracerProvider):
            trace.set_tracer_provider(provider)
        handler = attach_engine() if instrument_engine else None
        _current = Tracing(
            config=config, provider=provider, pipeline=pipeline, _active=active, _handler=handler
        )
        return _current


def current() -> Tracing | None:
    """The handle of the last :func:`init`, if any."""
    return _current


def settings() -> Settings:
    return state.current().settings


@atexit.register
def _shutdown_at_exit() -> None:
    tracing = _current
    if tracing is not None:
        tracing.shutdown(timeout=2.0)
