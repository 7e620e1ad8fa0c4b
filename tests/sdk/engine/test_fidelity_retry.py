"""``with_retry``, fallbacks and sequence batches pinned to langchain-core 1.8.3 (issue 20, items 6 and 10)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.sdk.engine.conftest import Recorder

from streamscope.engine import Runnable, RunnableConfig, RunnableLambda


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, x: int) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise ValueError(f"boom {self.calls}")
        return x * 2


def flaky_chain(failures: int) -> Any:
    def flaky(x: int) -> int:
        return step(x)

    step = Flaky(failures)
    return RunnableLambda(lambda x: x + 1) | RunnableLambda(flaky).with_retry(
        stop_after_attempt=3, wait_exponential_jitter=False
    )


def starts(rec: Recorder) -> list[tuple[str, list[str]]]:
    return [(k["name"], k["tags"]) for _, k in rec.of("chain_start")]


def test_a_stream_through_retry_is_one_run_named_as_the_step(rec: Recorder) -> None:
    assert list(flaky_chain(0).stream(1, {"callbacks": [rec]})) == [4]
    assert starts(rec) == [
        ("RunnableSequence", []),
        ("RunnableLambda", ["seq:step:1"]),
        ("flaky", ["seq:step:2"]),
    ]


def test_a_retried_stream_adds_tagged_runs_of_the_step(rec: Recorder) -> None:
    assert list(flaky_chain(2).stream(1, {"callbacks": [rec]})) == [4]
    assert starts(rec)[2:] == [
        ("flaky", ["seq:step:2"]),
        ("flaky", ["seq:step:2", "retry:attempt:2"]),
        ("flaky", ["seq:step:2", "retry:attempt:3"]),
    ]


def test_astream_events_through_retry_name_the_step() -> None:
    async def run() -> list[tuple[str, str, list[str]]]:
        return [
            (e["event"], e["name"], e["tags"]) async for e in flaky_chain(0).astream_events(1, version="v2")
        ]

    assert [e for e in asyncio.run(run()) if e[0] == "on_chain_start"] == [
        ("on_chain_start", "RunnableSequence", []),
        ("on_chain_start", "RunnableLambda", ["seq:step:1"]),
        ("on_chain_start", "flaky", ["seq:step:2"]),
    ]


def test_invoke_through_retry_is_a_run_named_as_the_step_with_untagged_first_attempt(rec: Recorder) -> None:
    assert flaky_chain(1).invoke(1, {"callbacks": [rec]}) == 4
    assert starts(rec)[2:] == [("flaky", ["seq:step:2"]), ("flaky", []), ("flaky", ["retry:attempt:2"])]


def test_retry_takes_a_predicate() -> None:
    step = Flaky(1)
    assert (
        RunnableLambda(step)
        .with_retry(retry_if_exception_type=lambda e: "boom" in str(e), wait_exponential_jitter=False)
        .invoke(1)
        == 2
    )
    other = Flaky(1)
    with pytest.raises(ValueError, match="boom 1"):
        RunnableLambda(other).with_retry(retry_if_exception_type=lambda e: False).invoke(1)
    assert other.calls == 1


class Counting(Runnable[Any, Any]):
    """Fails on chosen inputs; counts its calls and its own batch calls."""

    def __init__(self, tag: str, fail_on: tuple[str, ...] = ()) -> None:
        self.tag, self.fail_on = tag, set(fail_on)
        self.calls = self.batches = 0

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        self.calls += 1
        if input in self.fail_on:
            raise ValueError(f"{self.tag} fails {input}")
        return f"{self.tag}:{input}"

    def batch(
        self, inputs: Any, config: Any = None, *, return_exceptions: bool = False, **kwargs: Any
    ) -> list[Any]:
        self.batches += 1
        return super().batch(inputs, config, return_exceptions=return_exceptions, **kwargs)


def second(s: str) -> str:
    return s.split(":")[1]


def test_a_sequence_batch_calls_each_steps_batch_and_drops_failed_inputs() -> None:
    a, b = Counting("a"), Counting("b")
    assert (a | RunnableLambda(second) | b).batch(["1", "2"]) == ["b:1", "b:2"]
    assert (a.batches, b.batches) == (1, 1)
    a, b = Counting("a", ("1",)), Counting("b", ("2",))
    got = (a | RunnableLambda(second) | b).batch(["1", "2", "3"], return_exceptions=True)
    assert [str(r) for r in got] == ["a fails 1", "b fails 2", "b:3"]
    assert b.calls == 2  # the input that failed in a never reached b


def test_a_fallback_batch_raises_the_last_candidates_error() -> None:
    primary, fallback = Counting("p", ("1",)), Counting("f", ("1",))
    with pytest.raises(ValueError, match="f fails 1"):
        primary.with_fallbacks([fallback]).batch(["1", "2"])
    assert (primary.batches, fallback.batches) == (1, 1)
    primary, fallback = Counting("p", ("1",)), Counting("f")
    assert primary.with_fallbacks([fallback]).batch(["1", "2"]) == ["f:1", "p:2"]
    assert (primary.calls, fallback.calls) == (2, 1)


def test_a_retry_batch_retries_only_the_failed_inputs_with_the_steps_batch() -> None:
    step = Counting("r", ("1",))
    got = step.with_retry(stop_after_attempt=3, wait_exponential_jitter=False).batch(
        ["1", "2"], return_exceptions=True
    )
    assert [str(r) for r in got] == ["r fails 1", "r:2"]
    assert (step.calls, step.batches) == (4, 3)


def test_async_batches_match_the_sync_ones() -> None:
    a, b = Counting("a", ("1",)), Counting("b", ("2",))
    got = asyncio.run((a | RunnableLambda(second) | b).abatch(["1", "2", "3"], return_exceptions=True))
    assert [str(r) for r in got] == ["a fails 1", "b fails 2", "b:3"]
    primary, fallback = Counting("p", ("1",)), Counting("f", ("1",))
    got = asyncio.run(primary.with_fallbacks([fallback]).abatch(["1", "2"], return_exceptions=True))
    assert [str(r) for r in got] == ["f fails 1", "p:2"]
