"""One model call is one stream, whatever is enabled and in whatever order (issue: no double counting).

The engine's ``ChatOpenAI`` and a real LangChain ``ChatOpenAI`` both call the ``openai`` client, which
``instrument_openai()`` traces too. Each call below goes to the fake OpenAI-compatible server over loopback and its
spans are exported over real OTLP/HTTP (``streamscope.init``) to a real receiver; every case asserts exactly one
LLM span, every chunk span under it, all in one trace, with the outcome the call had.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.sdk.tracing.otlp_receiver import Receiver, attrs

import streamscope
from streamscope.instrumentation import uninstrument_openai
from streamscope.testing import capture_spans
from streamscope.testing.fake_llm import FakeLLMServer

WORDS = ["One", " model", " call", " is", " one", " stream", "."]
SCENARIOS: dict[str, Any] = {
    "one-ok": {"words": WORDS, "gap": 0.002},
    # long enough that a cancel sent after the second chunk lands while the stream still waits, even under load
    "one-slow": {"words": [f" w{i}" for i in range(600)], "gap": 0.03},
    "one-500": {"error_status": 500},
    "one-drop": {"words": WORDS, "gap": 0.002, "drop_at": 2},
}
# outcome -> (scenario, expected stream outcome)
OUTCOMES = {
    "completed": ("one-ok", "completed"),
    "abandoned": ("one-slow", "abandoned"),
    "cancelled": ("one-slow", "cancelled"),
    "http_500": ("one-500", "error"),
    "dropped": ("one-drop", "error"),
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(SCENARIOS, include_defaults=False) as srv:
        yield srv


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _engine_model(base_url: str, model: str) -> Any:
    from streamscope.engine import ChatOpenAI

    return ChatOpenAI(model=model, base_url=base_url, api_key="test", streaming=True, max_retries=0)


def _langchain_model(base_url: str, model: str, http: Any = None) -> Any:
    from langchain_openai import ChatOpenAI

    extra = {"http_async_client": http} if http is not None else {}
    return ChatOpenAI(model=model, base_url=base_url, api_key="test", streaming=True, max_retries=0, **extra)


def _consume(stream: Any, outcome: str) -> None:
    try:
        for i, _ in enumerate(stream):
            if outcome == "abandoned" and i == 1:
                break
    finally:
        stream.close()


async def _aconsume(stream: Any, outcome: str) -> None:
    """Read ``stream`` in a task of its own; ``abandoned`` breaks after two chunks, ``cancelled`` has the task
    cancelled after two chunks (the cancellation lands at its next await, inside the stream)."""

    async def run() -> None:
        try:
            i = 0
            async for _ in stream:
                if i == 1 and outcome == "abandoned":
                    break
                if i == 1 and outcome == "cancelled":
                    task.cancel()
                i += 1
        finally:
            await stream.aclose()

    task = asyncio.ensure_future(run())
    await task


def _call(make_model: Callable[[str, Any], Any], mode: str, outcome: str, own_http: bool = False) -> None:
    """One call of the model in ``mode``, ending in ``outcome``. ``own_http``: the model gets an async HTTP client
    made (and closed) inside the event loop (langchain-openai would otherwise cache one beyond it)."""
    expect_raise = outcome in ("http_500", "dropped", "cancelled")
    if mode == "sync":
        model = make_model(OUTCOMES[outcome][0], None)
        if expect_raise:
            with pytest.raises(Exception):  # noqa: B017 - the client's own error, whichever it is
                _consume(model.stream("hi"), outcome)
        else:
            _consume(model.stream("hi"), outcome)
        return

    async def main() -> None:
        import openai

        http = openai.DefaultAsyncHttpxClient() if own_http else None
        try:
            await run(make_model(OUTCOMES[outcome][0], http))
        finally:
            if http is not None:
                await http.aclose()

    async def run(model: Any) -> None:
        if outcome == "cancelled":
            with pytest.raises(asyncio.CancelledError):
                await _aconsume(model.astream("hi"), outcome)
        elif expect_raise:
            with pytest.raises(Exception):  # noqa: B017
                await _aconsume(model.astream("hi"), outcome)
        else:
            await _aconsume(model.astream("hi"), outcome)

    asyncio.run(main())


def _assert_one_stream(receiver: Receiver, outcome: str, streamed: bool = True) -> None:
    llm = [s for s in receiver.spans if attrs(s).get("gen_ai.operation.name") == "chat"]
    assert len(llm) == 1, f"expected one LLM span, got {[s.name for s in llm]}"
    span = llm[0]
    chunks = receiver.named("streamscope.chunk")
    a = attrs(span)
    assert a["streamscope.stream.outcome"] == OUTCOMES[outcome][1]
    assert all(c.parent_span_id == span.span_id for c in chunks), "a chunk span outside the one LLM span"
    assert len(chunks) == a.get("streamscope.stream.chunk_count", 0)
    assert sorted(attrs(c)["streamscope.chunk.index"] for c in chunks) == list(range(len(chunks)))
    assert {s.trace_id for s in receiver.spans} == {span.trace_id}, "a span in another (orphan) trace"
    if outcome == "completed":
        assert len(chunks) >= len(WORDS) if streamed else len(chunks) == 1  # a whole answer is one chunk


STEPS_ENGINE = (
    "init",
    "instrument_openai",
    "enable_langchain",
)  # the LangChain hook on changes nothing for the engine
STEPS_LANGCHAIN = ("init", "instrument_openai", "enable_langchain")
CASES = [
    pytest.param(subject, order, mode, outcome, id=f"{subject}-{'+'.join(order)}-{mode}-{outcome}")
    for subject, steps in (("engine", STEPS_ENGINE), ("langchain", STEPS_LANGCHAIN))
    for order in itertools.permutations(steps)
    for mode in ("sync", "async")
    for outcome in OUTCOMES
    if not (mode == "sync" and outcome == "cancelled")
]


@pytest.mark.parametrize(("subject", "order", "mode", "outcome"), CASES)
def test_one_model_call_is_one_stream(
    server: FakeLLMServer,
    receiver: Receiver,
    subject: str,
    order: tuple[str, ...],
    mode: str,
    outcome: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from streamscope.integrations.langchain import disable_langchain, enable_langchain

    tracing = None
    try:
        for step in order:
            if step == "init":
                tracing = streamscope.init(receiver.url, service_name="one-stream", live_interval=0)
            elif step == "instrument_openai":
                streamscope.instrument_openai()
            else:
                enable_langchain()
        with caplog.at_level(logging.WARNING, logger="streamscope"):
            if subject == "engine":
                _call(lambda m, _: _engine_model(server.base_url, m), mode, outcome)
            else:
                _call(
                    lambda m, http: _langchain_model(server.base_url, m, http), mode, outcome, own_http=True
                )
        assert tracing is not None and tracing.force_flush(10)
    finally:
        disable_langchain()
        uninstrument_openai()
        if tracing is not None:
            tracing.shutdown()
    assert "streamscope tracing failed" not in caplog.text
    _assert_one_stream(receiver, outcome)


def test_raw_openai_calls_from_the_consumers_loop_body_are_recorded(server: FakeLLMServer) -> None:
    """The model run owns only its own request: a raw call made while its stream is consumed is a stream too."""
    import openai

    client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    streamscope.instrument_openai()
    try:
        with capture_spans() as spans:
            for i, _ in enumerate(_engine_model(server.base_url, "one-ok").stream("hi")):
                if i == 1:
                    client.chat.completions.create(
                        model="one-ok", messages=[{"role": "user", "content": "x"}]
                    )
    finally:
        uninstrument_openai()
        client.close()
    llm = spans.llm_spans()
    assert len(llm) == 2
    counts = sorted(int(s.attributes["streamscope.stream.chunk_count"]) for s in llm)  # type: ignore[arg-type,index]
    assert counts[0] == 1 and counts[1] > len(WORDS)  # the raw non-streamed call, and the whole engine stream


def test_a_langchain_call_with_instrument_openai_gets_its_first_byte(server: FakeLLMServer) -> None:
    """The raw instrumentation, silent inside a LangChain run, still tells it when the headers arrived."""
    from streamscope.integrations.langchain import StreamscopeCallbackHandler

    streamscope.instrument_openai()
    try:
        with capture_spans() as spans:
            model = _langchain_model(server.base_url, "one-ok")
            list(model.stream("hi", config={"callbacks": [StreamscopeCallbackHandler()]}))
    finally:
        uninstrument_openai()
    (llm,) = spans.llm_spans()
    a = llm.attributes or {}
    assert a["streamscope.stream.time_to_first_byte"] <= a["streamscope.stream.time_to_first_chunk"]  # type: ignore[operator]


@pytest.mark.parametrize("subject", ["engine", "langchain"])
@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
@pytest.mark.parametrize("outcome", ["completed", "http_500"])
def test_a_call_that_is_not_streamed_is_one_stream_too(
    server: FakeLLMServer, receiver: Receiver, subject: str, mode: str, outcome: str
) -> None:
    """``invoke`` without streaming goes through ``create()`` (or its raw-response wrapper) once: one span."""
    from langchain_openai import ChatOpenAI as LangChainChatOpenAI

    from streamscope.engine import ChatOpenAI
    from streamscope.integrations.langchain import disable_langchain, enable_langchain

    scenario = OUTCOMES[outcome][0]
    tracing = streamscope.init(receiver.url, service_name="one-stream", live_interval=0)
    streamscope.instrument_openai()
    enable_langchain()
    try:

        async def acall(model: Any) -> None:
            import openai

            http = openai.DefaultAsyncHttpxClient()
            try:
                if subject == "langchain":
                    model = LangChainChatOpenAI(
                        model=scenario,
                        base_url=server.base_url,
                        api_key="test",
                        max_retries=0,
                        http_async_client=http,
                    )
                await model.ainvoke("hi")
            finally:
                await http.aclose()

        if subject == "engine":
            model: Any = ChatOpenAI(model=scenario, base_url=server.base_url, api_key="test", max_retries=0)
        else:
            model = LangChainChatOpenAI(
                model=scenario, base_url=server.base_url, api_key="test", max_retries=0
            )
        call = (lambda: model.invoke("hi")) if mode == "invoke" else (lambda: asyncio.run(acall(model)))
        if outcome == "completed":
            call()
        else:
            with pytest.raises(Exception):  # noqa: B017 - the client's own error
                call()
        assert tracing.force_flush(10)
    finally:
        disable_langchain()
        uninstrument_openai()
        tracing.shutdown()
    _assert_one_stream(receiver, outcome, streamed=False)
