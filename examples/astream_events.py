"""LangChain's async streaming patterns on streamscope, traced: `astream_events` and concurrent streams.

    streamscope fake-llm &
    streamscope collector &
    python examples/astream_events.py

First it follows one `prompt | model | parser` run through its v2 events (`on_chain_start`,
`on_chat_model_stream`, ...) and prints the model's tokens as they arrive. Then it runs two streams at once
with `asyncio.gather`, on two "models" with different timing. Everything happens inside
`streamscope.context(session_id=..., user_id=...)`, so every span carries `session.id` and `user.id` and the
collector can filter streams by conversation (`/api/streams?session_id=...`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter

from opentelemetry import trace as otel_trace

import streamscope
from streamscope.engine import ChatOpenAI, ChatPromptTemplate, StrOutputParser

FAST = {"text": "Streams are sequences of chunks that arrive over time .", "ttft": 0.1, "gap": 0.01}
SLOW = {
    "text": "A slower model takes longer to start and to finish its answer .",
    "headers_delay": 0.2,
    "ttft": 0.4,
    "gap": 0.05,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="astream_events and concurrent streams, traced.")
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


def model(llm_url: str, name: str, scenario: dict[str, object]) -> ChatOpenAI:
    # `extra_body={"scenario": ...}` scripts the fake server's answer; drop it for a real endpoint.
    return ChatOpenAI(
        model=name, base_url=llm_url, api_key="not-needed", streaming=True, extra_body={"scenario": scenario}
    )


@streamscope.trace(name="follow_events")
async def follow_events(llm_url: str) -> None:
    print(f"trace {otel_trace.get_current_span().get_span_context().trace_id:032x}")
    prompt = ChatPromptTemplate.from_template("Explain {topic} in one sentence.")
    chain = prompt | model(llm_url, "gpt-4o-mini", FAST) | StrOutputParser()
    seen: Counter[str] = Counter()
    async for event in chain.astream_events({"topic": "streaming"}, version="v2"):
        seen[event["event"]] += 1
        if event["event"] == "on_chat_model_stream":
            print(event["data"]["chunk"].content, end="", flush=True)
    print()
    print("events:", ", ".join(f"{name} x{n}" for name, n in seen.items()))


async def process_stream(chat: ChatOpenAI, question: str) -> str:
    # A LangChain-style `process_stream`: consume one stream chunk by chunk.
    parts = []
    async for chunk in chat.astream(question):
        parts.append(chunk.content)
    return "".join(parts)


@streamscope.trace(name="two_models_at_once")
async def two_models_at_once(llm_url: str) -> None:
    print(f"trace {otel_trace.get_current_span().get_span_context().trace_id:032x}")
    fast, slow = model(llm_url, "gpt-4o-mini", FAST), model(llm_url, "gpt-4o", SLOW)
    # Both streams run concurrently; each becomes its own LLM span under this function's span.
    answers = await asyncio.gather(
        process_stream(fast, "Generate a response"), process_stream(slow, "Generate a response")
    )
    for name, answer in zip(("gpt-4o-mini", "gpt-4o"), answers, strict=True):
        print(f"{name}: {answer}")
    await fast.aclose()
    await slow.aclose()


async def run(llm_url: str) -> None:
    async with streamscope.context(session_id="example-session", user_id="example-user", tags=["example"]):
        await follow_events(llm_url)
        await two_models_at_once(llm_url)


def main() -> int:
    args = parse_args()
    tracing = streamscope.init(args.endpoint, service_name="example-astream-events")
    asyncio.run(run(args.llm_url))
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
