"""``RunnableWithMessageHistory`` and the chat message histories, as langchain-core 1.8.3 has them."""

from __future__ import annotations

import asyncio

import pytest

from streamscope.engine import (
    AIMessage,
    ChatPromptTemplate,
    FakeListChatModel,
    InMemoryChatMessageHistory,
    MessagesPlaceholder,
    RunnableLambda,
    RunnableWithMessageHistory,
)


def test_history_goes_into_the_prompt_under_its_key_and_grows() -> None:
    store: dict[str, InMemoryChatMessageHistory] = {}
    prompt = ChatPromptTemplate.from_messages(
        [("system", "sys"), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    count = RunnableLambda(lambda value: AIMessage(f"{len(value.to_messages())} msgs"))
    chain = RunnableWithMessageHistory(
        prompt | count,
        lambda sid: store.setdefault(sid, InMemoryChatMessageHistory()),
        input_messages_key="question",
        history_messages_key="history",
    )
    session = {"configurable": {"session_id": "a"}}
    assert chain.invoke({"question": "hi"}, session).content == "2 msgs"
    assert chain.invoke({"question": "again"}, session).content == "4 msgs"
    assert [(m.type, m.content) for m in store["a"].messages] == [
        ("human", "hi"),
        ("ai", "2 msgs"),
        ("human", "again"),
        ("ai", "4 msgs"),
    ]


def test_a_streamed_answer_is_recorded_as_its_folded_chunk() -> None:
    store: dict[str, InMemoryChatMessageHistory] = {}
    chat = RunnableWithMessageHistory(
        FakeListChatModel(responses=["one", "two", "three"]),
        lambda sid: store.setdefault(sid, InMemoryChatMessageHistory()),
    )
    session = {"configurable": {"session_id": "b"}}
    assert [c.content for c in chat.stream("q1", session)] == ["o", "n", "e"]
    assert chat.invoke("q2", session).content == "two"
    assert asyncio.run(chat.ainvoke("q3", session)).content == "three"
    assert [(type(m).__name__, m.content) for m in store["b"].messages] == [
        ("HumanMessage", "q1"),
        ("AIMessageChunk", "one"),
        ("HumanMessage", "q2"),
        ("AIMessage", "two"),
        ("HumanMessage", "q3"),
        ("AIMessage", "three"),
    ]


def test_a_call_without_a_session_id_is_refused() -> None:
    chat = RunnableWithMessageHistory(
        FakeListChatModel(responses=["x"]), lambda sid: InMemoryChatMessageHistory()
    )
    with pytest.raises(ValueError, match=r"Missing keys \['session_id'\] in config\['configurable'\]"):
        chat.invoke("x")
