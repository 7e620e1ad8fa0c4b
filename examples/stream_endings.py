"""How streams end, traced: a stall, a dropped connection and a timeout (the usual LangChain streaming error handling).

    streamscope fake-llm &
    streamscope collector &
    python examples/stream_endings.py

Three streams, each scripted on the fake server:

1. a stream that pauses for 2.2 s mid-way and then finishes: outcome `completed`, `stall_count` 1
   (a gap over the 2 s stall threshold);
2. a stream whose connection drops after 5 chunks: a LangChain-style `handle_stream_errors` prints
   "Stream connection lost"; outcome `error`, the 5 chunks received are kept;
3. a stream that stops sending for 3 s, cut off by the client's 1 s read timeout: outcome `timeout`.

(`streamscope.engine.flow.timeout(per_chunk=..., total=...)` bounds a pipeline in the same way; see
docs/concepts.md for which span gets which outcome then.)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace as otel_trace

import streamscope
from streamscope.engine import ChatOpenAI, ChatPromptTemplate, StrOutputParser

TEXT = "one two three four five six seven eight nine ten"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Stalls, dropped connections and timeouts, traced.")
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


@contextmanager
def handle_stream_errors() -> Iterator[None]:
    # A LangChain-style error handler (each message on a line of its own).
    try:
        yield
    except ConnectionError:
        print("\nStream connection lost")
    except Exception as e:
        print(f"\nStream error: {e!s}")


def chat(llm_url: str, name: str, scenario: dict[str, object], timeout: float | None = None) -> ChatOpenAI:
    # max_retries=0: a failed stream is not retried, so the failure shows. `timeout` is the openai client's
    # (connect and each read), so a stream that goes quiet for longer fails with a TimeoutError.
    return ChatOpenAI(
        model=name,
        base_url=llm_url,
        api_key="not-needed",
        streaming=True,
        max_retries=0,
        timeout=timeout,
        extra_body={"scenario": scenario},
    )


@streamscope.trace(name="stream_endings")
def stream_endings(llm_url: str) -> None:
    print(f"trace {otel_trace.get_current_span().get_span_context().trace_id:032x}")
    prompt = ChatPromptTemplate.from_template("Count to {n}.")

    stalled = chat(
        llm_url, "stall-model", {"text": TEXT, "ttft": 0.1, "gap": 0.02, "stall_at": 5, "stall": 2.2}
    )
    with stalled, handle_stream_errors():
        text = "".join((prompt | stalled | StrOutputParser()).stream({"n": 10}))
        print(f"1. stalled, then completed: {text!r}")

    dropped = chat(llm_url, "drop-model", {"text": TEXT, "ttft": 0.1, "gap": 0.02, "drop_at": 4})
    with dropped, handle_stream_errors():
        print("2. ", end="")
        for chunk in (prompt | dropped | StrOutputParser()).stream({"n": 10}):
            print(chunk, end="", flush=True)

    silent = chat(
        llm_url,
        "timeout-model",
        {"text": TEXT, "ttft": 0.1, "gap": 0.02, "stall_at": 3, "stall": 3},
        timeout=1.0,
    )
    with silent, handle_stream_errors():
        print("3. ", end="")
        for chunk in (prompt | silent | StrOutputParser()).stream({"n": 10}):
            print(chunk, end="", flush=True)


def main() -> int:
    args = parse_args()
    tracing = streamscope.init(args.endpoint, service_name="example-stream-endings")
    stream_endings(args.llm_url)
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
