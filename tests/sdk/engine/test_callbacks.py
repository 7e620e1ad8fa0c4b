"""Callbacks: run tree, config by ContextVar, error handling, global handlers, built-in handlers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID, uuid4

import pytest

from streamscope.engine import (
    AsyncCallbackHandler,
    AsyncIteratorCallbackHandler,
    BaseCallbackHandler,
    FakeListChatModel,
    FakeStreamingChatModel,
    RunnableConfig,
    RunnableLambda,
    StreamingStdOutCallbackHandler,
    StrOutputParser,
    add_global_handler,
    adispatch_custom_event,
    dispatch_custom_event,
    remove_global_handler,
)
from streamscope.engine.callbacks import TokenSink


def test_nested_call_without_config_joins_the_tree_sync(rec: Any) -> None:
    model = FakeListChatModel(responses=["ok"])

    def outer(x: str) -> str:
        return str(model.invoke(x).content)  # no config passed

    RunnableLambda(outer).invoke("hi", {"callbacks": [rec], "tags": ["t"], "metadata": {"user": "u"}})
    (_, lam), (_, llm) = rec.of("chain_start")[0], rec.of("chat_model_start")[0]
    assert llm["parent_run_id"] == lam["run_id"]
    assert "t" in llm["tags"] and llm["metadata"]["user"] == "u"


def test_nested_call_without_config_joins_the_tree_async(rec: Any) -> None:
    model = FakeListChatModel(responses=["ok"])

    async def outer(x: str) -> str:
        chunks = [c.content async for c in model.astream(x)]
        return "".join(chunks)

    async def agen(x: str) -> Any:
        yield await outer(x)

    asyncio.run(RunnableLambda(outer).ainvoke("hi", {"callbacks": [rec], "tags": ["t"]}))

    async def stream() -> list[Any]:
        return [c async for c in RunnableLambda(agen).astream("hi", {"callbacks": [rec]})]

    assert asyncio.run(stream()) == ["ok"]
    chain_starts = rec.of("chain_start")
    llm_starts = rec.of("chat_model_start")
    assert [k["parent_run_id"] for _, k in llm_starts] == [k["run_id"] for _, k in chain_starts]
    assert "t" in llm_starts[0][1]["tags"]


def test_caller_run_id_names_the_root_only(rec: Any) -> None:
    run_id = uuid4()
    chain = RunnableLambda(lambda x: x) | RunnableLambda(lambda x: x)
    chain.invoke(1, {"callbacks": [rec], "run_id": run_id})
    ids = [k["run_id"] for _, k in rec.of("chain_start")]
    assert ids[0] == run_id and len(set(ids)) == 3


def test_handlers_do_not_persist_between_calls(rec: Any) -> None:
    chain = RunnableLambda(lambda x: x)
    chain.invoke(1, {"callbacks": [rec]})
    chain.invoke(2)
    assert len(rec.of("chain_start")) == 1


def test_constructor_callbacks_are_local_to_the_model(rec: Any) -> None:
    model = FakeListChatModel(responses=["ab"], callbacks=[rec])
    list((model | StrOutputParser()).stream("hi"))
    assert "chain_start" not in rec.names()  # the parser did not inherit the model's handler
    assert rec.names()[0] == "chat_model_start"


def test_with_config_binds_handlers_tags_and_run_name(rec: Any) -> None:
    bound = RunnableLambda(lambda x: x * 2).with_config(callbacks=[rec], run_name="doubler", tags=["x"])
    assert bound.invoke(2) == 4
    _, kwargs = rec.of("chain_start")[0]
    assert kwargs["name"] == "doubler" and kwargs["tags"] == ["x"]


class Failing(BaseCallbackHandler):
    def __init__(self, raise_error: bool) -> None:
        self.raise_error = raise_error

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        raise RuntimeError("handler bug")


def test_handler_errors_are_logged_and_swallowed(caplog: pytest.LogCaptureFixture, rec: Any) -> None:
    with caplog.at_level(logging.WARNING, logger="streamscope.engine.callbacks"):
        assert RunnableLambda(lambda x: x + 1).invoke(1, {"callbacks": [Failing(False), rec]}) == 2
    assert "Error in Failing.on_chain_start callback" in caplog.text
    assert rec.names() == ["chain_start", "chain_end"]  # later handlers still run


def test_raise_error_propagates_handler_errors() -> None:
    with pytest.raises(RuntimeError, match="handler bug"):
        RunnableLambda(lambda x: x).invoke(1, {"callbacks": [Failing(True)]})


class FailingSink(BaseCallbackHandler):
    """Takes tokens through a token sink (the engine calls it directly when it is the run's only token taker)."""

    def __init__(self, raise_error: bool) -> None:
        self.raise_error = raise_error
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        raise AssertionError("the sink is used instead")

    def token_sink(self, run_id: Any) -> TokenSink:
        handler = self

        class Sink:
            def chunk(self, token: str, chunk: Any) -> None:
                self.text(token)

            def text(self, text: str) -> None:
                handler.tokens.append(text)
                if text == "b":
                    raise RuntimeError("sink bug")

        return Sink()


def test_a_failing_token_sink_is_logged_and_the_stream_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    handler = FailingSink(False)
    model = FakeStreamingChatModel(chunks=["a", "b", "c"], callbacks=[handler])
    with caplog.at_level(logging.WARNING, logger="streamscope.engine.callbacks"):
        assert [m.content for m in model.stream("q")] == ["a", "b", "c"]
    assert handler.tokens == ["a", "b", "c"]
    assert caplog.text.count("Error in FailingSink.on_llm_new_token callback") == 1


def test_a_failing_token_sink_with_raise_error_stops_the_stream() -> None:
    model = FakeStreamingChatModel(chunks=["a", "b", "c"], callbacks=[FailingSink(True)])
    got: list[Any] = []
    with pytest.raises(RuntimeError, match="sink bug"):
        for m in model.stream("q"):
            got.append(m.content)
    assert got == ["a"]


def test_user_exceptions_pass_through_unchanged(rec: Any) -> None:
    err = KeyError("mine")

    def boom(x: Any) -> Any:
        raise err

    with pytest.raises(KeyError) as info:
        RunnableLambda(boom).invoke(1, {"callbacks": [rec]})
    assert info.value is err


def test_chat_model_start_falls_back_to_llm_start() -> None:
    prompts: list[Any] = []

    class OnlyLLMStart(BaseCallbackHandler):
        def on_llm_start(self, serialized: Any, p: list[str], **kwargs: Any) -> None:
            prompts.append(p)

    FakeListChatModel(responses=["x"]).invoke("hello", {"callbacks": [OnlyLLMStart()]})
    assert prompts == [["Human: hello"]]


def test_ignore_flags_skip_callbacks() -> None:
    seen: list[str] = []

    class NoChains(BaseCallbackHandler):
        @property
        def ignore_chain(self) -> bool:
            return True

        def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
            seen.append("chain")

        def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
            seen.append("model")

    (RunnableLambda(lambda x: x) | FakeListChatModel(responses=["x"])).invoke(
        "q", {"callbacks": [NoChains()]}
    )
    assert seen == ["model"]


def test_global_handler_sees_every_run_once(rec: Any) -> None:
    add_global_handler(rec)
    add_global_handler(rec)  # adding twice is a no-op
    try:
        RunnableLambda(lambda x: x).invoke(1)
        RunnableLambda(lambda x: x).invoke(2, {"callbacks": [rec]})  # also per call: deduplicated
    finally:
        remove_global_handler(rec)
    RunnableLambda(lambda x: x).invoke(3)
    assert rec.names() == ["chain_start", "chain_end", "chain_start", "chain_end"]


def test_model_metadata_and_invocation_params(rec: Any) -> None:
    model = FakeStreamingChatModel(chunks=["a"], model="m-1")
    list(model.stream("hi", {"callbacks": [rec], "metadata": {"user": "u"}}, temperature=0.2))
    _, kwargs = rec.of("chat_model_start")[0]
    meta = kwargs["metadata"]
    assert (
        meta["ls_provider"] == "fake" and meta["ls_model_name"] == "m-1" and meta["ls_model_type"] == "chat"
    )
    assert meta["user"] == "u" and meta["ls_temperature"] == 0.2
    params = kwargs["invocation_params"]
    assert params["model"] == "m-1" and params["stream"] is True and params["temperature"] == 0.2


def test_every_chunk_reaches_on_llm_new_token_including_empty(rec: Any) -> None:
    model = FakeStreamingChatModel(
        chunks=["", "hi"],
        tool_calls=[{"name": "f", "args": {"a": 1}}],
        usage={"input_tokens": 3, "output_tokens": 4},
    )
    chunks = list(model.stream("q", {"callbacks": [rec]}))
    tokens = rec.of("new_token")
    assert len(tokens) == len(chunks) == 5
    assert [t for t, _ in tokens] == ["", "hi", "", "", ""]
    assert tokens[2][1]["chunk"].message.tool_call_chunks[0]["name"] == "f"
    assert tokens[-1][1]["chunk"].message.usage_metadata == {
        "input_tokens": 3,
        "output_tokens": 4,
        "total_tokens": 7,
    }


def test_custom_events_go_to_the_enclosing_run(rec: Any) -> None:
    def step(x: int) -> int:
        dispatch_custom_event("progress", {"pct": 50})
        return x

    RunnableLambda(step).invoke(1, {"callbacks": [rec]})
    ((payload, kwargs),) = rec.of("custom_event")
    assert payload == ("progress", {"pct": 50})
    assert kwargs["run_id"] == rec.of("chain_start")[0][1]["run_id"]
    with pytest.raises(RuntimeError, match="inside a run"):
        dispatch_custom_event("x", 1)

    async def astep(x: int) -> int:
        await adispatch_custom_event("progress", {"pct": 99})
        return x

    asyncio.run(RunnableLambda(astep).ainvoke(1, {"callbacks": [rec]}))
    assert rec.of("custom_event")[-1][0] == ("progress", {"pct": 99})


class AsyncRecorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.events: list[str] = []

    async def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        await asyncio.sleep(0)
        self.events.append("chain_start")

    async def on_chain_end(self, outputs: Any, **kwargs: Any) -> None:
        self.events.append(f"chain_end:{kwargs['reason']}")


def test_async_handler_works_on_both_paths() -> None:
    handler = AsyncRecorder()
    RunnableLambda(lambda x: x).invoke(1, {"callbacks": [handler]})
    asyncio.run(RunnableLambda(lambda x: x).ainvoke(1, {"callbacks": [handler]}))

    async def sync_inside_loop() -> None:
        RunnableLambda(lambda x: x).invoke(1, {"callbacks": [handler]})

    asyncio.run(sync_inside_loop())
    assert handler.events == ["chain_start", "chain_end:completed"] * 3


def test_streaming_stdout_handler_prints_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    chat = FakeListChatModel(
        responses=["hello"], streaming=True, callbacks=[StreamingStdOutCallbackHandler()]
    )
    chat.invoke("hi")  # streaming=True: invoke streams internally, so tokens reach the handler
    assert capsys.readouterr().out == "hello"


def test_plain_invoke_without_streaming_sends_no_tokens(rec: Any) -> None:
    FakeListChatModel(responses=["hello"]).invoke("hi", {"callbacks": [rec]})
    assert "new_token" not in rec.names()
    assert rec.of("llm_end")[0][0].generations[0][0].message.content == "hello"


def test_async_iterator_handler_is_bounded_and_handles_two_runs() -> None:
    async def run() -> tuple[list[str], int]:
        handler = AsyncIteratorCallbackHandler(maxsize=2)
        a = FakeListChatModel(responses=["aaaa"], callbacks=[handler], streaming=True)
        b = FakeListChatModel(responses=["bbbb"], callbacks=[handler], streaming=True)
        gathered = asyncio.gather(a.agenerate([["x"]]), b.agenerate([["y"]]))
        await asyncio.sleep(0.01)
        peak = handler.queue.qsize()  # producers are blocked on the bounded queue, not buffering
        tokens = [t async for t in handler.aiter()]
        await gathered
        return tokens, peak

    tokens, peak = asyncio.run(run())
    assert sorted(tokens) == sorted("aaaabbbb")  # both runs fully delivered, iterator ended after both
    assert peak <= 2


def test_async_iterator_handler_backpressure_slows_producer() -> None:
    produced: list[float] = []

    class Tap(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            produced.append(asyncio.get_event_loop().time())

    async def run() -> list[float]:
        handler = AsyncIteratorCallbackHandler(maxsize=1)
        model = FakeListChatModel(responses=["abcdef"], callbacks=[handler, Tap()], streaming=True)
        task = asyncio.create_task(model.agenerate([["x"]]))
        consumed = []
        async for _ in handler.aiter():
            consumed.append(asyncio.get_event_loop().time())
            await asyncio.sleep(0.01)
        await task
        return consumed

    consumed = asyncio.run(run())
    assert len(consumed) == 6
    # the producer can never be more than queue size + 1 tokens ahead of the consumer
    assert all(produced[i + 2] >= consumed[i] for i in range(len(produced) - 2))


def test_config_is_a_plain_dict() -> None:
    config: RunnableConfig = {"tags": ["a"], "metadata": {}, "run_id": UUID(int=1)}
    assert RunnableLambda(lambda x: x).invoke(1, config) == 1
    assert config["run_id"] == UUID(int=1)  # the caller's dict is not mutated
