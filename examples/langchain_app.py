"""Instrumenting a real LangChain app (`langchain-core` + `langchain-openai`) with streamscope.

    pip install "streamscope[langchain]" langchain-openai   # already there with the dev extra
    streamscope fake-llm &
    streamscope collector &
    python examples/langchain_app.py

Two ways to attach streamscope to LangChain, both shown here:

1. per call: `config={"callbacks": [StreamscopeCallbackHandler()]}` traces that one run;
2. globally: `enable_langchain()` traces every LangChain run from then on, with no change to the calls
   (it registers through LangChain's public `register_configure_hook`).

Either way each model call becomes a `chat <model>` span with its chunks and the same rollups as streams of
streamscope's own engine; time to first token comes from LangChain's `on_llm_new_token`.
"""

from __future__ import annotations

import argparse
import os
import sys

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from opentelemetry import trace as otel_trace

import streamscope
from streamscope.integrations.langchain import StreamscopeCallbackHandler, enable_langchain

PER_CALL = "This stream was traced with a handler passed per call ."
GLOBAL = "This one was traced by the global hook , with no callbacks in the call ."


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A real LangChain app, traced.")
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


def chain(llm_url: str, text: str) -> Runnable[dict[str, str], str]:
    prompt = ChatPromptTemplate.from_messages([("human", "Tell me about {topic}.")])
    model = ChatOpenAI(
        model="gpt-4o-mini",
        base_url=llm_url,
        api_key="not-needed",
        streaming=True,
        stream_usage=True,
        max_retries=0,
        extra_body={"scenario": {"text": text, "ttft": 0.1, "gap": 0.02}},
    )  # fake server only
    return prompt | model | StrOutputParser()


@streamscope.trace(name="per_call_handler")
def per_call_handler(llm_url: str) -> None:
    print(f"trace {otel_trace.get_current_span().get_span_context().trace_id:032x}")
    for chunk in chain(llm_url, PER_CALL).stream(
        {"topic": "tracing"}, config={"callbacks": [StreamscopeCallbackHandler()]}
    ):
        print(chunk, end="", flush=True)
    print()


@streamscope.trace(name="global_hook")
def global_hook(llm_url: str) -> None:
    print(f"trace {otel_trace.get_current_span().get_span_context().trace_id:032x}")
    for chunk in chain(llm_url, GLOBAL).stream({"topic": "tracing"}):  # no callbacks here
        print(chunk, end="", flush=True)
    print()


def main() -> int:
    args = parse_args()
    # init() configures the exporter; the LangChain handler records into it.
    tracing = streamscope.init(args.endpoint, service_name="example-langchain-app")

    per_call_handler(args.llm_url)
    enable_langchain()  # from here on, every LangChain run in this process is traced
    global_hook(args.llm_url)

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
