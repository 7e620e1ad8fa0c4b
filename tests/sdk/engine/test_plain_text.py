"""A chunk that only adds its text: ``ChatGenerationChunk.plain_text`` and the model loop's short way for it.

Two halves:

- the test itself: which chunks are plain text (a non-empty ``str`` content, the message's id so far, nothing else
  set) and which are not;
- differential: generated chunk sequences through ``stream`` and ``astream`` with handlers of each kind (the tracing
  handler's token sink, a logging token sink, a plain ``on_llm_new_token`` handler), once with the short way and
  once with every chunk taken the full way (``plain_text`` always None): the same messages to the consumer, the
  same tokens to the handlers, the same merged message at ``on_llm_end`` and the same spans.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamscope.engine.callbacks import BaseCallbackHandler, TokenSink
from streamscope.engine.messages import AIMessageChunk
from streamscope.engine.models import BaseChatModel, FakeStreamingChatModel
from streamscope.engine.outputs import ChatGenerationChunk
from streamscope.testing import capture_spans
from streamscope.tracing.handler import TracingCallbackHandler

RUN_ID = "lc_run--r"
FIELDS = (
    "content",
    "id",
    "name",
    "tool_call_chunks",
    "usage_metadata",
    "additional_kwargs",
    "response_metadata",
    "chunk_position",
)


def plain(text: str = "tok", cid: str | None = RUN_ID) -> ChatGenerationChunk:
    return ChatGenerationChunk(AIMessageChunk(text, id=cid))


def test_a_text_only_chunk_is_its_text() -> None:
    assert plain("a").plain_text(RUN_ID) == "a"
    assert plain("b", cid="lc_run--" + "r").plain_text(RUN_ID) == "b"  # an equal id, not the same object

    class SubGeneration(ChatGenerationChunk):
        pass

    assert SubGeneration(AIMessageChunk("d", id=RUN_ID)).plain_text(RUN_ID) == "d"


def _variants() -> list[tuple[str, ChatGenerationChunk, Any]]:
    def msg(**fields: Any) -> ChatGenerationChunk:
        return ChatGenerationChunk(
            AIMessageChunk(fields.pop("content", "tok"), id=fields.pop("id", RUN_ID), **fields)
        )

    return [
        ("empty content", msg(content=""), RUN_ID),
        ("content blocks", msg(content=[{"type": "text", "text": "x"}]), RUN_ID),
        ("another id", msg(id="chatcmpl-1"), RUN_ID),
        ("no id", plain(cid=None), RUN_ID),
        ("nothing merged yet", msg(), None),
        ("no id and nothing merged yet", plain(cid=None), None),
        ("a name", msg(name="bot"), RUN_ID),
        (
            "tool call chunks",
            msg(tool_call_chunks=[{"name": "f", "args": "", "id": "c", "index": 0}]),
            RUN_ID,
        ),
        ("usage", msg(usage_metadata={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}), RUN_ID),
        ("response metadata", msg(response_metadata={"model_provider": "openai"}), RUN_ID),
        ("additional kwargs", msg(additional_kwargs={"refusal": "no"}), RUN_ID),
        ("last chunk", msg(chunk_position="last"), RUN_ID),
        (
            "generation info",
            ChatGenerationChunk(AIMessageChunk("tok", id=RUN_ID), {"finish_reason": "stop"}),
            RUN_ID,
        ),
    ]


@pytest.mark.parametrize(("what", "generation", "merged"), _variants(), ids=[v[0] for v in _variants()])
def test_any_other_chunk_is_not_plain_text(what: str, generation: ChatGenerationChunk, merged: Any) -> None:
    assert generation.plain_text(merged) is None


# -- differential -------------------------------------------------------------------------------------------------


class Scripted(BaseChatModel):
    """Streams copies of the generations it is given (so both runs see equal, unshared chunks)."""

    def __init__(self, script: list[ChatGenerationChunk], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = script

    def _stream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        for g in self.script:
            yield ChatGenerationChunk(copy.deepcopy(g.message), copy.deepcopy(g.generation_info))

    async def _astream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for g in self._stream(messages):
            yield g


def dump(message: Any) -> str:
    """Every field of a message (its repr leaves the metadata out)."""
    return repr({k: getattr(message, k, None) for k in FIELDS})


class TokenLog(BaseCallbackHandler):
    """The general path: ``on_llm_new_token`` for every chunk; the merged message at the end."""

    def __init__(self) -> None:
        self.tokens: list[Any] = []
        self.end: Any = None

    def on_llm_new_token(self, token: str, *, chunk: Any = None, **kwargs: Any) -> None:
        self.tokens.append((token, dump(chunk.message), repr(chunk.generation_info)))

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        first = response.generations[0][0] if response.generations[0] else None
        self.end = None if first is None else (dump(first.message), repr(first.generation_info))


class SinkLog(TokenLog):
    """A token sink: logs each token (what a text-only chunk is, the sink gets as its text)."""

    def token_sink(self, run_id: Any) -> TokenSink:
        tokens = self.tokens

        class Sink:
            def chunk(self, token: str, chunk: Any) -> None:
                tokens.append(token)

            def text(self, text: str) -> None:
                tokens.append(text)

        return Sink()


texts = st.sampled_from(["Hello", " world", "!", "", "é"])
chunk_specs = st.one_of(
    texts.map(lambda t: ("plain", t)),
    st.tuples(
        st.just("fields"),
        texts,
        st.fixed_dictionaries(
            {},
            optional={
                "name": st.just("bot"),
                "id": st.sampled_from(["chatcmpl-1", "chatcmpl-2"]),
                "usage_metadata": st.just({"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}),
                "response_metadata": st.sampled_from(
                    [{"model_provider": "openai"}, {"finish_reason": "stop"}]
                ),
                "additional_kwargs": st.just({"reasoning_content": "hmm"}),
                "chunk_position": st.just("last"),
                "tool_call_chunks": st.just([{"name": "f", "args": "{}", "id": "c1", "index": 0}]),
            },
        ),
        st.one_of(st.none(), st.just({"finish_reason": "stop"})),
    ),
)


def _script(specs: list[Any]) -> list[ChatGenerationChunk]:
    out = []
    for spec in specs:
        if spec[0] == "plain":
            out.append(ChatGenerationChunk(AIMessageChunk(spec[1])))
        else:
            _, text, fields, info = spec
            out.append(ChatGenerationChunk(AIMessageChunk(text, **copy.deepcopy(fields)), info))
    return out


def _run(script: list[ChatGenerationChunk], handler: Any, use_async: bool) -> Any:
    model = Scripted(script, callbacks=[handler])
    with capture_spans() as spans:
        if use_async:

            async def consume() -> list[str]:
                return [dump(m) async for m in model.astream("q")]

            seen = asyncio.run(consume())
        else:
            seen = [dump(m) for m in model.stream("q")]
    timing = ("time_to_", "gap", "offset", "tokens_per_second")
    traced = [
        (
            s.name,
            {
                k: v
                for k, v in s.attributes.items()
                if not any(t in k for t in timing) and k != "streamscope.run.id"
            },
        )
        for s in spans
    ]
    # the run's own id (a fresh uuid per run) in the default message id
    return re.sub(
        r"lc_run--[0-9a-f-]{36}",
        "lc_run--RUN",
        repr((seen, getattr(handler, "tokens", None), getattr(handler, "end", None), traced)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    specs=st.lists(chunk_specs, max_size=12),
    handler_kind=st.sampled_from(["tracing", "sink", "log"]),
    use_async=st.booleans(),
)
def test_the_short_way_changes_nothing_anyone_sees(
    specs: list[Any], handler_kind: str, use_async: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def handler() -> Any:
        return {"tracing": TracingCallbackHandler, "sink": SinkLog, "log": TokenLog}[handler_kind]()

    script = _script(specs)
    short = _run(script, handler(), use_async)
    with monkeypatch.context() as m:
        m.setattr(ChatGenerationChunk, "plain_text", lambda self, message_id: None)
        full = _run(script, handler(), use_async)
    assert short == full


def test_the_short_way_is_taken() -> None:
    """(What the differential above compares: text-only chunks after the first reach a sink as their text.)"""
    calls: list[tuple[str, str]] = []

    class Sinks(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            raise AssertionError("the sink is used instead")

        def token_sink(self, run_id: Any) -> TokenSink:
            class Sink:
                def chunk(self, token: str, chunk: Any) -> None:
                    calls.append(("chunk", token))

                def text(self, text: str) -> None:
                    calls.append(("text", text))

            return Sink()

    model = FakeStreamingChatModel(chunks=["a", "b", "c", "d"], callbacks=[Sinks()])
    assert [m.content for m in model.stream("q")] == ["a", "b", "c", "d"]
    # the first chunk, and the last (it carries the finish reason), go the full way
    assert calls == [("chunk", "a"), ("text", "b"), ("text", "c"), ("chunk", "d")]


def _stream_of(handler: Any) -> Any:
    return FakeStreamingChatModel(chunks=["a", "b", "c"], callbacks=[handler]).stream("q")


def test_an_exception_thrown_into_the_stream_at_a_text_chunk_is_not_taken_for_a_handlers() -> None:
    with capture_spans() as spans:
        stream = _stream_of(TracingCallbackHandler())
        next(stream)
        next(stream)  # the second chunk took the short way
        with pytest.raises(ValueError, match="from the consumer"):
            stream.throw(ValueError("from the consumer"))
    (llm,) = [s for s in spans if s.name.startswith("chat")]
    assert llm.attributes["streamscope.stream.outcome"] == "error"


def test_a_text_sink_that_raises_is_reported_and_the_stream_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(SinkLog):
        def token_sink(self, run_id: Any) -> TokenSink:
            inner = super().token_sink(run_id)

            class Sink:
                def chunk(self, token: str, chunk: Any) -> None:
                    inner.chunk(token, chunk)

                def text(self, text: str) -> None:
                    raise RuntimeError("sink bug")

            return Sink()

    with caplog.at_level("WARNING"):
        assert [m.content for m in _stream_of(Broken())] == ["a", "b", "c"]
    assert caplog.text.count("Error in Broken.on_llm_new_token callback") == 1


def test_a_handler_whose_token_sink_is_not_one_is_reported_once_and_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class NotASink(TokenLog):
        def token_sink(self, run_id: Any) -> Any:
            return lambda token, chunk: None  # the shape before the TokenSink protocol: no chunk / text

    handler = NotASink()
    with caplog.at_level("WARNING"):
        assert [m.content for m in _stream_of(handler)] == ["a", "b", "c"]
    assert caplog.text.count("Error in NotASink.on_llm_new_token callback") == 1
    assert handler.tokens == []  # left out: neither a sink nor, having offered one, its on_llm_new_token
