"""Instrumenting a raw OpenAI app: `streamscope.instrument_openai()`, a sync and an async stream.

    streamscope fake-llm &
    streamscope collector &
    python examples/openai_raw.py

No engine, no framework: the app uses the official `openai` client directly. One call,
`streamscope.instrument_openai()`, traces chat completions of every client; each stream becomes a
`chat <model>` span with its chunks and rollups, ended however the app stops reading (end of stream,
`break`, `with` exit, `close()`, an exception). The sync stream asks for usage itself
(`stream_options={"include_usage": True}`), so its token counts come from the provider; the async one does
not, so streamscope estimates them and says so (`usage_source: estimate`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import openai
from opentelemetry import trace as otel_trace

import streamscope

SYNC_TEXT = "Raw OpenAI streams are traced chunk by chunk ."
ASYNC_TEXT = "Async streams are traced the same way ."


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Raw openai client streams (sync and async), traced.")
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


@streamscope.trace(name="sync_stream")
def sync_stream(client: openai.OpenAI) -> None:
    print(f"trace {otel_trace.get_current_span().get_span_context().trace_id:032x}")
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say something about streams."}],
        stream=True,
        stream_options={"include_usage": True},  # the last chunk carries the provider's token counts
        extra_body={"scenario": {"text": SYNC_TEXT, "ttft": 0.1, "gap": 0.02}},  # fake server only
    )
    with stream:  # the span ends when the stream is closed, whichever way that happens
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)
    print()


@streamscope.trace(name="async_stream")
async def async_stream(client: openai.AsyncOpenAI) -> None:
    print(f"trace {otel_trace.get_current_span().get_span_context().trace_id:032x}")
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "And async?"}],
        stream=True,
        extra_body={"scenario": {"text": ASYNC_TEXT, "ttft": 0.15, "gap": 0.02}},
    )
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)
    print()


async def run_async(llm_url: str) -> None:
    async with openai.AsyncOpenAI(base_url=llm_url, api_key="not-needed") as client:
        await async_stream(client)


def main() -> int:
    args = parse_args()
    tracing = streamscope.init(args.endpoint, service_name="example-openai-raw")
    streamscope.instrument_openai()  # every openai client, sync and async, from now on

    with openai.OpenAI(base_url=args.llm_url, api_key="not-needed") as client:
        sync_stream(client)
    asyncio.run(run_async(args.llm_url))

    flushed = tracing.force_flush(timeout=10)
    tracing.shutdown()
    print(
        f"spans exported: {tracing.exported_spans}, failed: {tracing.failed_spans}, "
        f"dropped: {tracing.dropped_spans}"
    )
    if not flushed or tracing.failed_spans:
        print(
            f"could not deliver every span to {args.endpoint}: is `streamscope collector` running?",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
