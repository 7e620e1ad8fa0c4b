"""Streams in flight: the export thread sends chunk spans while a stream runs, every chunk span exactly once.

Everything is real: ``streamscope.init`` with its export thread and OTLP/HTTP exporter, a real OTLP receiver, the
engine's fake model and the real ``openai`` client against the fake LLM server. Nothing asserts on timing: tests
wait (with deadlines) for a condition, such as "the receiver holds the first chunks while the stream is open".
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from otlp_receiver import Receiver, attrs

import streamscope
from streamscope.tracing.config import ConfigError, resolve
from streamscope.tracing.streams import CONTENT, EMPTY, ROLE, StreamFacts, start_stream

LIVE_KEYS = ("streamscope.live.operation", "streamscope.live.provider", "streamscope.live.request_model")
DEADLINE = 20.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def wait_until(cond: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def chunks_of(receiver: Receiver, parent: bytes | None = None) -> list[Span]:
    return [
        s
        for s in list(receiver.spans)
        if s.name == "streamscope.chunk" and (parent is None or s.parent_span_id == parent)
    ]


def llm_spans(receiver: Receiver) -> list[Span]:
    return [s for s in list(receiver.spans) if s.name.startswith("chat ")]


def assert_exactly_once(chunks: list[Span], n: int) -> None:
    """Indexes 0..n-1 each once, unique span ids, gaps consistent with offsets across slices."""
    by_index = sorted(chunks, key=lambda s: attrs(s)["streamscope.chunk.index"])
    assert [attrs(s)["streamscope.chunk.index"] for s in by_index] == list(range(n))
    assert len({s.span_id for s in chunks}) == n
    assert "streamscope.chunk.gap" not in attrs(by_index[0])
    for prev, cur in itertools.pairwise(by_index):
        a, b = attrs(prev), attrs(cur)
        assert b["streamscope.chunk.gap"] == pytest.approx(
            b["streamscope.chunk.offset"] - a["streamscope.chunk.offset"], abs=1e-6
        )
        assert cur.start_time_unix_nano >= prev.start_time_unix_nano


@pytest.mark.parametrize("outcome", ["completed", "abandoned", "error", "cancelled", "timeout"])
def test_chunks_leave_while_the_stream_runs_and_the_rest_at_the_end(receiver: Receiver, outcome: str) -> None:
    tracing = streamscope.init(
        receiver.url, service_name="live-svc", instrument_engine=False, live_interval=0.05
    )
    try:
        rec = start_stream(model="m-live", provider="openai")
        rec.chunk(ROLE)
        for i in range(5):
            rec.chunk(CONTENT, f"w{i} ")
        wait_until(
            lambda: len(chunks_of(receiver)) == 6, "the first six chunk spans while the stream is open"
        )
        assert llm_spans(receiver) == []  # the stream's own span has not ended, yet its chunks are there
        early = chunks_of(receiver)
        first = min(early, key=lambda s: attrs(s)["streamscope.chunk.index"])
        a = attrs(first)
        assert a["streamscope.live.operation"] == "chat"
        assert a["streamscope.live.request_model"] == "m-live"
        assert a["streamscope.live.provider"] == "openai"
        assert all(not any(k in attrs(s) for k in LIVE_KEYS) for s in early if s is not first)

        for i in range(5, 9):
            rec.chunk(CONTENT, f"w{i} ")
        error = RuntimeError("mid-stream") if outcome == "error" else None
        rec.end(outcome, error)
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    (llm,) = llm_spans(receiver)
    chunks = chunks_of(receiver, llm.span_id)
    assert len(chunks) == len(chunks_of(receiver)) == 10
    assert_exactly_once(chunks, 10)
    la = attrs(llm)
    assert la["streamscope.stream.outcome"] == outcome
    assert la["streamscope.stream.chunk_count"] == 10
    assert la["streamscope.stream.chunk_spans_dropped"] == 0
    texts = [
        attrs(c).get("streamscope.chunk.content")
        for c in sorted(chunks, key=lambda s: attrs(s)["streamscope.chunk.index"])
    ]
    assert texts == ["", *[f"w{i} " for i in range(9)]]
    assert all(c.trace_id == llm.trace_id for c in chunks)
    assert tracing.dropped_spans == 0 and tracing.failed_spans == 0
    assert tracing.exported_spans == 11


def test_each_in_flight_slice_carries_the_signal_on_its_first_chunk(receiver: Receiver) -> None:
    tracing = streamscope.init(receiver.url, instrument_engine=False, live_interval=0.05)
    try:
        rec = start_stream(model="m", provider="p")
        for round_ in range(3):
            for i in range(3):
                rec.chunk(CONTENT, f"r{round_}c{i}")
            wait_until(lambda r=round_: len(chunks_of(receiver)) == 3 * (r + 1), f"slice {round_}")
        rec.end()
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    chunks = sorted(chunks_of(receiver), key=lambda s: attrs(s)["streamscope.chunk.index"])
    assert_exactly_once(chunks, 9)
    marked = [attrs(c)["streamscope.chunk.index"] for c in chunks if "streamscope.live.operation" in attrs(c)]
    assert marked == [0, 3, 6]


def test_live_interval_zero_exports_chunks_only_at_the_end(receiver: Receiver) -> None:
    tracing = streamscope.init(receiver.url, instrument_engine=False, live_interval=0)
    try:
        rec = start_stream(model="m")
        for i in range(4):
            rec.chunk(CONTENT, str(i))
        other = start_stream(model="other")  # a stream that ends, so that something is exported meanwhile
        other.chunk(CONTENT, "x")
        other.end()
        assert tracing.force_flush(10)
        wait_until(lambda: len(llm_spans(receiver)) == 1, "the other stream")
        assert len(chunks_of(receiver)) == 1  # only the ended stream's chunk
        rec.end()
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    assert len(chunks_of(receiver)) == 5
    assert all(not any(k in attrs(c) for k in LIVE_KEYS) for c in chunks_of(receiver))


def test_raw_chunks_are_classified_on_the_export_thread_and_facts_are_kept_once(receiver: Receiver) -> None:
    threads: set[str] = set()

    def classify(obj: dict[str, Any], facts: StreamFacts) -> tuple[int, str]:
        threads.add(threading.current_thread().name)
        if obj.get("finish"):
            facts.set_response(finish_reasons=[obj["finish"]])
        facts.set_response(response_id="resp-1", response_model="m-2024")
        return (CONTENT, obj["text"]) if obj.get("text") else (EMPTY, "")

    tracing = streamscope.init(receiver.url, instrument_engine=False, live_interval=0.05)
    try:
        rec = start_stream(model="m", classify=classify)
        rec.raw({"text": "a"})
        rec.raw({"text": "b"})
        wait_until(lambda: len(chunks_of(receiver)) == 2, "two classified chunks in flight")
        rec.raw({"text": ""})
        rec.raw({"finish": "stop"})
        rec.set_response(response_model="adapter-model")  # the adapter's report; classification still wins
        rec.end()
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    assert threads == {"streamscope-export"}
    (llm,) = llm_spans(receiver)
    a = attrs(llm)
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.response.id"] == "resp-1" and a["gen_ai.response.model"] == "m-2024"
    chunks = sorted(chunks_of(receiver), key=lambda s: attrs(s)["streamscope.chunk.index"])
    assert [attrs(c)["streamscope.chunk.kind"] for c in chunks] == ["content", "content", "empty", "empty"]
    assert_exactly_once(chunks, 4)


def test_end_on_the_consumer_thread_when_deferring_fails_still_sends_each_chunk_once(
    receiver: Receiver,
) -> None:
    # A queue of 20 spans cannot hold the deferred end of a 40-chunk stream, so the consumer's thread finishes
    # it under the recorder's lock; the 36 chunks sent while it ran are not sent again, the last 4 fit.
    tracing = streamscope.init(receiver.url, instrument_engine=False, live_interval=0.02, max_queue_size=20)
    try:
        rec = start_stream(model="m")
        for i in range(36):
            rec.chunk(CONTENT, str(i))
        wait_until(lambda: len(chunks_of(receiver)) == 36, "the in-flight chunks")
        for i in range(36, 40):
            rec.chunk(CONTENT, str(i))
        rec.end()
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    (llm,) = llm_spans(receiver)
    assert_exactly_once(chunks_of(receiver, llm.span_id), 40)
    assert attrs(llm)["streamscope.stream.chunk_spans_dropped"] == 0
    assert tracing.dropped_spans == 0


def test_many_concurrent_streams_racing_the_export_thread_lose_and_repeat_nothing(receiver: Receiver) -> None:
    tracing = streamscope.init(receiver.url, instrument_engine=False, live_interval=0.001)
    n_streams, n_chunks = 20, 300

    def one(k: int) -> None:
        rec = start_stream(model=f"m{k}")
        for i in range(n_chunks):
            rec.chunk(CONTENT, f"{k}:{i}")
            if i % 50 == 0:
                time.sleep(0.002)  # give the export thread a chance to slice mid-stream
        rec.end("abandoned" if k % 2 else "completed")

    try:
        workers = [threading.Thread(target=one, args=(k,)) for k in range(n_streams)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert tracing.force_flush(30)
    finally:
        tracing.shutdown()
    spans = llm_spans(receiver)
    assert len(spans) == n_streams
    for llm in spans:
        assert_exactly_once(chunks_of(receiver, llm.span_id), n_chunks)
    assert sum("streamscope.live.operation" in attrs(c) for c in chunks_of(receiver)) > 0
    assert tracing.dropped_spans == 0 and tracing.failed_spans == 0


def test_shutdown_mid_stream_sends_the_chunks_so_far(receiver: Receiver) -> None:
    tracing = streamscope.init(receiver.url, instrument_engine=False, live_interval=3600)
    rec = start_stream(model="m")
    for i in range(3):
        rec.chunk(CONTENT, str(i))
    tracing.shutdown()
    assert len(chunks_of(receiver)) == 3
    rec.chunk(CONTENT, "late")
    rec.end()  # after shutdown: counted as dropped, never raised
    assert_exactly_once(chunks_of(receiver), 3)


def test_engine_stream_shows_its_chunks_while_it_streams(receiver: Receiver) -> None:
    from streamscope.engine import FakeStreamingChatModel

    tracing = streamscope.init(receiver.url, service_name="engine-live", live_interval=0.05)
    try:
        model = FakeStreamingChatModel(chunks=["Hel", "lo", " wor", "ld"], model="fake-live")
        stream = model.stream("hi")
        got = [next(stream).content, next(stream).content]
        wait_until(lambda: len(chunks_of(receiver)) >= 2, "engine chunks in flight")
        early = chunks_of(receiver)
        assert llm_spans(receiver) == []
        assert (
            attrs(min(early, key=lambda s: attrs(s)["streamscope.chunk.index"]))[
                "streamscope.live.request_model"
            ]
            == "fake-live"
        )
        got.extend(c.content for c in stream)
        assert "".join(got) == "Hello world"
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    (llm,) = llm_spans(receiver)
    n = attrs(llm)["streamscope.stream.chunk_count"]
    assert_exactly_once(chunks_of(receiver, llm.span_id), n)
    contents = [
        attrs(c).get("streamscope.chunk.content")
        for c in sorted(chunks_of(receiver, llm.span_id), key=lambda s: attrs(s)["streamscope.chunk.index"])
    ]
    assert "".join(c or "" for c in contents) == "Hello world"
    assert attrs(llm)["streamscope.stream.outcome"] == "completed"


@pytest.mark.parametrize("how", ["complete", "break"])
def test_openai_stream_shows_its_chunks_while_it_streams(receiver: Receiver, how: str) -> None:
    import openai

    from streamscope.instrumentation import instrument_openai
    from streamscope.testing.fake_llm import FakeLLMServer

    words = [f" w{i}" for i in range(6)]
    with FakeLLMServer(
        {"live-model": {"words": words, "gap": 0.01, "usage": {"prompt_tokens": 3, "completion_tokens": 6}}}
    ) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0)
        instrument_openai(client)
        tracing = streamscope.init(receiver.url, instrument_engine=False, live_interval=0.05)
        try:
            stream = client.chat.completions.create(
                model="live-model",
                messages=[{"role": "user", "content": "x"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            it = iter(stream)
            seen = [next(it), next(it), next(it)]  # the role-only delta and two words
            wait_until(lambda: len(chunks_of(receiver)) >= 3, "openai chunks in flight")
            assert llm_spans(receiver) == []
            if how == "break":
                stream.close()
            else:
                seen.extend(it)
            assert tracing.force_flush(10)
        finally:
            tracing.shutdown()
            client.close()
    (llm,) = llm_spans(receiver)
    a = attrs(llm)
    assert a["streamscope.stream.outcome"] == ("completed" if how == "complete" else "abandoned")
    assert_exactly_once(chunks_of(receiver, llm.span_id), a["streamscope.stream.chunk_count"])
    kinds = [
        attrs(c)["streamscope.chunk.kind"]
        for c in sorted(chunks_of(receiver, llm.span_id), key=lambda s: attrs(s)["streamscope.chunk.index"])
    ]
    assert kinds[0] == "role" and kinds[1] == "content"
    if how == "complete":
        assert len(seen) == len(kinds)
        assert a["gen_ai.usage.output_tokens"] == 6 and a["streamscope.usage.source"] == "provider"
        assert a["gen_ai.response.finish_reasons"] == ("stop",)


def test_async_cancelled_engine_stream_sends_each_chunk_once(receiver: Receiver) -> None:
    from streamscope.engine import FakeStreamingChatModel

    tracing = streamscope.init(receiver.url, live_interval=0.05)
    model = FakeStreamingChatModel(chunks=[f"c{i}" for i in range(50)], gap=0.01, model="fake-cancel")

    async def consume(first: asyncio.Event) -> None:
        async for _ in model.astream("hi"):
            first.set()

    async def main() -> None:
        first = asyncio.Event()
        task = asyncio.create_task(consume(first))
        await first.wait()
        await asyncio.to_thread(wait_until, lambda: len(chunks_of(receiver)) >= 1, "async chunks in flight")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(main())
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    (llm,) = llm_spans(receiver)
    a = attrs(llm)
    assert a["streamscope.stream.outcome"] == "cancelled"
    assert_exactly_once(chunks_of(receiver, llm.span_id), a["streamscope.stream.chunk_count"])


def test_live_interval_setting() -> None:
    assert resolve(env={}).live_interval == 1.0
    assert resolve(env={"STREAMSCOPE_LIVE_INTERVAL": "0.25"}).live_interval == 0.25
    assert resolve(live_interval=0, env={"STREAMSCOPE_LIVE_INTERVAL": "5"}).live_interval == 0
    for bad in ("-1", "nan", "soon"):
        with pytest.raises(ConfigError, match=r"live_interval|STREAMSCOPE_LIVE_INTERVAL"):
            resolve(env={"STREAMSCOPE_LIVE_INTERVAL": bad})
