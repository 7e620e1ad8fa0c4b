"""Scenarios run twice, on streamscope.engine and on langchain-core, by ``test_differential.py``.

    python scenarios.py streamscope|langchain

Prints one JSON object: scenario name -> a normalised record (event streams, callback sequences, outputs).
Only names both libraries export are used; ids, timings and object identities are normalised away.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any


def load(impl: str) -> SimpleNamespace:
    if impl == "streamscope":
        import streamscope.engine as engine

        return SimpleNamespace(**{name: getattr(engine, name) for name in engine.__all__})
    from langchain_core import (
        callbacks,
        chat_history,
        documents,
        messages,
        output_parsers,
        outputs,
        prompts,
        retrievers,
        runnables,
        tools,
    )
    from langchain_core.language_models import (
        LLM,
        BaseChatModel,
        FakeListLLM,
        FakeStreamingListLLM,
        fake_chat_models,
    )
    from langchain_core.messages import tool as message_tool
    from langchain_core.output_parsers import openai_tools
    from langchain_core.runnables.history import RunnableWithMessageHistory
    from langchain_core.utils.json import parse_partial_json

    names: dict[str, Any] = {
        "BaseChatModel": BaseChatModel,
        "parse_partial_json": parse_partial_json,
        "LLM": LLM,
        "FakeListLLM": FakeListLLM,
        "FakeStreamingListLLM": FakeStreamingListLLM,
        "RunnableWithMessageHistory": RunnableWithMessageHistory,
    }
    for module in (
        callbacks,
        messages,
        output_parsers,
        outputs,
        prompts,
        runnables,
        tools,
        fake_chat_models,
        openai_tools,
        message_tool,
        documents,
        retrievers,
        chat_history,
    ):
        names.update({n: getattr(module, n) for n in dir(module) if not n.startswith("_")})
    return SimpleNamespace(**names)


def norm(value: Any) -> Any:
    """JSON-able, with messages as (type, content, extras) and ids dropped."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): norm(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    if hasattr(value, "content") and hasattr(value, "type"):
        out: dict[str, Any] = {"class": type(value).__name__, "content": norm(value.content)}
        for field in ("usage_metadata", "chunk_position"):
            if getattr(value, field, None):
                out[field] = norm(getattr(value, field))
        calls = getattr(value, "tool_calls", None)
        if calls:
            out["tool_calls"] = [{"name": c["name"], "args": norm(c["args"])} for c in calls]
        return out
    if hasattr(value, "to_messages"):
        return {"prompt": norm(value.to_messages())}
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    return {"object": type(value).__name__}


def collect(aiter: AsyncIterator[Any]) -> list[Any]:
    async def run() -> list[Any]:
        return [item async for item in aiter]

    return asyncio.run(run())


def events(runnable: Any, value: Any, config: Any = None, **kwargs: Any) -> list[Any]:
    return [
        [e["event"], e["name"], sorted(e["tags"]), norm(e["data"])]
        for e in collect(runnable.astream_events(value, config, version="v2", **kwargs))
    ]


def make_recorder(E: SimpleNamespace) -> Any:
    class Recorder(E.BaseCallbackHandler):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self.seen: list[Any] = []

        def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
            self.seen.append(["chain_start", kw.get("name"), sorted(kw.get("tags") or []), norm(inputs)])

        def on_chain_end(self, outputs: Any, **kw: Any) -> None:
            # (not ``inputs=``: the engine sends it on every chain end, LangChain only for streamed runs)
            self.seen.append(["chain_end", norm(outputs)])

        def on_chain_error(self, error: BaseException, **kw: Any) -> None:
            self.seen.append(["chain_error", norm(error)])

        def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
            meta = kw.get("metadata") or {}
            self.seen.append(
                [
                    "chat_model_start",
                    sorted(kw.get("tags") or []),
                    meta.get("ls_provider"),
                    meta.get("ls_model_type"),
                ]
            )

        def on_llm_new_token(self, token: str, **kw: Any) -> None:
            self.seen.append(["token", token])

        def on_llm_error(self, error: BaseException, **kw: Any) -> None:
            self.seen.append(["llm_error", norm(error)])

        def on_llm_end(self, response: Any, **kw: Any) -> None:
            generation = response.generations[0][0]
            self.seen.append(["llm_end", type(generation).__name__, norm(generation.message)])

    return Recorder()


# -- the scenarios ------------------------------------------------------------------------------------------
def custom_models(E: SimpleNamespace) -> tuple[Any, Any]:
    class MyChat(E.BaseChatModel):  # type: ignore[misc, name-defined]
        @property
        def _llm_type(self) -> str:
            return "my"

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
            return E.ChatResult(generations=[E.ChatGeneration(message=E.AIMessage(content="hey"))])

        def _stream(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> Iterator[Any]:
            for text in ("a", "b"):
                yield E.ChatGenerationChunk(message=E.AIMessageChunk(content=text))

    class AsyncOnly(E.BaseChatModel):  # type: ignore[misc, name-defined]
        @property
        def _llm_type(self) -> str:
            return "async-only"

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
            raise NotImplementedError("no _generate")

        async def _astream(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> AsyncIterator[Any]:
            for text in ("a", "b"):
                yield E.ChatGenerationChunk(message=E.AIMessageChunk(content=text))

    return MyChat(), AsyncOnly()


def scenario_models(E: SimpleNamespace) -> dict[str, Any]:
    my, async_only = custom_models(E)
    rec = make_recorder(E)
    message = my.invoke("hi", {"callbacks": [rec]})
    streamed = [norm(c) for c in my.stream("hi", {"callbacks": [rec]})]
    return {
        "invoke": [norm(message), message.id.startswith("lc_run--") and message.id.endswith("-0")],
        "stream": streamed,
        "callbacks": rec.seen,
        "async_only": norm(collect(async_only.astream("hi"))),
        "events": events(my, "hi"),
        "events_invoked": events(E.RunnableLambda(lambda x: my.invoke(x)), "hi"),
        "fake_list": norm(list(E.FakeListChatModel(responses=["ab"]).stream("x"))),
    }


def scenario_folds(E: SimpleNamespace) -> dict[str, Any]:
    usage_a = {
        "input_tokens": 5,
        "output_tokens": 0,
        "total_tokens": 5,
        "input_token_details": {"cache_read": 3},
    }
    usage_b = {
        "input_tokens": 0,
        "output_tokens": 10,
        "total_tokens": 10,
        "output_token_details": {"reasoning": 4},
        "input_token_details": {"cache_read": 1},
    }
    summed = E.AIMessageChunk(content="", usage_metadata=usage_a) + E.AIMessageChunk(
        content="", usage_metadata=usage_b
    )
    try:
        bad = {"input_tokens": 1, "output_tokens": 0, "total_tokens": 1, "x": 1.5}
        _ = E.AIMessageChunk(content="", usage_metadata=usage_a) + E.AIMessageChunk(
            content="", usage_metadata=bad
        )
        malformed = "no error"
    except ValueError:
        malformed = "ValueError"
    contents = [
        [
            [{"type": "thinking", "thinking": "hm", "index": 0}],
            [{"type": "thinking", "thinking": "m", "index": 0}],
            "Hel",
            "lo",
            "!",
        ],
        [[{"type": "text", "text": "x"}], "a", "b"],
        [["q"], "a", "b"],
        [[], "a"],
        ["Hel", [{"type": "text", "text": "x", "index": 1}], [{"type": "text", "text": "y", "index": 1}]],
    ]
    merged = []
    for parts in contents:
        acc = E.AIMessageChunk(content=parts[0])
        for part in parts[1:]:
            acc = acc + E.AIMessageChunk(content=part)
        merged.append(norm(acc.content))
    return {"usage": norm(summed.usage_metadata), "malformed": malformed, "contents": merged}


def scenario_json(E: SimpleNamespace) -> dict[str, Any]:
    partial = {}
    for text in [
        '{"foo": 1.',
        '{"a": 1} and some prose',
        '{"a": [1, 2',
        '{"a": tru',
        '[1, 2, {"x":',
        '{"a": 1}}}',
        "hello",
        '{"a": 1, "b": nul',
        '{"a": "x\\',
        '{"a":',
        '{"k": "\\u00e',
    ]:
        try:
            partial[text] = norm(E.parse_partial_json(text))
        except ValueError:
            partial[text] = "ValueError"
    answer = 'Here is the answer:\n```json\n{"name": "x", "items": [1, 2]}\n```\nDone.'
    chunks = [answer[i : i + 3] for i in range(0, len(answer), 3)]
    return {
        "partial": partial,
        "streamed": norm(list(E.JsonOutputParser().transform(iter(chunks)))),
        "whole": norm(E.JsonOutputParser().invoke(answer)),
    }


def scenario_roots(E: SimpleNamespace) -> dict[str, Any]:
    @E.tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    return {
        "tool": events(add, {"a": 1, "b": 2}),
        "prompt": events(E.ChatPromptTemplate.from_messages([("human", "{x}")]), {"x": "hi"}),
        "parser": events(E.StrOutputParser(), "abc"),
        "json_parser": events(E.JsonOutputParser(), '{"a": 1}'),
    }


def scenario_chains(E: SimpleNamespace) -> dict[str, Any]:
    prompt = E.ChatPromptTemplate.from_messages([("system", "be brief"), ("human", "{q}")])
    chain = prompt | E.FakeListChatModel(responses=["hi!"]) | E.StrOutputParser()
    rec = make_recorder(E)
    streamed = list(chain.stream({"q": "x"}, {"callbacks": [rec]}))
    lambdas = E.RunnableLambda(lambda x: x + 1) | E.RunnableLambda(lambda x: x * 2)
    inner = E.RunnableLambda(lambda x: x * 3)
    outer = E.RunnableLambda(lambda x: list(inner.stream(x)))
    return {
        "streamed": streamed,
        "callbacks": rec.seen,
        "events": events(chain, {"q": "x"}),
        "lambda_events": events(lambdas, 1),
        "nested_stream": events(outer, 2),
        "parallel": events(E.RunnableParallel(a=E.RunnableLambda(lambda x: x + 1)), 1),
    }


def scenario_async(E: SimpleNamespace) -> dict[str, Any]:
    _, async_only = custom_models(E)
    prompt = E.ChatPromptTemplate.from_messages([("human", "{q}")])
    chain = prompt | E.FakeListChatModel(responses=["yo"]) | E.StrOutputParser()
    rec, rec_model = make_recorder(E), make_recorder(E)
    streamed = collect(chain.astream({"q": "x"}, {"callbacks": [rec]}))
    model_chunks = collect(async_only.astream("hi", {"callbacks": [rec_model]}))
    batched = asyncio.run(
        (E.RunnableLambda(lambda x: x + 1) | E.RunnableLambda(lambda x: x * 2)).abatch([1, 2])
    )
    return {
        "chain": [streamed, rec.seen],
        "async_only": [norm(model_chunks), rec_model.seen],
        "abatch": batched,
        "events": events(async_only | E.StrOutputParser(), "hi"),
    }


def scenario_errors(E: SimpleNamespace) -> dict[str, Any]:
    prompt = E.ChatPromptTemplate.from_messages([("human", "{q}")])
    out: dict[str, Any] = {}
    for name, kwargs in (("stream", {}), ("invoke", {})):
        rec = make_recorder(E)
        chain = prompt | E.FakeListChatModel(responses=["abc"], error_on_chunk_number=1) | E.StrOutputParser()
        got: list[Any] = []
        try:
            if name == "stream":
                for chunk in chain.stream({"q": "x"}, {"callbacks": [rec]}, **kwargs):
                    got.append(chunk)
            else:
                got.append(chain.invoke({"q": "x"}, {"callbacks": [rec]}, **kwargs))
        except Exception as exc:
            got.append(type(exc).__name__)
        out[name] = [got, rec.seen]
    return out


def scenario_retry(E: SimpleNamespace) -> dict[str, Any]:
    def flaky(x: int) -> int:
        return x * 2

    chain = E.RunnableLambda(lambda x: x + 1) | E.RunnableLambda(flaky).with_retry(
        stop_after_attempt=3, wait_exponential_jitter=False
    )
    rec_stream, rec_invoke = make_recorder(E), make_recorder(E)
    return {
        "stream": [list(chain.stream(1, {"callbacks": [rec_stream]})), rec_stream.seen],
        "invoke": [chain.invoke(1, {"callbacks": [rec_invoke]}), rec_invoke.seen],
        "events": events(chain, 1),
    }


def scenario_runnables(E: SimpleNamespace) -> dict[str, Any]:
    def keywords(x: int, **kw: Any) -> Any:
        return [x, sorted(kw)]

    def again(x: int) -> Any:
        return E.RunnableLambda(again)

    try:
        E.RunnableLambda(again).invoke(1, {"recursion_limit": 5})
        recursion = "none"
    except RecursionError as exc:
        recursion = str(exc)

    class Keys(E.Runnable):  # type: ignore[misc, name-defined]
        def invoke(self, input: Any, config: Any = None, **kw: Any) -> Any:
            return sorted(config or {})

    seen: list[Any] = []
    return {
        "bind": E.RunnableLambda(keywords).bind(a=1).invoke(1),
        "call_kw": E.RunnableLambda(keywords).invoke(1, b=2),
        "passthrough": [
            E.RunnablePassthrough(lambda x, **kw: seen.append(sorted(kw))).bind(a=1).invoke(5),
            seen,
        ],
        "recursion": recursion.replace("RunnableLambda(again)", "RunnableLambda(...)"),
        "config_keys": Keys().with_config(tags=["x"]).invoke(1),
        "map": E.RunnableLambda(lambda x: x + 1).map().invoke([1, 2, 3]),
        "branch": [
            E.RunnableBranch(
                (lambda x: x > 10, lambda x: "big"), (lambda x: x > 5, lambda x: "mid"), lambda x: "small"
            ).invoke(v)
            for v in (1, 7, 20)
        ],
    }


def scenario_log_and_ids(E: SimpleNamespace) -> dict[str, Any]:
    chain = E.RunnableParallel(a=E.FakeListChatModel(responses=["xyz"]) | E.StrOutputParser())
    patches = [
        [op for op in p.ops if op["path"].startswith("/final_output")]
        for p in collect(chain.astream_log("q", include_names=["nothing"]))
    ]
    rid = uuid.uuid4()
    inner = E.RunnableLambda(lambda x: x * 3)
    dup = E.RunnableLambda(lambda x: [inner.invoke(x, {"run_id": rid}), inner.invoke(x, {"run_id": rid})])
    return {"log": norm(patches), "reused_run_id": [e[:2] for e in events(dup, 2)]}


def scenario_batches(E: SimpleNamespace) -> dict[str, Any]:
    class Counting(E.Runnable):  # type: ignore[misc, name-defined]
        def __init__(self, tag: str, fail_on: tuple[str, ...] = ()) -> None:
            self.tag, self.fail_on, self.calls, self.batches = tag, set(fail_on), 0, 0

        def invoke(self, input: Any, config: Any = None, **kw: Any) -> Any:
            self.calls += 1
            if input in self.fail_on:
                raise ValueError(f"{self.tag} fails {input}")
            return f"{self.tag}:{input}"

        def batch(
            self, inputs: Any, config: Any = None, *, return_exceptions: bool = False, **kw: Any
        ) -> Any:
            self.batches += 1
            return super().batch(inputs, config, return_exceptions=return_exceptions, **kw)

    def second(s: str) -> str:
        return s.split(":")[1]

    a, b = Counting("a", ("1",)), Counting("b", ("2",))
    seq = [norm(r) for r in (a | E.RunnableLambda(second) | b).batch(["1", "2", "3"], return_exceptions=True)]
    primary, fallback = Counting("p", ("1",)), Counting("f", ("1",))
    try:
        primary.with_fallbacks([fallback]).batch(["1", "2"])
        fallback_error = "none"
    except ValueError as exc:
        fallback_error = str(exc)
    step = Counting("r", ("1",))
    retried = step.with_retry(stop_after_attempt=3, wait_exponential_jitter=False).batch(
        ["1", "2"], return_exceptions=True
    )
    return {
        "sequence": [seq, a.batches, b.batches, b.calls],
        "fallbacks": [fallback_error, primary.batches, fallback.batches],
        "retry": [norm(retried), step.calls, step.batches],
    }


def scenario_tool_parsers(E: SimpleNamespace) -> dict[str, Any]:
    args = '{"a": 1, "b": 22}'
    chunks = [
        E.AIMessageChunk(
            content="", tool_call_chunks=[E.tool_call_chunk(name="add", args="", id="c1", index=0)]
        )
    ]
    chunks += [
        E.AIMessageChunk(content="", tool_call_chunks=[E.tool_call_chunk(args=args[i : i + 4], index=0)])
        for i in range(0, len(args), 4)
    ]
    return {
        "tools": norm(list(E.JsonOutputToolsParser().transform(iter(chunks)))),
        "key": norm(
            list(E.JsonOutputKeyToolsParser(key_name="add", first_tool_only=True).transform(iter(chunks)))
        ),
    }


def scenario_list_parsers(E: SimpleNamespace) -> dict[str, Any]:
    out = {}
    for parser, text in (
        (E.CommaSeparatedListOutputParser(), 'foo, bar, "baz, qux", end'),
        (E.NumberedListOutputParser(), "1. foo\n2. bar baz\n3. last"),
        (E.MarkdownListOutputParser(), "- foo\n- bar\n* baz"),
    ):
        model = E.FakeListChatModel(responses=[text])
        out[type(parser).__name__] = [
            parser.invoke(text),
            list((model | parser).stream("x")),
            events(model | parser, "x"),
        ]
    return out


def scenario_text_llms_and_retrievers(E: SimpleNamespace) -> dict[str, Any]:
    class Upper(E.LLM):  # type: ignore[misc, name-defined]
        @property
        def _llm_type(self) -> str:
            return "upper"

        def _call(self, prompt: str, stop: Any = None, run_manager: Any = None, **kw: Any) -> str:
            return prompt.upper()

    class KeywordRetriever(E.BaseRetriever):  # type: ignore[misc, name-defined]
        def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Any]:
            return [E.Document(page_content=f"about {query}")]

    chain = (
        E.PromptTemplate.from_template("say {x}")
        | E.FakeStreamingListLLM(responses=["ab"])
        | E.StrOutputParser()
    )
    rag = KeywordRetriever() | E.RunnableLambda(lambda docs: [d.page_content for d in docs])
    return {
        "upper": Upper().invoke("hey"),
        "chain": [list(chain.stream({"x": 1})), events(chain, {"x": 1})],
        "fake_list": [E.FakeListLLM(responses=["x", "y"]).batch(["a", "b"])],
        "rag": [rag.invoke("cats"), [e[:3] for e in events(rag, "cats")]],
    }


def scenario_wrappers(E: SimpleNamespace) -> dict[str, Any]:
    seen: list[Any] = []
    listened = E.RunnableLambda(lambda x: x + 1).with_listeners(
        on_end=lambda run: seen.append([run.name, run.inputs, run.outputs])
    )
    configured = E.FakeListChatModel(responses=["a"]).configurable_fields(
        responses=E.ConfigurableField(id="r")
    )
    alternatives = configured.configurable_alternatives(
        E.ConfigurableField(id="llm"), default_key="base", other=E.FakeListChatModel(responses=["other"])
    )
    store: dict[str, Any] = {}
    chat = E.RunnableWithMessageHistory(
        E.FakeListChatModel(responses=["one", "two"]),
        lambda sid: store.setdefault(sid, E.InMemoryChatMessageHistory()),
    )
    session = {"configurable": {"session_id": "s"}}
    streamed = [c.content for c in chat.stream("q1", session)]
    chat.invoke("q2", session)
    xml = "<movies><movie><title>Alien</title><year>1979</year></movie></movies>"
    return {
        "listeners": [listened.invoke(1), list(listened.stream(2)), seen],
        "configurable": [
            configured.invoke("x", {"configurable": {"r": ["b"]}}).content,
            alternatives.invoke("x", {"configurable": {"llm": "other"}}).content,
            events(configured | E.StrOutputParser(), "x", config={"configurable": {"r": ["cd"]}}),
        ],
        "history": [streamed, norm(store["s"].messages)],
        "xml": [
            E.XMLOutputParser(parser="xml").invoke(xml),
            list((E.FakeListChatModel(responses=[xml]) | E.XMLOutputParser(parser="xml")).stream("x")),
        ],
    }


def scenario_fakes_and_usage(E: SimpleNamespace) -> dict[str, Any]:
    usage = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    answer = E.AIMessage(
        content="hello big world", response_metadata={"model_name": "m1"}, usage_metadata=usage
    )
    handler = E.UsageMetadataCallbackHandler()
    model = E.GenericFakeChatModel(messages=iter([answer, answer]))
    streamed = norm(list(model.stream("x")))
    model.invoke("y", {"callbacks": [handler]})
    return {
        "generic": streamed,
        "usage": norm(handler.usage_metadata),
        "parrot": norm(E.ParrotFakeChatModel().invoke([("human", "a"), ("ai", "b")])),
    }


SCENARIOS = {name[len("scenario_") :]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main() -> None:
    E = load(sys.argv[1])
    out = {}
    for name, scenario in SCENARIOS.items():
        try:
            out[name] = scenario(E)
        except Exception as exc:  # a scenario that crashes is a difference too
            out[name] = {"crashed": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(out, sort_keys=True, default=repr))


if __name__ == "__main__":
    main()
