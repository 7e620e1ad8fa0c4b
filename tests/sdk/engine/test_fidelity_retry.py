"""``with_retry`` pinned to langchain-core 1.8.3 where a user sees it (issue 20, items 6 and 10)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.sdk.engine.conftest import Recorder

from streamscope.engine import RunnableLambda


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
        stop_after_attempt=3, wait_exponential_jitter=False)


def starts(rec: Recorder) -> list[tuple[str, list[str]]]:
    return [(k["name"], k["tags"]) for _, k in rec.of("chain_start")]


def test_a_stream_through_retry_is_one_run_named_as_the_step(rec: Recorder) -> None:
    assert list(flaky_chain(0).stream(1, {"callbacks": [rec]})) == [4]
    assert starts(rec) == [("RunnableSequence", []), ("RunnableLambda", ["seq:step:1"]), ("flaky", ["seq:step:2"])]


def test_a_retried_stream_adds_tagged_runs_of_the_step(rec: Recorder) -> None:
    assert list(flaky_chain(2).stream(1, {"callbacks": [rec]})) == [4]
    assert starts(rec)[2:] == [("flaky", ["seq:step:2"]), ("flaky", ["seq:step:2", "retry:attempt:2"]),
                               ("flaky", ["seq:step:2", "retry:attempt:3"])]


def test_astream_events_through_retry_name_the_step() -> None:
    async def run() -> list[tuple[str, str, list[str]]]:
        return [(e["event"], e["name"], e["tags"]) async for e in flaky_chain(0).astream_events(1, version="v2")]

    assert [e for e in asyncio.run(run()) if e[0] == "on_chain_start"] == [
        ("on_chain_start", "RunnableSequence", []), ("on_chain_start", "RunnableLambda", ["seq:step:1"]),
        ("on_chain_start", "flaky", ["seq:step:2"])]


def test_invoke_through_retry_is_a_run_named_as_the_step_with_untagged_first_attempt(rec: Recorder) -> None:
    assert flaky_chain(1).invoke(1, {"callbacks": [rec]}) == 4
    assert starts(rec)[2:] == [("flaky", ["seq:step:2"]), ("flaky", []), ("flaky", ["retry:attempt:2"])]


def test_retry_takes_a_predicate() -> None:
    step = Flaky(1)
    assert RunnableLambda(step).with_retry(
        retry_if_exception_type=lambda e: "boom" in str(e), wait_exponential_jitter=False).invoke(1) == 2
    other = Flaky(1)
    with pytest.raises(ValueError, match="boom 1"):
        RunnableLambda(other).with_retry(retry_if_exception_type=lambda e: False).invoke(1)
    assert other.calls == 1
