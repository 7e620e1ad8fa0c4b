"""Sending from an OpenLLMetry-instrumented app to the streamscope collector (no streamscope SDK in the app).

    pip install opentelemetry-instrumentation-openai          # OpenLLMetry's OpenAI instrumentation
    streamscope fake-llm &
    streamscope collector &
    python examples/openllmetry_app.py          # exits 1 if the spans did not reach the collector

The app is set up the way OpenLLMetry's users set theirs up: the stock OpenTelemetry SDK, an OTLP/HTTP
exporter pointed at the collector (`<endpoint>/v1/traces`) and `OpenAIInstrumentor().instrument()`. The
collector normalises the span into a stream with model, provider, token usage, duration, time to first
token and one chunk row per `gen_ai.content.completion.chunk` event (OpenLLMetry's per-chunk events), the same
stream model as spans from streamscope's own SDK. `/api/streams` reports these streams with
`dialect: "openllmetry"`: older releases set `llm.request.type`, and current ones (0.62+), which write GenAI
semantic-convention names instead, are recognised by their own markers (such as `gen_ai.is_streaming`).
OpenLLMetry does not tell a role-only chunk from a content chunk, so for its streams TTFT is the time to the
first chunk of any kind.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import openai
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

TEXT = "OpenLLMetry spans land in streamscope as streams too ."


class DeliveryCount(SpanExporter):
    """Wraps the OTLP exporter and counts the spans the collector accepted: the stock processor's force_flush()
    returns True even when every export failed (the exporter only logs), so it cannot tell whether they arrived."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.delivered = 0
        self.failed = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.delivered += len(spans)
        else:
            self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="An OpenLLMetry-instrumented app sending to the collector.")
    env = os.environ.get
    parser.add_argument(
        "--endpoint",
        default=env("STREAMSCOPE_ENDPOINT", "http://127.0.0.1:4318"),
        help="collector OTLP/HTTP base URL (env STREAMSCOPE_ENDPOINT)",
    )
    parser.add_argument(
        "--llm-url",
        default=env("STREAMSCOPE_LLM_URL", "http://127.0.0.1:8081/v1"),
        help="OpenAI-compatible base URL, e.g. the fake LLM server (env STREAMSCOPE_LLM_URL)",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    # Plain OpenTelemetry: a provider, a batch processor and the OTLP/HTTP exporter.
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "example-openllmetry"}))
    exporter = DeliveryCount(OTLPSpanExporter(endpoint=args.endpoint.rstrip("/") + "/v1/traces"))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    OpenAIInstrumentor().instrument(tracer_provider=provider)

    tracer = provider.get_tracer("examples.openllmetry")
    with (
        openai.OpenAI(base_url=args.llm_url, api_key="not-needed") as client,
        tracer.start_as_current_span("openllmetry_app") as root,
    ):
        print(f"trace {root.get_span_context().trace_id:032x}")
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Where do my spans go?"}],
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"scenario": {"text": TEXT, "ttft": 0.1, "gap": 0.02}},  # fake server only
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)
        print()

    # Stock OTel: force_flush() exports what the batch processor still holds (False: it timed out).
    flushed = provider.force_flush(timeout_millis=10_000)
    provider.shutdown()
    OpenAIInstrumentor().uninstrument()
    print(f"spans exported: {exporter.delivered}, failed: {exporter.failed}")
    if not flushed or exporter.failed or not exporter.delivered:
        print(
            f"the spans did not reach the collector at {args.endpoint}: is `streamscope collector` running?",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
