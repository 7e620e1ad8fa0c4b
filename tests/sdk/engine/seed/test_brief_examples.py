"""Every example of the brief (``shared/seed/streaming-in-langchain.md``) against ``streamscope.engine``.

Each test keeps the example's code as written; only the imports change, and ``ChatOpenAI`` is a fake chat
model (``FakeListChatModel``) standing in for the networked one.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import Any

import pytest

from streamscope.engine import (
    AIMessageChunk,
    AsyncIteratorCallbackHandler,
    BaseCallbackHandler,
    ChatPromptTemplate,
    FakeListChatModel,
    FakeStreamingChatModel,
    HumanMessage,
    RunLogPatch,
    RunnableSequence,
    StreamingStdOutCallbackHandler,
    StrOutputParser,
)

STORY = "Once upon a time, a stream began."


def ChatOpenAI(**kwargs: Any) -> FakeListChatModel:  # stands in for the networked class
    return FakeListChatModel(responses=[STORY], **kwargs)


def test_streaming_fundamentals(capsys: pytest.CaptureFixture[str]) -> None:
    # Initialize streaming chat model
    chat = ChatOpenAI(streaming=True, callbacks=[StreamingStdOutCallbackHandler()])
    chat.invoke("Tell me a story")
    assert capsys.readouterr().out == STORY


def test_implementation_methods(capsys: pytest.CaptureFixture[str]) -> None:
    chat = ChatOpenAI(streaming=True, callbacks=[StreamingStdOutCallbackHandler()])

    # Synchronous streaming
    for chunk in chat.stream("Tell me a story"):
        print(chunk.content, end="")

    # Asynchronous streaming
    async def main() -> None:
        async for chunk in chat.astream("Tell me a story"):
            print(chunk.content, end="")

    asyncio.run(main())
    # the handler prints each token and so does the loop: each story appears twice, interleaved per token
    assert capsys.readouterr().out == "".join(c + c for c in STORY) * 2


def test_runnable_streaming(capsys: pytest.CaptureFixture[str]) -> None:
    prompt_template = ChatPromptTemplate.from_template("Tell me about {topic}")
    chat = ChatOpenAI(streaming=True)
    output_parser = StrOutputParser()

    # Create streaming sequence
    sequence = RunnableSequence([prompt_template, chat, output_parser])

    # Stream the sequence
    for chunk in sequence.stream({"topic": "AI"}):
        print(chunk)

    assert capsys.readouterr().out == "".join(f"{c}\n" for c in STORY)


def test_agent_streaming(capsys: pytest.CaptureFixture[str]) -> None:
    from streamscope.engine import AgentExecutor, PromptTemplate, create_react_agent
    from streamscope.engine.tools import tool

    @tool
    def search(query: str) -> str:
        """Search the web."""
        return f"{query} is a framework for building LLM applications."

    tools = [search]
    llm = FakeListChatModel(
        responses=[
            "Thought: I should search.\nAction: search\nAction Input: LangChain",
            "Thought: I know now.\nFinal Answer: LangChain is a framework for LLM apps.",
        ]
    )
    prompt = PromptTemplate.from_template(
        "Tools:\n{tools}\nUse one of [{tool_names}].\nQuestion: {input}\n{agent_scratchpad}"
    )
    agent = create_react_agent(llm, tools, prompt)

    # Create streaming agent
    agent_executor = AgentExecutor(agent=agent, tools=tools, verbose=True, return_intermediate_steps=True)

    # Stream agent execution
    steps = []
    for step in agent_executor.stream("Find information about LangChain"):
        print(f"Step: {step}")
        steps.append(step)

    assert [next(k for k in ("actions", "steps", "output") if k in s) for s in steps] == [
        "actions",
        "steps",
        "output",
    ]
    assert steps[-1]["output"] == "LangChain is a framework for LLM apps."
    assert capsys.readouterr().out.count("Step: ") == 3


def test_synchronous_streaming_custom_handler(capsys: pytest.CaptureFixture[str]) -> None:
    class CustomStreamHandler(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs):  # type: ignore[no-untyped-def]
            """Process streaming tokens."""
            print(f"Token: {token}")

    # Use custom handler
    chat = ChatOpenAI(callbacks=[CustomStreamHandler()], streaming=True)
    chat.invoke("Tell me a story")
    assert capsys.readouterr().out == "".join(f"Token: {c}\n" for c in STORY)


def test_asynchronous_streaming_concurrently() -> None:
    chat = ChatOpenAI(streaming=True)
    log: list[tuple[str, str]] = []

    async def process_chunk(chunk: AIMessageChunk) -> None:
        task = asyncio.current_task()
        assert task is not None
        log.append((task.get_name(), str(chunk.content)))
        await asyncio.sleep(0)

    async def process_stream():  # type: ignore[no-untyped-def]
        async for chunk in chat.astream("Generate a response"):
            await process_chunk(chunk)

    # Run multiple streams concurrently
    async def main():  # type: ignore[no-untyped-def]
        await asyncio.gather(process_stream(), process_stream())

    asyncio.run(main())
    names = list(dict.fromkeys(name for name, _ in log))
    assert len(names) == 2
    for name in names:
        assert "".join(text for n, text in log if n == name) == STORY
    assert [n for n, _ in log[:4]] == [names[0], names[1], names[0], names[1]]  # the streams interleave


def test_stream_configuration() -> None:
    from typing import AsyncIterator  # noqa: UP035  (verbatim from the brief)

    class StreamConfig:
        def __init__(self, chunk_size: int = 100):
            self.chunk_size = chunk_size

    async def stream_with_config(text: str, config: StreamConfig) -> AsyncIterator[str]:
        for i in range(0, len(text), config.chunk_size):
            yield text[i : i + config.chunk_size]

    async def run() -> list[str]:
        # the generator plugs straight into a streaming step
        parsed = StrOutputParser().atransform(stream_with_config(STORY, StreamConfig(chunk_size=8)))
        return [c async for c in parsed]

    chunks = asyncio.run(run())
    assert chunks == [STORY[i : i + 8] for i in range(0, len(STORY), 8)]


def test_performance_buffering_with_async_iterator_handler() -> None:
    async def stream_with_buffering(query: str, buffer_size: int = 5):  # type: ignore[no-untyped-def]
        callback = AsyncIteratorCallbackHandler()
        model = ChatOpenAI(callbacks=[callback], streaming=True)

        task = asyncio.create_task(model.agenerate([query]))  # noqa: F841, RUF006  (verbatim)
        buffer = []

        async for token in callback.aiter():
            buffer.append(token)
            if len(buffer) >= buffer_size:
                yield "".join(buffer)
                buffer = []

    async def run() -> list[str]:
        return [piece async for piece in stream_with_buffering("Tell me a story")]

    pieces = asyncio.run(run())
    assert all(len(p) == 5 for p in pieces)
    # the example drops the last partial buffer; everything before it arrives in order
    assert "".join(pieces) == STORY[: len(STORY) - len(STORY) % 5]


def test_error_handling(capsys: pytest.CaptureFixture[str]) -> None:
    @contextmanager
    def handle_stream_errors():  # type: ignore[no-untyped-def]
        try:
            yield
        except ConnectionError:
            print("Stream connection lost")
        except Exception as e:
            print(f"Stream error: {str(e)}")  # noqa: RUF010  (verbatim)

    dropping = FakeStreamingChatModel(chunks=["a", "b", "c"], error_at=2, error=ConnectionError("reset"))
    received = []
    with handle_stream_errors():
        for chunk in dropping.stream("Tell me a story"):
            received.append(chunk.content)
    with handle_stream_errors():
        for _ in FakeStreamingChatModel(chunks=["x"], error_at=0).stream("hi"):
            pass
    assert received == ["a", "b"]  # chunks before the interruption were delivered
    assert capsys.readouterr().out == "Stream connection lost\nStream error: scripted error at chunk 0\n"


def test_real_time_interactive_chat_with_astream_log() -> None:
    updates: list[Any] = []

    async def update_ui(chunk: Any) -> None:
        updates.append(chunk)

    async def interactive_chat():  # type: ignore[no-untyped-def]
        chat = ChatOpenAI(streaming=True)
        message = HumanMessage(content="Write a story")
        async for chunk in chat.astream_log([message]):
            # Update UI in real-time
            await update_ui(chunk)

    asyncio.run(interactive_chat())
    assert all(isinstance(u, RunLogPatch) for u in updates)
    state = updates[0]
    for u in updates[1:]:
        state = state + u
    assert state.state["final_output"].content == STORY
    assert len(state.state["streamed_output"]) == len(STORY)


def test_stream_processor_integration() -> None:
    class StreamProcessor:
        def __init__(self, handlers=None):  # type: ignore[no-untyped-def]
            self.handlers = handlers or []

        async def process_stream(self, stream):  # type: ignore[no-untyped-def]
            async for chunk in stream:
                # Process chunk through handlers
                for handler in self.handlers:
                    chunk = await handler.process(chunk)
                yield chunk

    class Upper:
        async def process(self, chunk: Any) -> Any:
            return chunk.upper()

    async def run() -> list[str]:
        chain = ChatOpenAI(streaming=True) | StrOutputParser()
        processor = StreamProcessor([Upper()])
        return [c async for c in processor.process_stream(chain.astream("hi"))]

    assert asyncio.run(run()) == list(STORY.upper())


def test_custom_handler_token_counter(capsys: pytest.CaptureFixture[str]) -> None:
    class TokenCounter(BaseCallbackHandler):
        def __init__(self):  # type: ignore[no-untyped-def]
            self.token_count = 0

        def on_llm_new_token(self, token: str, **kwargs):  # type: ignore[no-untyped-def]
            self.token_count += 1
            if self.token_count % 100 == 0:
                print(f"Processed {self.token_count} tokens")

    counter = TokenCounter()
    chat = FakeListChatModel(responses=["x" * 250], callbacks=[counter], streaming=True)
    chat.invoke("go")
    assert counter.token_count == 250
    assert capsys.readouterr().out == "Processed 100 tokens\nProcessed 200 tokens\n"


def test_flow_control_rate_limited_stream() -> None:
    from asyncio import Queue

    class RateLimitedStream:
        def __init__(self, rate_limit: int):
            self.queue = Queue()  # type: ignore[var-annotated]
            self.rate_limit = rate_limit

        async def process(self, stream):  # type: ignore[no-untyped-def]
            async for chunk in stream:
                await self.queue.put(chunk)
                await asyncio.sleep(1 / self.rate_limit)

    async def run() -> list[str]:
        limited = RateLimitedStream(rate_limit=2000)
        await limited.process((ChatOpenAI(streaming=True) | StrOutputParser()).astream("hi"))
        return [limited.queue.get_nowait() for _ in range(limited.queue.qsize())]

    assert "".join(asyncio.run(run())) == STORY
