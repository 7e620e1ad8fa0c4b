"""with_retry and with_fallbacks: invoke retries freely; streams switch only before the first chunk."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamscope.engine import (
    FakeStreamingChatModel,
    RetryState,
    RunnableLambda,
    StrOutputParser,
)

FAST = {"initial": 0.001, "max": 0.002, "jitter": 0.0}


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, x: int) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"attempt {self.calls}")
        return x * 2


def test_retry_invoke_until_success(rec: Any) -> None:
    flaky = Flaky(2)
    retried = RunnableLambda(flaky).with_retry(stop_after_attempt=3, exponential_jitter_params=FAST)
    assert retried.invoke(2, {"callbacks": [rec]}) == 4
    assert flaky.calls == 3
    states = [p for p, _ in rec.of("retry")]
    assert [s.attempt_number for s in states] == [1, 2] and all(isinstance(s, RetryState) for s in states)
    tags = [k["tags"] for p, k in rec.of("chain_start")[1:]]
    assert tags == [
        [],
        ["retry:attempt:2"],
        ["retry:attempt:3"],
    ]  # as LangChain: the first attempt is untagged


def test_retry_gives_up_and_respects_exception_types() -> None:
    flaky = Flaky(5)
    with pytest.raises(ConnectionError, match="attempt 2"):
        RunnableLambda(flaky).with_retry(stop_after_attempt=2, wait_exponential_jitter=False).invoke(1)
    other = Flaky(1)
    with pytest.raises(ConnectionError):
        RunnableLambda(other).with_retry(retry_if_exception_type=(ValueError,)).invoke(1)
    assert other.calls == 1


def test_retry_async() -> None:
    flaky = Flaky(1)
    retried = RunnableLambda(flaky).with_retry(exponential_jitter_params=FAST)
    assert asyncio.run(retried.ainvoke(3)) == 6


def test_retry_stream_retries_before_first_chunk_only() -> None:
    failing_first = FakeStreamingChatModel(chunks=["a", "b"], error_at=0, error=ConnectionError("x"))
    retried = (failing_first | StrOutputParser()).with_retry(wait_exponential_jitter=False)
    with pytest.raises(ConnectionError):
        list(retried.stream("q"))  # always fails before the first chunk: 3 attempts, then the error

    class OnceBroken(FakeStreamingChatModel):
        calls = 0

        def _script(self) -> Any:
            OnceBroken.calls += 1
            self.error_at = 0 if OnceBroken.calls == 1 else None
            return super()._script()

    fixed = (OnceBroken(chunks=["a", "b"]) | StrOutputParser()).with_retry(wait_exponential_jitter=False)
    assert list(fixed.stream("q")) == ["a", "b"]

    late = (FakeStreamingChatModel(chunks=["a", "b"], error_at=1) | StrOutputParser()).with_retry(
        wait_exponential_jitter=False
    )
    got = []
    with pytest.raises(RuntimeError):
        for chunk in late.stream("q"):
            got.append(chunk)
    assert got == ["a"]  # no retry after output was yielded: no duplicated chunks

    async def run() -> list[str]:
        OnceBroken.calls = 0
        return [c async for c in fixed.astream("q")]

    assert asyncio.run(run()) == ["a", "b"]


def test_fallbacks_invoke_and_exception_key() -> None:
    def broken(x: Any) -> Any:
        raise ValueError("primary down")

    chain = RunnableLambda(broken).with_fallbacks([RunnableLambda(lambda x: f"fallback:{x}")])
    assert chain.invoke("q") == "fallback:q"
    assert asyncio.run(chain.ainvoke("q")) == "fallback:q"
    keyed = RunnableLambda(broken).with_fallbacks(
        [RunnableLambda(lambda d: type(d["error"]).__name__)], exception_key="error"
    )
    assert keyed.invoke({"q": 1}) == "ValueError"
    only_type = RunnableLambda(broken).with_fallbacks(
        [RunnableLambda(lambda x: x)], exceptions_to_handle=(KeyError,)
    )
    with pytest.raises(ValueError):
        only_type.invoke(1)


def test_fallbacks_stream_switch_only_before_first_chunk() -> None:
    primary = FakeStreamingChatModel(chunks=["p"], error_at=0) | StrOutputParser()
    backup = FakeStreamingChatModel(chunks=["b1", "b2"]) | StrOutputParser()
    assert list(primary.with_fallbacks([backup]).stream("q")) == ["b1", "b2"]

    late = FakeStreamingChatModel(chunks=["p1", "p2"], error_at=1) | StrOutputParser()
    got = []
    with pytest.raises(RuntimeError):
        for chunk in late.with_fallbacks([backup]).stream("q"):
            got.append(chunk)
    assert got == ["p1"]

    async def run() -> list[str]:
        return [c async for c in primary.with_fallbacks([backup]).astream("q")]

    assert asyncio.run(run()) == ["b1", "b2"]
