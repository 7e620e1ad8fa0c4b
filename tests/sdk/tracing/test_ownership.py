"""The offer an LLM run makes to its own client request: taken once, and only before the run's first chunk."""

from __future__ import annotations

import streamscope
from streamscope.engine import FakeStreamingChatModel
from streamscope.testing import capture_spans
from streamscope.tracing import ownership
from streamscope.tracing.streams import CONTENT, start_stream


def test_the_offer_is_taken_once_and_not_after_a_chunk_or_the_end() -> None:
    with capture_spans():
        rec = start_stream(model="m")
        ownership.offer(rec)
        assert ownership.take() is rec
        assert ownership.take() is None  # once
        other = start_stream(model="m")
        ownership.offer(other)
        other.chunk(CONTENT, "hi")
        assert ownership.take() is None  # the consumer's code runs only after a chunk
        late = start_stream(model="m")
        ownership.offer(late)
        late.end()
        assert ownership.take() is None
        other.end()
        rec.end()


def _takes_during(model: FakeStreamingChatModel) -> list[object]:
    return [ownership.take() for _ in model.stream("hi")]


def test_a_run_gives_up_its_offer_at_its_first_chunk_sampled_or_not() -> None:
    """Code in the consumer's loop body (a raw openai call of its own) never takes the model run's offer, even
    when the run is not sampled and records nothing."""
    model = FakeStreamingChatModel(chunks=["a", "b", "c"], model="m")
    with capture_spans() as spans:
        assert _takes_during(model) == [None, None, None]
    assert len(spans.llm_spans()) == 1
    tracing = streamscope.init("http://127.0.0.1:9/v1/traces", sample_rate=0.0, live_interval=0)
    try:
        assert _takes_during(model) == [None, None, None]
    finally:
        tracing.shutdown(timeout=0.5)
