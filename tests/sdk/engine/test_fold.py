"""The engine's C test and fold of a text-only streamed chunk (``streamscope.engine._fold.TextFold``).

Two halves:

- the fold alone: which chunks it takes (only those the Python loop's test accepts), what it does with them (the
  text appended, then emitted) and what it leaves alone (everything else, untouched);
- differential: generated chunk sequences through ``stream`` and ``astream`` with handlers of each kind (the tracing
  handler's token sink, a sink without ``text``, a plain ``on_llm_new_token`` handler), once with the fold and once
  with the Python loop it stands in for: the same messages to the consumer, the same tokens to the handlers, the
  same merged message at ``on_llm_end`` and the same spans.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import re
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamscope.engine.callbacks import BaseCallbackHandler
from streamscope.engine.messages import AIMessageChunk
from streamscope.engine.models import BaseChatModel
from streamscope.engine.models import base as model_base
from streamscope.engine.outputs import ChatGenerationChunk
from streamscope.testing import capture_spans
from streamscope.tracing.handler import TracingCallbackHandler

_fold = pytest.importorskip("streamscope.engine._fold", reason="built without a C compiler")
TextFold = _fold.TextFold

RUN_ID = "lc_run--r"


def plain(text: str = "tok", cid: str = RUN_ID) -> ChatGenerationChunk:
    return ChatGenerationChunk(AIMessageChunk(text, id=cid))


class Folded:
    """A fold over fresh parts, recording what it emitted."""

    def __init__(self, with_text: bool = True) -> None:
        self.parts: list[Any] = []
        self.emitted: list[tuple[Any, ...]] = []
        self.fold = TextFold(self.parts, (lambda t: self.emitted.append((t,))) if with_text else None,
                             lambda t, g: self.emitted.append((t, g)))


def test_the_layout_of_the_engines_classes_is_known() -> None:
    assert model_base._TextFold is TextFold  # the engine uses it
    assert _fold.layout(ChatGenerationChunk, AIMessageChunk) is True

    class Unslotted:
        pass

    assert _fold.layout(Unslotted, Unslotted) is False
    assert _fold.layout(ChatGenerationChunk, AIMessageChunk) is True  # a failed call changes nothing
    with pytest.raises(TypeError):
        _fold.layout(ChatGenerationChunk)


def test_a_text_only_chunk_is_appended_then_emitted() -> None:
    f = Folded()
    assert f.fold(plain("a"), RUN_ID) is True
    assert f.fold(plain("b", cid="lc_run--" + "r"), RUN_ID) is True  # an equal id, not the same object
    assert f.parts == ["a", "b"] and f.emitted == [("a",), ("b",)]
    g = plain("c")
    other = Folded(with_text=False)
    assert other.fold(g, RUN_ID) is True
    assert other.parts == ["c"] and other.emitted == [("c", g)]  # no text function: emit(text, generation)


def _variants() -> list[tuple[str, ChatGenerationChunk, Any]]:
    def msg(**fields: Any) -> ChatGenerationChunk:
        return ChatGenerationChunk(AIMessageChunk(fields.pop("content", "tok"), id=fields.pop("id", RUN_ID),
                                                  **fields))

    class SubMessage(AIMessageChunk):
        pass

    class SubGeneration(ChatGenerationChunk):
        pass

    return [
        ("empty content", msg(content=""), RUN_ID),
        ("content blocks", msg(content=[{"type": "text", "text": "x"}]), RUN_ID),
        ("another id", msg(id="chatcmpl-1"), RUN_ID),
        ("no id", ChatGenerationChunk(AIMessageChunk("tok")), RUN_ID),
        ("nothing merged yet", msg(), model_base._NO_ID),
        ("a name", msg(name="bot"), RUN_ID),
        ("tool call chunks", msg(tool_call_chunks=[{"name": "f", "args": "", "id": "c", "index": 0}]), RUN_ID),
        ("usage", msg(usage_metadata={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}), RUN_ID),
        ("response metadata", msg(response_metadata={"model_provider": "openai"}), RUN_ID),
        ("additional kwargs", msg(additional_kwargs={"refusal": "no"}), RUN_ID),
        ("last chunk", msg(chunk_position="last"), RUN_ID),
        ("generation info", ChatGenerationChunk(AIMessageChunk("tok", id=RUN_ID), {"finish_reason": "stop"}), RUN_ID),
        ("a message subclass", ChatGenerationChunk(SubMessage("tok", id=RUN_ID)), RUN_ID),
        ("a generation subclass", SubGeneration(AIMessageChunk("tok", id=RUN_ID)), RUN_ID),
        ("not a generation", AIMessageChunk("tok", id=RUN_ID), RUN_ID),  # type: ignore[list-item]
    ]


@pytest.mark.parametrize(("what", "generation", "merged"), _variants(), ids=[v[0] for v in _variants()])
def test_any_other_chunk_is_left_to_the_python_loop(what: str, generation: Any, merged: Any) -> None:
    f = Folded()
    assert f.fold(generation, merged) is False
    assert f.parts == [] and f.emitted == []


def test_a_field_emptied_in_place_still_counts_as_set_only_when_set() -> None:
    g = plain()
    g.message.tool_call_chunks = ()  # falsy, but not the empty list: the Python loop decides
    assert Folded().fold(g, RUN_ID) is False
    g.message.tool_call_chunks = []
    assert Folded().fold(g, RUN_ID) is True


def test_what_the_emit_function_raises_propagates_after_the_append() -> None:
    parts: list[Any] = []

    def boom(text: str) -> None:
        raise ValueError("handler bug")

    fold = TextFold(parts, boom, lambda t, g: None)
    with pytest.raises(ValueError, match="handler bug"):
        fold(plain("a"), RUN_ID)
    assert parts == ["a"]
    with pytest.raises(TypeError, match="exactly two arguments"):
        fold(plain("a"))  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        TextFold(parts, 1, lambda t, g: None)  # type: ignore[arg-type]


def test_a_fold_in_a_reference_cycle_is_collected() -> None:
    class Parts(list):  # type: ignore[type-arg]
        pass

    parts = Parts()
    fold = TextFold(parts, None, lambda t, g: None)
    parts.append(fold)
    gone = weakref.ref(parts)
    del parts, fold
    gc.collect()
    assert gone() is None


# -- differential -------------------------------------------------------------------------------------------------

class Scripted(BaseChatModel):
    """Streams copies of the generations it is given (so both runs see equal, unshared chunks)."""

    def __init__(self, script: list[ChatGenerationChunk], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = script

    def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for g in self.script:
            yield ChatGenerationChunk(copy.deepcopy(g.message), copy.deepcopy(g.generation_info))

    async def _astream(self, messages: Any, stop: Any = None, run_manager: Any = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        for g in self._stream(messages):
            yield g


def dump(message: Any) -> str:
    """Every field of a message (its repr leaves the metadata out)."""
    return repr({k: getattr(message, k, None) for k in AIMessageChunk.__slots__})


class TokenLog(BaseCallbackHandler):
    """The general path: ``on_llm_new_token`` for every chunk; the merged message at the end."""

    def __init__(self) -> None:
        self.tokens: list[tuple[Any, str]] = []
        self.end: Any = None

    def on_llm_new_token(self, token: str, *, chunk: Any = None, **kwargs: Any) -> None:
        self.tokens.append((token, dump(chunk.message), repr(chunk.generation_info)))

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        first = response.generations[0][0] if response.generations[0] else None
        self.end = None if first is None else (dump(first.message), repr(first.generation_info))


class SinkLog(TokenLog):
    """A token sink, with or without ``text``."""

    def __init__(self, with_text: bool) -> None:
        super().__init__()
        self.with_text = with_text

    def token_sink(self, run_id: Any) -> Any:
        def sink(token: Any, chunk: Any) -> None:
            self.tokens.append((token, dump(chunk.message), repr(chunk.generation_info)))

        if self.with_text:
            sink.text = lambda token: self.tokens.append((token, "text"))  # type: ignore[attr-defined]
        return sink


texts = st.sampled_from(["Hello", " world", "!", "", "é"])
chunk_specs = st.one_of(
    texts.map(lambda t: ("plain", t)),
    st.tuples(st.just("fields"), texts, st.fixed_dictionaries({}, optional={
        "name": st.just("bot"),
        "id": st.sampled_from(["chatcmpl-1", "chatcmpl-2"]),
        "usage_metadata": st.just({"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}),
        "response_metadata": st.sampled_from([{"model_provider": "openai"}, {"finish_reason": "stop"}]),
        "additional_kwargs": st.just({"reasoning_content": "hmm"}),
        "chunk_position": st.just("last"),
        "tool_call_chunks": st.just([{"name": "f", "args": "{}", "id": "c1", "index": 0}]),
    }), st.one_of(st.none(), st.just({"finish_reason": "stop"}))),
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
    traced = [(s.name, {k: v for k, v in s.attributes.items() if not any(t in k for t in timing)
                        and k != "streamscope.run.id"}) for s in spans]
    # the run's own id (a fresh uuid per run) in the default message id
    return re.sub(r"lc_run--[0-9a-f-]{36}", "lc_run--RUN", repr((seen, getattr(handler, "tokens", None),
                                                               getattr(handler, "end", None), traced)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(chunk_specs, max_size=12), handler_kind=st.sampled_from(["tracing", "sink", "sink-text", "log"]),
       use_async=st.booleans())
def test_the_fold_changes_nothing_anyone_sees(specs: list[Any], handler_kind: str, use_async: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def handler() -> Any:
        return {"tracing": TracingCallbackHandler, "sink": lambda: SinkLog(False),
                "sink-text": lambda: SinkLog(True), "log": TokenLog}[handler_kind]()

    script = _script(specs)
    with_fold = _run(script, handler(), use_async)
    with monkeypatch.context() as m:
        m.setattr(model_base, "_TextFold", None)
        without = _run(script, handler(), use_async)
    assert with_fold == without


def _stream_of(handler: Any) -> Any:
    from streamscope.engine.models import FakeStreamingChatModel

    return FakeStreamingChatModel(chunks=["a", "b", "c"], callbacks=[handler]).stream("q")


def test_an_exception_thrown_into_the_stream_at_a_folded_chunk_is_not_taken_for_a_handlers() -> None:
    with capture_spans() as spans:
        stream = _stream_of(TracingCallbackHandler())
        next(stream)
        next(stream)  # the second chunk took the fold
        with pytest.raises(ValueError, match="from the consumer"):
            stream.throw(ValueError("from the consumer"))
    (llm,) = [s for s in spans if s.name.startswith("chat")]
    assert llm.attributes["streamscope.stream.outcome"] == "error"


def test_a_text_sink_that_raises_is_reported_and_the_stream_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(SinkLog):
        def token_sink(self, run_id: Any) -> Any:
            sink = super().token_sink(run_id)

            def text(token: str) -> None:
                raise RuntimeError("sink bug")

            sink.text = text
            return sink

    with caplog.at_level("WARNING"):
        assert [m.content for m in _stream_of(Broken(True))] == ["a", "b", "c"]
    assert any("sink bug" in r.getMessage() or "sink bug" in str(r.exc_info) for r in caplog.records)
