"""Build an OpenTelemetry ``TracerProvider`` wired to a streamscope :class:`SpanPipeline`."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from streamscope.tracing.context import ContextAttributesProcessor
from streamscope.tracing.pipeline import SpanPipeline


def build_provider(resource: Resource, pipeline: SpanPipeline, sample_rate: float = 1.0) -> TracerProvider:
    """A provider feeding ``pipeline``, with ``streamscope.context`` attributes applied at span start.

    Sampling is parent-based with a trace-id ratio; chunk spans follow their stream span's decision.
    The provider does not register its own exit hook: :func:`streamscope.init` bounds shutdown time itself.
    """
    provider = TracerProvider(
        resource=resource, sampler=ParentBased(TraceIdRatioBased(sample_rate)), shutdown_on_exit=False
    )
    provider.add_span_processor(ContextAttributesProcessor())
    provider.add_span_processor(pipeline)
    return provider
