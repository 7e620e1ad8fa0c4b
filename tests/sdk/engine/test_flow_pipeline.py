"""Flow stages as runnables: ``prompt | model | flow.<stage> | parser``, sync and async, with callbacks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from streamscope.engine import (
    ChatPromptTemplate,
    FakeListChatModel,
    FakeStreamingChatModel,
    Runnable,
    StrOutputParser,
    flow,
)

TEXT = "the quick brown fox jumps over the lazy dog"
prompt = ChatPromptTemplate.from_messages([("human", "{q}")])

STAGES: dict[str, Any] = {
    "rechunk": lambda: flow.rechunk(chunk_size=5),
    "rechunk-window": lambda: flow.rechunk(window=0.5, chunk_size=9),
    "buffer": lambda: flow.buffer(maxsize=4),
    "rate_limit": lambda: flow.rate_limit(1e6, burst=100),
    "timeout": lambda: flow.timeout(per_chunk=5, total=30),
    "detect_stalls": lambda: flow.detect_stalls(1.0),
    "guard": lambda: flow.guard(),
}


def chain_with(stage: Runnable[Any, Any]) -> Runnable[Any, Any]:
    return prompt | FakeListChatModel(responses=[TEXT]) | stage | StrOutputParser()


def test_rechunk_in_a_pipeline_sync_and_async() -> None:
    chain = chain_with(flow.rechunk(chunk_size=10))
    expected = [TEXT[i : i + 10] for i in range(0, len(TEXT), 10)]
    assert list(chain.stream({"q": "hi"})) == expected

    async def main() -> list[str]:
        return [c async for c in chain.astream({"q": "hi"})]

    assert asyncio.run(main()) == expected
    assert chain.invoke({"q": "hi"}) == TEXT


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_stage_streams_in_a_pipeline(name: str) -> None:
    chain = chain_with(STAGES[name]())
    sync_out = list(chain.stream({"q": "hi"}))
    assert "".join(sync_out) == TEXT and len(sync_out) > 1

    async def main() -> list[str]:
        return [c async for c in chain.astream({"q": "hi"})]

    assert "".join(asyncio.run(main())) == TEXT
    assert chain.invoke({"q": "hi"}) == TEXT


def test_stage_is_one_chain_run_that_ends_once(rec: Any) -> None:
    chain = chain_with(flow.rechunk(chunk_size=10))
    assert "".join(chain.stream({"q": "hi"}, config={"callbacks": [rec]})) == TEXT
    stage_runs = [k["run_id"] for _, k in rec.of("chain_start") if k.get("name") == "rechunk"]
    assert len(stage_runs) == 1
    assert rec.ends()[stage_runs[0]] == ["chain_end:completed"]
    assert all(len(v) == 1 for v in rec.ends().values())


def test_abandoning_a_pipeline_closes_the_model(rec: Any) -> None:
    chain = chain_with(flow.rechunk(chunk_size=4))
    stream = chain.stream({"q": "hi"}, config={"callbacks": [rec]})
    assert next(stream) == TEXT[:4]
    stream.close()  # type: ignore[attr-defined]
    ends = rec.ends()
    assert all(len(v) == 1 for v in ends.values())
    assert any(e[0].startswith("llm_end:abandoned") for e in ends.values())
    assert sum(len(p) for p, _ in rec.of("new_token")) < len(TEXT)  # upstream was not drained


def test_timeout_stage_covers_time_to_first_chunk_and_keeps_partial() -> None:
    slow_first = prompt | FakeStreamingChatModel(chunks=["a", "b"], ttft=5.0) | flow.timeout(per_chunk=0.05)

    async def first() -> None:
        with pytest.raises(flow.StreamTimeoutError) as info:
            async for _ in slow_first.astream({"q": "hi"}):
                pass
        assert info.value.chunks == []

    asyncio.run(asyncio.wait_for(first(), 5))

    stalled = FakeStreamingChatModel(chunks=["x", "y", "z"], gap=2.0)
    chain = prompt | stalled | flow.timeout(per_chunk=0.1) | StrOutputParser()

    async def partial() -> None:
        got = []
        with pytest.raises(flow.StreamTimeoutError) as info:
            async for c in chain.astream({"q": "hi"}):
                got.append(c)
        assert info.value.scope == "chunk"
        assert "".join(got) == "".join(str(getattr(c, "content", c)) for c in info.value.chunks)

    asyncio.run(asyncio.wait_for(partial(), 5))


def test_timeout_in_a_pipeline_ends_every_run_once(rec: Any) -> None:
    chain = (
        prompt
        | FakeStreamingChatModel(chunks=["x", "y"], gap=2.0)
        | flow.timeout(per_chunk=0.05)
        | StrOutputParser()
    )

    async def main() -> None:
        with pytest.raises(flow.StreamTimeoutError):
            async for _ in chain.astream({"q": "hi"}, config={"callbacks": [rec]}):
                pass

    asyncio.run(asyncio.wait_for(main(), 5))
    by_name = {rec.name_of(run): ends for run, ends in rec.ends().items()}
    assert by_name["RunnableSequence"] == ["chain_error:timeout"]
    assert by_name["timeout"] == ["chain_error:timeout"]
    # the model was interrupted by the timeout's cancellation (message flow.TIMEOUT_CANCEL_MESSAGE): a timeout,
    # not a cancellation, so traces show the stream's outcome as "timeout"
    assert by_name["FakeStreamingChatModel"] == ["llm_error:timeout"]
    assert all(len(v) == 1 for v in by_name.values())


def test_sync_timeout_in_a_pipeline_ends_the_model_with_timeout(rec: Any) -> None:
    """The sync timeout closes the model from its producer thread; the model's run says why: timeout."""
    chain = (
        prompt
        | FakeStreamingChatModel(chunks=["x", "y"], gap=0.5)
        | flow.timeout(per_chunk=0.05)
        | StrOutputParser()
    )
    with pytest.raises(flow.StreamTimeoutError):
        for _ in chain.stream({"q": "hi"}, config={"callbacks": [rec]}):
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the model is closed once its pending chunk arrives (producer thread)
        if any(rec.name_of(run) == "FakeStreamingChatModel" and ends for run, ends in rec.ends().items()):
            break
        time.sleep(0.02)
    by_name = {rec.name_of(run): ends for run, ends in rec.ends().items()}
    assert by_name["RunnableSequence"] == ["chain_error:timeout"]
    assert by_name["FakeStreamingChatModel"] == ["llm_end:timeout"]


def test_a_stream_closed_by_the_consumer_stays_abandoned_behind_a_sync_timeout(rec: Any) -> None:
    chain = (
        prompt
        | FakeStreamingChatModel(chunks=["x", "y", "z"], gap=0.01)
        | flow.timeout(per_chunk=5)
        | StrOutputParser()
    )
    stream = chain.stream({"q": "hi"}, config={"callbacks": [rec]})
    assert next(stream) == "x"
    stream.close()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(rec.name_of(run) == "FakeStreamingChatModel" and ends for run, ends in rec.ends().items()):
            break
        time.sleep(0.02)
    by_name = {rec.name_of(run): ends for run, ends in rec.ends().items()}
    assert by_name["FakeStreamingChatModel"] == ["llm_end:abandoned"]


def test_guard_stage_reports_the_ending_through_on_end() -> None:
    ends: list[flow.StreamEnd] = []
    chain = chain_with(flow.guard(on_end=ends.append))
    stream = chain.stream({"q": "hi"})
    got = [next(stream) for _ in range(3)]
    stream.close()  # type: ignore[attr-defined]
    assert len(ends) == 1 and ends[0].reason == "abandoned"
    assert "".join(got) == ends[0].output.content


def test_stall_stage_in_an_async_pipeline_reports_without_aborting() -> None:
    stalls: list[flow.Stall] = []
    model = FakeStreamingChatModel(chunks=["a", "b", "c"], gap=0.06)
    chain = prompt | model | flow.detect_stalls(0.03, on_stall=stalls.append) | StrOutputParser()

    async def main() -> str:
        return "".join([c async for c in chain.astream({"q": "hi"})])

    assert asyncio.run(main()) == "abc"
    assert len(stalls) >= 2 and all(s.gap >= 0.03 for s in stalls)


def test_concurrent_pipelines_with_gather() -> None:
    def build(text: str) -> Runnable[Any, Any]:
        model = FakeListChatModel(responses=[text])
        return (
            prompt
            | model
            | flow.buffer(maxsize=2)
            | flow.rechunk(chunk_size=3)
            | flow.guard()
            | StrOutputParser()
        )

    texts = [f"stream-{i}-" * 5 for i in range(6)]

    async def run(chain: Runnable[Any, Any]) -> str:
        return "".join([c async for c in chain.astream({"q": "hi"})])

    async def main() -> list[str]:
        return await asyncio.gather(*(run(build(t)) for t in texts))

    assert asyncio.run(main()) == texts
