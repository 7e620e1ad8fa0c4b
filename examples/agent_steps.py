"""A LangChain-style streaming agent on streamscope, traced: a ReAct agent streams its actions, observations and answer.

    streamscope fake-llm &
    streamscope collector &
    python examples/agent_steps.py

`AgentExecutor.stream(...)` yields `{"actions": ...}`, `{"steps": ...}` and `{"output": ...}` chunks as the
agent works. The trace shows the whole loop: `invoke_agent AgentExecutor` > two model streams (the first
decides to call the tool, the second answers) and `execute_tool search` in between.
"""

from __future__ import annotations

import argparse
import os
import random
import sys

from opentelemetry import trace as otel_trace

import streamscope
from streamscope.engine import AgentExecutor, ChatOpenAI, PromptTemplate, create_react_agent, tool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A ReAct agent streaming its steps, traced.")
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


@tool
def search(query: str) -> str:
    """Search the web for a query."""
    return f"LangChain is a framework for building applications with LLMs (results for {query!r})."


PROMPT = PromptTemplate.from_template(
    "Answer the question. You can use these tools:\n{tools}\n\n"
    "Use this format:\nThought: ...\nAction: one of [{tool_names}]\nAction Input: ...\n"
    "Observation: ...\n... (repeat as needed)\nThought: I know the answer\nFinal Answer: ...\n\n"
    "Question: {input}\n{agent_scratchpad}"
)

# The fake server answers the agent's two model calls in turn: first a tool call, then the answer.
# The random seed makes this run's script its own, so repeated runs against one server start afresh.
DECIDE = "Thought: I should look this up.\nAction: search\nAction Input: LangChain"
ANSWER = "Thought: I know the answer\nFinal Answer: LangChain is a framework for LLM applications."
_seed = random.randrange(1 << 30)
SCRIPT = [
    {"text": DECIDE, "ttft": 0.2, "gap": 0.02, "seed": _seed},
    {"text": ANSWER, "ttft": 0.15, "gap": 0.02, "seed": _seed},
]


@streamscope.trace(name="research")
def research(agent_executor: AgentExecutor, question: str) -> None:
    print(f"trace {otel_trace.get_current_span().get_span_context().trace_id:032x}")
    # Stream agent execution (LangChain's usual loop, with the chunk keys spelled out).
    for step in agent_executor.stream(question):
        if "actions" in step:
            for action in step["actions"]:
                print(f"action: {action.tool}({action.tool_input!r})")
        elif "steps" in step:
            for agent_step in step["steps"]:
                print(f"observation: {agent_step.observation}")
        elif "output" in step:
            print(f"answer: {step['output']}")


def main() -> int:
    args = parse_args()
    tracing = streamscope.init(args.endpoint, service_name="example-agent-steps")
    chat = ChatOpenAI(
        model="gpt-4o-mini",
        base_url=args.llm_url,
        api_key="not-needed",
        streaming=True,
        extra_body={"scenario": SCRIPT},
    )
    agent = create_react_agent(chat, [search], PROMPT)
    agent_executor = AgentExecutor(agent=agent, tools=[search], return_intermediate_steps=True)
    with chat:
        research(agent_executor, "Find information about LangChain")

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
