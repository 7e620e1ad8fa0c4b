"""Failed spans: exception events and status descriptions, and no content in them when capture is off."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import streamscope
from streamscope.engine import AgentExecutor, FakeListChatModel, PromptTemplate, create_react_agent
from streamscope.engine.models import FakeStreamingChatModel
from streamscope.engine.tools import tool
from streamscope.testing import capture_spans

SECRET = "the-model-said-something-private"


@tool
def lookup(query: str) -> str:
    """Look something up."""
    return query


def _run_agent_that_cannot_parse() -> None:
    # The model's answer is neither an action nor a final answer: the ReAct parser's error quotes it.
    model = FakeListChatModel(responses=[f"I refuse to follow the format: {SECRET}"])
    prompt = PromptTemplate.from_template("{input}\n{tools}\n{tool_names}\n{agent_scratchpad}")
    agent = AgentExecutor(create_react_agent(model, [lookup], prompt), [lookup])
    agent.invoke({"input": "hi"}, config={"callbacks": [streamscope.TracingCallbackHandler()]})


def _everything(spans: Any) -> str:
    parts = []
    for span in spans:
        parts.append(span.status.description or "")
        parts.extend(str(v) for v in (span.attributes or {}).values())
        for event in span.events:
            parts.extend(str(v) for v in (event.attributes or {}).values())
    return "\n".join(parts)


def test_with_capture_off_exception_messages_never_reach_a_span() -> None:
    with capture_spans(capture_content=False) as spans, pytest.raises(Exception) as info:
        _run_agent_that_cannot_parse()
    assert SECRET in str(info.value)  # the user's exception is untouched
    failed = [s for s in spans if s.status.status_code == StatusCode.ERROR]
    assert len(failed) >= 2  # the parser, the sequence, the agent ...
    assert SECRET not in _everything(spans)
    for span in failed:
        assert span.status.description == type(info.value).__name__
        (event,) = [e for e in span.events if e.name == "exception"]
        assert dict(event.attributes or {}) == {
            "exception.type": f"{type(info.value).__module__}.{type(info.value).__qualname__}"
        }


def test_with_capture_on_the_exception_is_recorded_in_full() -> None:
    with capture_spans() as spans, pytest.raises(Exception) as info:
        _run_agent_that_cannot_parse()
    failed = [s for s in spans if s.status.status_code == StatusCode.ERROR]
    assert failed and all(s.status.description == str(info.value) for s in failed)
    event = next(e for e in failed[0].events if e.name == "exception")
    attrs = dict(event.attributes or {})
    assert SECRET in str(attrs["exception.message"]) and "exception.stacktrace" in attrs


@pytest.mark.parametrize("capture", [True, False])
def test_a_stream_error_keeps_its_type_either_way(capture: bool) -> None:
    model = FakeStreamingChatModel(chunks=["a", SECRET, "c"], error_at=2)
    with capture_spans(capture_content=capture) as spans, pytest.raises(Exception) as info:
        list(model.stream("q", config={"callbacks": [streamscope.TracingCallbackHandler()]}))
    (llm,) = [s for s in spans if s.name.startswith("chat ")]
    assert llm.status.status_code == StatusCode.ERROR
    assert dict(llm.attributes or {})["error.type"] == type(info.value).__name__
    assert (SECRET in _everything([llm])) is capture


def test_http_status_and_retry_after_of_a_real_openai_error_are_recorded() -> None:
    """A stream from the fake LLM that answers 429 with Retry-After, through the real openai client: the model span
    carries http.response.status_code and http.response.header.retry-after (capture off: they are not content)."""
    import openai

    from streamscope.instrumentation.openai import uninstrument_openai
    from streamscope.testing.fake_llm import FakeLLMServer

    with (
        FakeLLMServer({"limited": {"error_status": 429, "retry_after": 7}}) as llm,
        capture_spans(capture_content=False) as spans,
    ):
        streamscope.instrument_openai()
        try:
            with (
                openai.OpenAI(base_url=llm.base_url, api_key="x", max_retries=0) as client,
                pytest.raises(openai.RateLimitError),
            ):
                client.chat.completions.create(
                    model="limited", stream=True, messages=[{"role": "user", "content": "hi"}]
                )
        finally:
            uninstrument_openai()
    (span,) = [s for s in spans if s.status.status_code == StatusCode.ERROR]
    assert span.attributes["http.response.status_code"] == 429
    assert span.attributes["http.response.header.retry-after"] == ("7",)


def test_http_attributes_ignore_other_errors_and_never_raise() -> None:
    from streamscope.tracing.errors import http_attributes

    class Weird(Exception):
        @property
        def status_code(self) -> int:
            raise RuntimeError("no")

    assert http_attributes(ValueError("x")) == {}
    assert http_attributes(Weird()) == {}
    from streamscope.engine.openai.errors import ChatOpenAIStatusError

    err = ChatOpenAIStatusError("boom", status_code=503, retry_after="2")
    assert http_attributes(err) == {
        "http.response.status_code": 503,
        "http.response.header.retry-after": ("2",),
    }
