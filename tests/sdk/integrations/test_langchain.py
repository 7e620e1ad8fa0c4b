"""Real langchain-core apps traced through streamscope.integrations.langchain."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from opentelemetry.trace import SpanKind, StatusCode

import streamscope
from streamscope.integrations.langchain import StreamscopeCallbackHandler, disable_langchain, enable_langchain
from streamscope.testing import capture_spans


@pytest.fixture(autouse=True)
def quiet_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.DEBUG):
        yield
    assert "Failed to detach context" not in caplog.text
    assert "streamscope tracing failed" not in caplog.text


def _chain(model: object) -> object:
    return ChatPromptTemplate.from_messages([("human", "{q}")]) | model | StrOutputParser()  # type: ignore[operator]


def _cfg() -> dict[str, object]:
    return {"callbacks": [StreamscopeCallbackHandler()]}


def _attrs(span: object) -> dict[str, object]:
    return dict(span.attributes or {})  # type: ignore[attr-defined]


def test_handler_is_a_langchain_handler_running_inline() -> None:
    h = StreamscopeCallbackHandler()
    assert isinstance(h, BaseCallbackHandler)
    assert h.run_inline is True
    assert isinstance(h, streamscope.TracingCallbackHandler)


def test_full_stream_spans_nesting_rollups_and_chunks() -> None:
    with capture_spans() as spans:
        out = "".join(
            _chain(FakeListChatModel(responses=["hello world"])).stream(  # type: ignore[attr-defined]
                {"q": "hi"}, config=_cfg()
            )
        )
    assert out == "hello world"
    root = spans.one("RunnableSequence")
    llm = spans.llm_spans()[0]
    assert llm.kind == SpanKind.CLIENT
    assert llm.parent.span_id == root.context.span_id  # type: ignore[union-attr]
    a = _attrs(llm)
    assert a["streamscope.stream.outcome"] == "completed"
    assert a["gen_ai.request.stream"] is True
    assert a["streamscope.stream.chunk_count"] == len("hello world")
    assert "streamscope.stream.time_to_first_token" in a
    chunks = spans.chunks_of(llm)
    assert "".join(str(_attrs(c)["streamscope.chunk.content"]) for c in chunks) == "hello world"
    assert _attrs(spans.one("ChatPromptTemplate"))["streamscope.run.type"] == "prompt"
    assert _attrs(spans.one("StrOutputParser"))["streamscope.run.type"] == "parser"
    for s in spans:
        if s.name != "streamscope.chunk":
            assert _attrs(s)["streamscope.stream.outcome"] == "completed"


def test_break_out_of_a_model_stream_is_abandoned_with_partial_output() -> None:
    with capture_spans() as spans:
        stream = FakeListChatModel(responses=["abcdefgh"]).stream("q", config=_cfg())  # type: ignore[arg-type]
        for i, _ in enumerate(stream):
            if i == 2:
                break
        stream.close()
    assert len(spans.llm_spans()) == 1
    llm = spans.llm_spans()[0]
    a = _attrs(llm)
    assert a["streamscope.stream.outcome"] == "abandoned"
    assert llm.status.status_code == StatusCode.UNSET
    assert a["streamscope.stream.partial_output"] == "abc"


def test_sync_break_out_of_a_chain_reports_what_langchain_did() -> None:
    # LangChain drains the upstream model when a sync chain stream is abandoned (reference §5.6):
    # the model run really completed, so it is traced as completed with every chunk.
    with capture_spans() as spans:
        for i, _ in enumerate(
            _chain(FakeListChatModel(responses=["abcdefgh"])).stream(  # type: ignore[attr-defined]
                {"q": "hi"}, config=_cfg()
            )
        ):
            if i == 2:
                break
    a = _attrs(spans.llm_spans()[0])
    assert a["streamscope.stream.outcome"] == "completed"
    assert a["streamscope.stream.chunk_count"] == 8


def test_async_chain_aclose_is_abandoned() -> None:
    async def main() -> None:
        stream = _chain(FakeListChatModel(responses=["abcdefgh"])).astream({"q": "hi"}, config=_cfg())  # type: ignore[attr-defined]
        async for _ in stream:
            break
        await stream.aclose()
        await asyncio.sleep(0.05)  # LangChain delivers these callbacks from shielded tasks

    with capture_spans() as spans:
        asyncio.run(main())
    assert _attrs(spans.llm_spans()[0])["streamscope.stream.outcome"] == "abandoned"
    assert _attrs(spans.one("RunnableSequence"))["streamscope.stream.outcome"] == "abandoned"
    assert spans.one("RunnableSequence").status.status_code == StatusCode.UNSET


def test_error_mid_stream_is_error_status_with_partial_output() -> None:
    model = FakeListChatModel(responses=["abcdefgh"], error_on_chunk_number=3)
    with capture_spans() as spans, pytest.raises(Exception) as info:
        list(_chain(model).stream({"q": "hi"}, config=_cfg()))  # type: ignore[attr-defined]
    assert type(info.value).__name__ == "FakeListChatModelError"
    llm = spans.llm_spans()[0]
    a = _attrs(llm)
    assert llm.status.status_code == StatusCode.ERROR
    assert a["error.type"] == "FakeListChatModelError"
    assert a["streamscope.stream.outcome"] == "error"
    assert a["streamscope.stream.partial_output"] == "abc"
    assert spans.one("RunnableSequence").status.status_code == StatusCode.ERROR


def test_invoke_without_streaming_is_one_chunk_not_marked_stream() -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage(content="whole answer")]))
    with capture_spans() as spans:
        assert model.invoke("q", config=_cfg()).content == "whole answer"  # type: ignore[arg-type]
    a = _attrs(spans.llm_spans()[0])
    assert a["streamscope.stream.chunk_count"] == 1
    assert "gen_ai.request.stream" not in a


def test_usage_metadata_on_chunks_is_provider_usage() -> None:
    class UsageModel(GenericFakeChatModel):
        def _stream(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            from langchain_core.outputs import ChatGenerationChunk

            yield ChatGenerationChunk(message=AIMessageChunk(content=""))
            yield ChatGenerationChunk(message=AIMessageChunk(content="hi"))
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="", usage_metadata={"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}
                )
            )

    with capture_spans() as spans:
        list(UsageModel(messages=iter([])).stream("q", config=_cfg()))  # type: ignore[arg-type]
    llm = spans.llm_spans()[0]
    a = _attrs(llm)
    assert a["gen_ai.usage.input_tokens"] == 7
    assert a["gen_ai.usage.output_tokens"] == 2
    assert a["streamscope.usage.source"] == "provider"
    kinds = [_attrs(c)["streamscope.chunk.kind"] for c in spans.chunks_of(llm)]
    assert kinds[:3] == ["role", "content", "usage"]
    assert set(kinds[3:]) <= {"empty"}  # langchain-core adds an empty closing chunk
    assert a["streamscope.stream.time_to_first_token"] > a["streamscope.stream.time_to_first_chunk"]  # type: ignore[operator]


def test_tools_are_execute_tool_spans() -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    with capture_spans() as spans:
        assert add.invoke({"a": 2, "b": 3}, config=_cfg()) == 5  # type: ignore[arg-type]
    span = spans.one("execute_tool add")
    a = _attrs(span)
    assert a["gen_ai.operation.name"] == "execute_tool"
    assert a["gen_ai.tool.name"] == "add"
    assert a["gen_ai.tool.call.result"] == "5"


def test_async_stream_cancelled_is_cancelled() -> None:
    model = FakeListChatModel(responses=["abcdefghij"], sleep=0.05)

    async def main() -> None:
        async def consume() -> None:
            async for _ in model.astream("q", config=_cfg()):  # type: ignore[arg-type]
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.12)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with capture_spans() as spans:
        asyncio.run(main())
    llm = spans.llm_spans()[0]
    assert _attrs(llm)["streamscope.stream.outcome"] == "cancelled"
    assert llm.status.status_code == StatusCode.UNSET


def test_enable_langchain_traces_runs_without_per_call_config() -> None:
    handler = enable_langchain()
    try:
        assert enable_langchain() is handler
        with capture_spans() as spans:
            assert "".join(_chain(FakeListChatModel(responses=["yo"])).stream({"q": "x"})) == "yo"  # type: ignore[attr-defined]
            # deduplicated with a per-call handler of the same instance
            list(FakeListChatModel(responses=["z"]).stream("q", config={"callbacks": [handler]}))
        assert len(spans.llm_spans()) == 2
        assert spans.one("RunnableSequence")
    finally:
        disable_langchain()
    with capture_spans() as spans:
        list(FakeListChatModel(responses=["q"]).stream("q"))
    assert spans.llm_spans() == []


def test_decorated_function_is_the_parent_of_the_chain() -> None:
    @streamscope.trace
    def answer(q: str) -> str:
        return "".join(_chain(FakeListChatModel(responses=["ok"])).stream({"q": q}, config=_cfg()))  # type: ignore[attr-defined]

    with capture_spans() as spans:
        answer("x")
    fn = next(s for s in spans if s.name.endswith("answer"))
    assert spans.one("RunnableSequence").parent.span_id == fn.context.span_id  # type: ignore[union-attr]


def test_import_streamscope_does_not_import_langchain() -> None:
    code = "import sys, streamscope; assert 'langchain_core' not in sys.modules, 'langchain_core imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
