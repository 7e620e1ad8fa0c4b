"""The classic `prompt | model | parser` stream on streamscope, traced.

Start the fake LLM server and a collector, then run this script:

    streamscope fake-llm &                      # OpenAI-compatible, scripted timing, on :8081
    streamscope collector &                    # OTLP on :4318, query API on the same port
    python examples/chain_stream.py

It streams a story through `ChatPromptTemplate | ChatOpenAI | StrOutputParser` twice: once read to the end
(outcome `completed`) and once abandoned after a few chunks (outcome `abandoned`, partial output kept).
Every step becomes a span, every chunk a `streamscope.chunk` span, and the model span carries the stream's
rollups (time to first token, gaps, tokens/s). The script prints the trace id to look up in the dashboard
(`streamscope dashboard`, then http://127.0.0.1:8000/traces/<trace id>).
"""

from __future__ import annotations

import argparse
import os
import sys

from opentelemetry import trace as otel_trace

import streamscope
from streamscope.engine import ChatOpenAI, ChatPromptTemplate, RunnableSequence, StrOutputParser

# What the fake server streams back for this script: the text (one chunk per word) and its timing.
# A real OpenAI endpoint ignores nothing here; only the fake server understands `scenario`.
STORY = "Once upon a time a stream began , and every chunk of it was traced ."
SCENARIO = {"text": STORY, "headers_delay": 0.05, "ttft": 0.15, "gap": 0.02}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="prompt | model | parser, streamed and traced.")
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


def trace_id() -> str:
    """The id of the trace the current span belongs to, as the collector and dashboard show it."""
    return f"{otel_trace.get_current_span().get_span_context().trace_id:032x}"


@streamscope.trace(name="tell_story")
def tell_story(chain: RunnableSequence, topic: str) -> str:
    # Everything the chain does inside this function joins one trace: tell_story > RunnableSequence >
    # ChatPromptTemplate, chat gpt-4o-mini (+ one span per chunk), StrOutputParser.
    print(f"trace {trace_id()}")
    text = ""
    for chunk in chain.stream({"topic": topic}):
        print(chunk, end="", flush=True)
        text += chunk
    print()
    return text


@streamscope.trace(name="peek_at_story")
def peek_at_story(chain: RunnableSequence, topic: str, chunks: int) -> str:
    # Stopping early is normal (a user closed the tab): the stream ends as `abandoned`, not as an error,
    # and the model stops producing at once (the HTTP response is closed).
    print(f"trace {trace_id()}")
    stream = chain.stream({"topic": topic})
    text = ""
    for i, chunk in enumerate(stream):
        text += chunk
        if i + 1 == chunks:
            break
    stream.close()  # end the runs now rather than when the generator is garbage-collected
    print(f"read {chunks} chunks and stopped: {text!r}")
    return text


def main() -> int:
    args = parse_args()
    # One call configures OpenTelemetry, the OTLP exporter and the engine's tracing handler.
    tracing = streamscope.init(args.endpoint, service_name="example-chain-stream")

    prompt = ChatPromptTemplate.from_messages(
        [("system", "You tell short stories."), ("human", "Tell me a story about {topic}.")]
    )
    chat = ChatOpenAI(
        model="gpt-4o-mini",
        base_url=args.llm_url,
        api_key="not-needed",
        streaming=True,
        extra_body={"scenario": SCENARIO},
    )
    # LangChain's guides often write the sequence as a list; `prompt | chat | StrOutputParser()` is the same chain.
    sequence = RunnableSequence([prompt, chat, StrOutputParser()])

    with chat:  # closes the HTTP client at the end
        tell_story(sequence, "AI")
        peek_at_story(sequence, "AI", chunks=4)

    # Export what is still queued before the process exits, and say whether it arrived.
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
