"""The demo's kinds of user requests: each one a small, realistic piece of app code on the engine and the SDK.

Every scene is an ``async`` function taking a :class:`Scene` context and returning the outcome the app saw
(``completed``, ``abandoned``, ``cancelled``, ``error`` or ``timeout``). They are written the way a user would
write their app: ``prompt | model | parser`` chains, a tool-calling agent, a raw ``openai`` client, with
``@streamscope.trace`` on the request handler. Failures are the app's own: caught and counted, as an app would.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import openai

import streamscope
from streamscope.demo.profiles import Profile
from streamscope.engine import (
    AgentExecutor,
    ChatOpenAI,
    ChatPromptTemplate,
    JsonOutputParser,
    MessagesPlaceholder,
    StrOutputParser,
    create_tool_calling_agent,
    flow,
)
from streamscope.engine.tools import tool

__all__ = ["SCENES", "Scene", "SceneFn"]

SYSTEM = "You are a helpful assistant. Answer briefly."
QUESTIONS = (
    "Why do streamed answers feel faster?",
    "Summarise the release notes for me.",
    "What is time to first token?",
    "Explain backpressure in one paragraph.",
    "Draft a reply to the customer about the outage.",
    "Which model should we use for autocomplete?",
)


@dataclass
class Scene:
    """What a scene needs: the seeded random generator, the model profile, and shared clients."""

    rng: random.Random
    profile: Profile
    client: openai.AsyncOpenAI  # shared by every engine model (not instrumented: the engine handler traces)
    raw_client: openai.AsyncOpenAI  # instrumented with streamscope.instrument_openai(raw_client)

    def model(self, scenario: Any, *, max_retries: int = 0, **kwargs: Any) -> ChatOpenAI:
        client = self.client if max_retries == 0 else self.client.with_options(max_retries=max_retries)
        return ChatOpenAI(
            model=self.profile.model,
            async_client=client,
            streaming=True,
            max_retries=max_retries,
            extra_body={"scenario": scenario},
            **kwargs,
        )

    def question(self) -> str:
        return self.rng.choice(QUESTIONS)


SceneFn = Callable[[Scene], Awaitable[str]]

_chat_prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "{question}")])


async def _drain(stream: Any) -> int:
    n = 0
    async for _ in stream:
        n += 1
    return n


@streamscope.trace(name="POST /chat", kind="server")
async def chat(scene: Scene) -> str:
    """A chat answer streamed to the browser: prompt | model | parser (some streams stall on the way)."""
    chain = _chat_prompt | scene.model(scene.profile.scenario(scene.rng)) | StrOutputParser()
    await _drain(chain.astream({"question": scene.question()}))
    return "completed"


@streamscope.trace(name="POST /chat", kind="server")
async def stalled(scene: Scene) -> str:
    """A chat answer that pauses for a few seconds mid-way (a provider hiccup) and then completes."""
    chain = _chat_prompt | scene.model(scene.profile.scenario(scene.rng, stall=True)) | StrOutputParser()
    await _drain(chain.astream({"question": scene.question()}))
    return "completed"


@streamscope.trace(name="POST /extract", kind="server")
async def extract(scene: Scene) -> str:
    """Structured extraction: the JSON parser yields the growing object while the model streams it."""
    doc = {
        "customer": "ACME Corp",
        "sentiment": "negative",
        "topics": ["latency", "billing"],
        "urgency": scene.rng.randint(1, 5),
        "summary": "Streams stall during peak hours.",
    }
    text = json.dumps(doc)
    words = [text[i : i + 6] for i in range(0, len(text), 6)]
    prompt = ChatPromptTemplate.from_messages([("system", "Extract fields as JSON."), ("human", "{ticket}")])
    scenario = scene.profile.scenario(scene.rng, words=len(words), stall=False)
    del scenario["length"]
    scenario["words"] = words
    chain = prompt | scene.model(scenario) | JsonOutputParser()
    await _drain(chain.astream({"ticket": "Our streams freeze every evening and the invoice is wrong."}))
    return "completed"


@tool
def search_docs(query: str) -> str:
    """Search the product documentation."""
    return f"3 results for {query!r}: 'Streaming guide', 'Rate limits', 'Timeouts and retries'."


@tool
def calculator(expression: str) -> str:
    """Evaluate a small arithmetic expression like '12 * 7'."""
    a, op, b = expression.split()
    x, y = float(a), float(b)
    return str({"+": x + y, "-": x - y, "*": x * y, "/": x / y if y else float("nan")}[op])


_agent_prompt = ChatPromptTemplate.from_messages(
    [
        ("system", "You are a support agent. Use the tools."),
        ("human", "{input}"),
        MessagesPlaceholder("agent_scratchpad"),
    ]
)


@streamscope.trace(name="POST /agent", kind="server")
async def agent(scene: Scene) -> str:
    """A tool-calling agent whose steps stream: search, calculate, then a streamed final answer."""
    rng, p = scene.rng, scene.profile
    tag = rng.randrange(1 << 30)  # makes this conversation's scripted turns its own on the fake server
    turns = [
        p.scenario(
            rng,
            stall=False,
            seed=tag,
            tool_calls=[{"name": "search_docs", "arguments": {"query": "timeouts"}}],
        ),
        p.scenario(
            rng,
            stall=False,
            seed=tag + 1,
            tool_calls=[{"name": "calculator", "arguments": {"expression": f"{rng.randint(2, 40)} * 60"}}],
        ),
        p.scenario(rng, seed=tag + 2),
    ]
    executor = AgentExecutor(
        create_tool_calling_agent(scene.model(turns), [search_docs, calculator], _agent_prompt),
        [search_docs, calculator],
        max_iterations=5,
    )
    await _drain(executor.astream({"input": "How long is a 30-minute timeout in seconds, per the docs?"}))
    return "completed"


@streamscope.trace(name="POST /chat", kind="server")
async def abandon(scene: Scene) -> str:
    """The user closes the tab mid-answer: the app stops reading the stream."""
    chain = _chat_prompt | scene.model(scene.profile.scenario(scene.rng, stall=False)) | StrOutputParser()
    keep = scene.rng.randint(3, 12)
    n = 0
    async for _ in chain.astream({"question": scene.question()}):
        n += 1
        if n >= keep:
            break
    return "abandoned"


@streamscope.trace(name="POST /chat", kind="server")
async def slow_timeout(scene: Scene) -> str:
    """The model goes quiet for seconds; the app's per-chunk timeout gives up and keeps the partial answer."""
    scenario = scene.profile.scenario(scene.rng, stall=True) | {"stall": 4.0}
    chain = _chat_prompt | scene.model(scenario) | flow.timeout(per_chunk=1.5) | StrOutputParser()
    try:
        await _drain(chain.astream({"question": scene.question()}))
    except flow.StreamTimeoutError:
        return "timeout"
    return "completed"


@streamscope.trace(name="POST /chat", kind="server")
async def dropped(scene: Scene) -> str:
    """The provider drops the connection mid-stream."""
    scenario = scene.profile.scenario(scene.rng, stall=False)
    scenario["drop_at"] = scene.rng.randint(2, max(2, scenario["length"] - 2))
    chain = _chat_prompt | scene.model(scenario) | StrOutputParser()
    try:
        await _drain(chain.astream({"question": scene.question()}))
    except Exception:
        return "error"
    return "completed"


@streamscope.trace(name="POST /chat", kind="server")
async def server_error(scene: Scene) -> str:
    """The provider answers 500 before streaming anything."""
    scenario = scene.profile.scenario(scene.rng) | {"error_status": 500}
    try:
        await _drain(scene.model(scenario).astream(scene.question()))
    except Exception:
        return "error"
    return "completed"


@streamscope.trace(name="POST /chat", kind="server")
async def rate_limited(scene: Scene) -> str:
    """A 429 with Retry-After; the client retries and the stream then completes."""
    scenario = scene.profile.scenario(scene.rng, stall=False) | {
        "error_status": 429,
        "retry_after": 0.3,
        "error_count": 1,
    }
    await _drain(scene.model(scenario, max_retries=2).astream(scene.question()))
    return "completed"


@streamscope.trace(name="POST /chat", kind="server")
async def cancelled(scene: Scene) -> str:
    """The user presses "stop": the request's task is cancelled while the answer streams."""
    chain = _chat_prompt | scene.model(scene.profile.scenario(scene.rng, stall=False)) | StrOutputParser()
    task = asyncio.ensure_future(_drain(chain.astream({"question": scene.question()})))
    await asyncio.sleep(scene.profile.ttft * 1.5 + scene.rng.uniform(0.2, 0.6))
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return "cancelled"
    return "completed"


@streamscope.trace(name="POST /complete", kind="server")
async def raw_openai(scene: Scene) -> str:
    """App code on the raw openai client (traced by ``streamscope.instrument_openai(client)``)."""
    stream = await scene.raw_client.chat.completions.create(
        model=scene.profile.model,
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": scene.question()}],
        extra_body={"scenario": scene.profile.scenario(scene.rng)},
    )
    async with stream:
        async for _ in stream:
            pass
    return "completed"


#: Scene name -> (function, how many times it appears in each shuffled deck of requests).
SCENES: dict[str, tuple[SceneFn, int]] = {
    "chat": (chat, 6),
    "stalled": (stalled, 1),
    "extract": (extract, 1),
    "agent": (agent, 2),
    "abandon": (abandon, 1),
    "timeout": (slow_timeout, 1),
    "dropped": (dropped, 1),
    "server_error": (server_error, 1),
    "rate_limited": (rate_limited, 1),
    "cancelled": (cancelled, 1),
    "raw_openai": (raw_openai, 2),
}
