"""APIs a streaming app uses, as langchain-core 1.8.3 has them (issue 20, "API that is missing")."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest
from tests.sdk.engine.conftest import Recorder

from streamscope.engine import (
    AIMessage,
    AIMessagePromptTemplate,
    BaseCallbackHandler,
    BaseChatModel,
    BaseOutputParser,
    BaseRetriever,
    ChatGeneration,
    ChatPromptTemplate,
    ChatResult,
    Document,
    FakeMessagesListChatModel,
    GenericFakeChatModel,
    HumanMessagePromptTemplate,
    JsonOutputParser,
    MessagesPlaceholder,
    ParrotFakeChatModel,
    Runnable,
    RunnableBranch,
    RunnableLambda,
    RunnableSequence,
    SystemMessagePromptTemplate,
    UsageMetadataCallbackHandler,
    chain,
    get_usage_metadata_callback,
)


def test_every_runnable_and_parser_class_can_be_subscripted() -> None:
    class Split(BaseOutputParser[list[str]]):
        def parse(self, text: str) -> list[str]:
            return text.split(",")

    assert Split().invoke("a,b") == ["a", "b"]
    assert RunnableLambda[int, int](lambda x: x + 1).invoke(1) == 2
    assert RunnableSequence[int, int] is not None and JsonOutputParser[dict[str, Any]] is not None
    assert Runnable[int, str].__origin__ is Runnable  # type: ignore[attr-defined]


def test_message_prompt_templates_and_placeholders_format_as_langchain() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [
            SystemMessagePromptTemplate.from_template("be {style}"),
            MessagesPlaceholder("history"),
            HumanMessagePromptTemplate.from_template("{q}"),
            AIMessagePromptTemplate.from_template("ok {q}"),
        ]
    )
    assert sorted(prompt.input_variables) == ["history", "q", "style"]
    value = prompt.invoke({"style": "brief", "history": [("human", "hi"), ("ai", "yo")], "q": "why"})
    assert [(m.type, m.content) for m in value.to_messages()] == [
        ("system", "be brief"),
        ("human", "hi"),
        ("ai", "yo"),
        ("human", "why"),
        ("ai", "ok why"),
    ]
    last = MessagesPlaceholder("h", n_messages=1).format_messages(h=[("human", "a"), ("ai", "b")])
    assert [m.content for m in last] == ["b"]


def test_chain_decorator_names_the_runnable_after_the_function() -> None:
    @chain
    def twice(x: int) -> int:
        return x * 2

    assert twice.invoke(2) == 4 and twice.get_name() == "twice"


def branch() -> RunnableBranch:
    return RunnableBranch(
        (lambda x: x > 10, lambda x: "big"), (lambda x: x > 5, lambda x: "mid"), lambda x: "small"
    )


def test_runnable_branch_tags_conditions_and_the_chosen_branch(rec: Recorder) -> None:
    assert branch().invoke(7, {"callbacks": [rec]}) == "mid"
    assert [(k["name"], k["tags"]) for _, k in rec.of("chain_start")] == [
        ("RunnableBranch", []),
        ("RunnableLambda", ["condition:1"]),
        ("RunnableLambda", ["condition:2"]),
        ("RunnableLambda", ["branch:2"]),
    ]


def test_runnable_branch_streams_and_runs_async(rec: Recorder) -> None:
    assert list(branch().stream(20, {"callbacks": [rec]})) == ["big"]
    assert [k["tags"] for _, k in rec.of("chain_start")] == [[], ["condition:1"], ["branch:1"]]
    assert asyncio.run(branch().ainvoke(1)) == "small"


USAGE = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3, "output_token_details": {"reasoning": 1}}


def answers() -> list[AIMessage]:
    return [
        AIMessage("hello big world", id="m1", response_metadata={"model_name": "m1"}, usage_metadata=USAGE),
        AIMessage("", additional_kwargs={"function_call": {"name": "f", "arguments": '{"a": 1, "b": 2}'}}),
    ]


def test_generic_fake_streams_words_and_whitespace_then_additional_kwargs(rec: Recorder) -> None:
    model = GenericFakeChatModel(messages=iter(answers()))
    chunks = list(model.stream("x", {"callbacks": [rec]}))
    assert [(c.content, c.chunk_position) for c in chunks] == [
        ("hello", None),
        (" ", None),
        ("big", None),
        (" ", None),
        ("world", "last"),
    ]
    assert [t for t, _ in rec.of("new_token")] == ["hello", " ", "big", " ", "world"]
    calls = [c.additional_kwargs for c in model.stream("x")]
    assert calls == [
        {"function_call": {"name": "f"}},
        {"function_call": {"arguments": '{"a": 1'}},
        {"function_call": {"arguments": ","}},
        {"function_call": {"arguments": ' "b": 2}'}},
        {},
    ]


def test_usage_metadata_callback_sums_usage_per_model_inside_its_block() -> None:
    with get_usage_metadata_callback() as cb:
        GenericFakeChatModel(messages=iter(answers())).invoke("x")
        asyncio.run(GenericFakeChatModel(messages=iter(answers())).ainvoke("y"))
    GenericFakeChatModel(messages=iter(answers())).invoke("outside")
    assert cb.usage_metadata == {
        "m1": {
            "input_tokens": 2,
            "output_tokens": 4,
            "total_tokens": 6,
            "output_token_details": {"reasoning": 2},
        }
    }
    handler = UsageMetadataCallbackHandler()
    GenericFakeChatModel(messages=iter(answers())).invoke("x", {"callbacks": [handler]})
    assert handler.usage_metadata == {"m1": USAGE}


def test_parrot_and_messages_list_fakes() -> None:
    assert ParrotFakeChatModel().invoke([("human", "a"), ("ai", "b")]).content == "b"
    model = FakeMessagesListChatModel(responses=[AIMessage("1"), AIMessage("2")])
    assert [model.invoke("x").content for _ in range(3)] == ["1", "2", "1"]
    assert [type(c) for c in model.stream("x")] == [AIMessage]


class KeywordRetriever(BaseRetriever):
    docs: ClassVar[list[Document]] = []

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return [d for d in self.docs if query in d.page_content]


def retriever() -> KeywordRetriever:
    return KeywordRetriever(docs=[Document("cats purr", {"s": 1}), Document("dogs bark")], tags=["kb"])


def test_a_retriever_is_a_retriever_run_with_langchains_metadata() -> None:
    seen: list[Any] = []

    class Handler(BaseCallbackHandler):
        def on_retriever_start(self, serialized: Any, query: str, **kw: Any) -> None:
            seen.append(("start", query, kw["name"], kw["tags"], kw["metadata"]["ls_retriever_name"]))

        def on_retriever_end(self, documents: Any, **kw: Any) -> None:
            seen.append(("end", documents))

    chain = retriever() | RunnableLambda(len)
    assert chain.invoke("cats", {"callbacks": [Handler()]}) == 1
    assert seen == [
        ("start", "cats", "KeywordRetriever", ["seq:step:1", "kb"], "keyword"),
        ("end", [Document("cats purr", {"s": 1})]),
    ]
    assert asyncio.run(retriever().ainvoke("dogs")) == [Document("dogs bark")]


def test_retriever_events_in_a_chain() -> None:
    async def run() -> list[Any]:
        chain = retriever() | RunnableLambda(len)
        return [
            (e["event"], e["name"], e["data"])
            async for e in chain.astream_events("dogs", version="v2")
            if "retriever" in e["event"]
        ]

    assert asyncio.run(run()) == [
        ("on_retriever_start", "KeywordRetriever", {"input": {"query": "dogs"}}),
        (
            "on_retriever_end",
            "KeywordRetriever",
            {"output": [Document("dogs bark")], "input": {"query": "dogs"}},
        ),
    ]


def test_a_custom_chat_model_takes_its_declared_fields_as_keywords(rec: Recorder) -> None:
    class EchoChat(BaseChatModel):
        model_name: str = "echo-1"  # type: ignore[assignment]
        temperature: float = 0.0
        prefix: str = ">"

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            return ChatResult([ChatGeneration(AIMessage(self.prefix + messages[-1].content))])

    model = EchoChat(prefix="#", temperature=0.5)
    assert model.invoke("hi", {"callbacks": [rec]}).content == "#hi"
    meta = rec.of("chat_model_start")[0][1]["metadata"]
    assert (meta["ls_provider"], meta["ls_model_name"], meta["ls_temperature"]) == ("echo", "echo-1", 0.5)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        EchoChat(nope=1)
