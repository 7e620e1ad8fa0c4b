"""One contract, every SpanStore implementation."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from chdb_engine import fresh_store
from factories import T0, llm_trace, span, span_id, stream, trace_id

from streamscope.collector import query
from streamscope.collector.aggregates import RELATIVE_ERROR, ROLLUPS, TIERS, AggState
from streamscope.collector.aggregates import build as build_aggregates
from streamscope.collector.model import (
    NS,
    OUTCOMES,
    Chunk,
    Cursor,
    Filters,
    IngestBatch,
    LiveStream,
    SpanEvent,
)
from streamscope.collector.store import SpanStore
from streamscope.collector.store.memory import MemoryStore
from streamscope.collector.store.sqlite import SQLiteStore
from streamscope.collector.store.writer import SQLiteProcessStore

STORES = ["memory", "sqlite", "sqlite-sealing", "sqlite-process", "clickhouse"]


def _open(kind: str, tmp_path: Path) -> SpanStore:
    s: SpanStore
    if kind == "clickhouse":  # the real ClickHouse engine, in process (chdb)
        s = fresh_store()
    elif kind == "memory":
        s = MemoryStore()
    elif kind == "sqlite-process":  # writes in a child process, reads here
        s = SQLiteProcessStore(str(tmp_path / "db.sqlite"))
    else:
        s = SQLiteStore(str(tmp_path / "db.sqlite"))
    if kind == "sqlite-sealing":
        # The test data starts at T0 (in the future): with the writer's clock 90 minutes after T0, the coarser
        # aggregate slots before it are sealed (materialised), later ones are merged from minute rows on read.
        s.clock = lambda: T0 + 90 * 60 * NS  # type: ignore[attr-defined]
    return s


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SpanStore]:
    s = _open(request.param, tmp_path)
    yield s
    s.close()


def test_is_a_spanstore(store: SpanStore) -> None:
    assert isinstance(store, SpanStore)


def test_roundtrip_trace_stream_chunks(store: SpanStore) -> None:
    b = llm_trace(4, session="sess-1")
    store.write(b)
    store.settle()
    tid = b.spans[0].trace_id
    (summary,) = store.traces(Filters(), 10)
    assert summary.trace_id == tid and summary.root_name == "handle request"
    assert summary.span_count == 2 and summary.stream_count == 1 and summary.session_id == "sess-1"
    assert sorted(s.span_id for s in store.trace_spans(tid)) == sorted(s.span_id for s in b.spans)
    assert (
        store.trace_spans(tid)[0].attributes
        == next(s for s in b.spans if s.span_id == store.trace_spans(tid)[0].span_id).attributes
    )
    assert store.stream(b.streams[0].span_id) == b.streams[0]
    assert store.chunks(b.streams[0].span_id) == list(b.chunks)
    assert store.counts() == {"spans": 2, "streams": 1, "chunks": 4, "traces": 1}


def test_duplicates_change_nothing(store: SpanStore) -> None:
    b = llm_trace(2)
    store.write(b)
    store.settle()
    before = (store.counts(), store.traces(Filters(), 10), store.chunks(b.streams[0].span_id))
    changed = IngestBatch(
        spans=tuple(
            s.__class__(**{**{f: getattr(s, f) for f in s.__slots__}, "name": "evil"}) for s in b.spans
        ),
        streams=tuple(
            st.__class__(**{**{f: getattr(st, f) for f in st.__slots__}, "model": "evil"}) for st in b.streams
        ),
        chunks=tuple(Chunk(c.span_id, c.index, 9.0, 9.0, "content", 99, None, "evil") for c in b.chunks),
    )
    store.write(changed)
    store.write(b)
    store.settle()
    assert (store.counts(), store.traces(Filters(), 10), store.chunks(b.streams[0].span_id)) == before
    assert store.stream(b.streams[0].span_id) == b.streams[0]


def test_a_partly_stored_batch_written_again_converges(store: SpanStore) -> None:
    """What a write that failed part-way may leave (any part of its rows), then the exporter's retry of the
    whole batch: the same state as one good write. Atomic stores never leave the part; every store converges."""
    whole = llm_trace(5, session="sess-c")
    part = IngestBatch(spans=whole.spans[1:], streams=whole.streams, chunks=whole.chunks[:2])
    store.write(part)
    store.write(whole)
    store.settle()
    tid, sid = whole.spans[0].trace_id, whole.streams[0].span_id
    assert store.counts() == {"spans": 2, "streams": 1, "chunks": 5, "traces": 1}
    (summary,) = store.traces(Filters(), 10)
    assert (summary.root_name, summary.span_count, summary.stream_count, summary.session_id) == (
        "handle request",
        2,
        1,
        "sess-c",
    )
    assert sorted(s.span_id for s in store.trace_spans(tid)) == sorted(s.span_id for s in whole.spans)
    assert store.chunks(sid) == list(whole.chunks)
    assert _all_aggregates(store) == _expected_aggregates(store)
    assert query.stats(store).to_dict()["total"]["count"] == 1


def test_children_arriving_later_update_the_summary(store: SpanStore) -> None:
    tid, root, child = trace_id(), span_id(), span_id()
    store.write(IngestBatch(spans=(span(tid, child, root, name="child", start=1.0, dur=1.0, status=2),)))
    store.settle()
    (t,) = store.traces(Filters(), 10)
    assert t.root_name == "child"  # orphan acts as root until its parent arrives
    store.write(IngestBatch(spans=(span(tid, root, None, name="root", start=0.0, dur=5.0),),
                            streams=(stream(tid, child, start=1.0),)))  # fmt: skip
    store.settle()
    (t,) = store.traces(Filters(), 10)
    assert (t.root_name, t.status, t.span_count, t.stream_count) == ("root", "error", 2, 1)
    assert (t.start_ns, t.end_ns) == (T0, T0 + 5 * NS)


def _fill(store: SpanStore) -> list[IngestBatch]:
    batches = [
        llm_trace(start=0, model="a", outcome="completed", ttft=0.1, service="svc1", session="s1"),
        llm_trace(start=10, model="b", outcome="error", ttft=0.9, service="svc1", status=2),
        llm_trace(
            start=20,
            model="a",
            outcome="abandoned",
            ttft=None,
            service="svc2",
            root_attrs={"http.route": "/Chat/Stream"},
        ),
        llm_trace(start=30, model="c", outcome="timeout", ttft=2.5, service="svc2", session="s1"),
    ]
    for b in batches:
        store.write(b)
    store.settle()
    return batches


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), [3, 2, 1, 0]),
        (Filters(service="svc1"), [1, 0]),
        (Filters(model="a"), [2, 0]),
        (Filters(outcome="error"), [1]),
        (Filters(status="error"), [1]),
        (Filters(min_ttft=0.5), [3, 1]),
        (Filters(session_id="s1"), [3, 0]),
        (Filters(since_ns=T0 + 10 * NS, until_ns=T0 + 30 * NS), [2, 1]),
        (Filters(search="chat/STREAM"), [2]),
        (Filters(search="chat b"), [1]),
        (Filters(min_duration=1.9, max_duration=2.1), [3, 2, 1, 0]),
        (Filters(max_duration=1.0), []),
        (Filters(search="%"), []),
    ],
)
def test_trace_filters(store: SpanStore, filters: Filters, expected: list[int]) -> None:
    batches = _fill(store)
    got = [t.trace_id for t in store.traces(filters, 100)]
    assert got == [batches[i].spans[0].trace_id for i in expected]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), [3, 2, 1, 0]),
        (Filters(model="a", service="svc2"), [2]),
        (Filters(outcome="timeout"), [3]),
        (Filters(status="error"), [1]),
        (Filters(min_ttft=0.5), [3, 1]),
        (Filters(session_id="s1"), [3, 0]),
        (Filters(min_duration=1.6), []),
        (Filters(search="chat c"), [3]),
        (Filters(since_ns=T0 + 15 * NS), [3, 2]),
    ],
)
def test_stream_filters(store: SpanStore, filters: Filters, expected: list[int]) -> None:
    batches = _fill(store)
    got = [st.span_id for st in store.streams(filters, 100)]
    assert got == [batches[i].streams[0].span_id for i in expected]


def test_cursor_pagination_visits_everything_once(store: SpanStore) -> None:
    for i in range(7):
        store.write(llm_trace(start=i // 2))  # pairs share a start time: the id breaks ties
    store.settle()
    seen, cursor = [], None
    while True:
        page = store.traces(Filters(), 3, cursor)
        if not page:
            break
        seen += [t.trace_id for t in page]
        cursor = Cursor(page[-1].start_ns, page[-1].trace_id)
    assert len(seen) == len(set(seen)) == 7
    streams = store.streams(Filters(), 2, None)
    nxt = store.streams(Filters(), 10, Cursor(streams[-1].start_ns, streams[-1].span_id))
    assert len(streams) + len(nxt) == 7


def test_retention_deletes_old_traces_only(store: SpanStore) -> None:
    old, new = llm_trace(start=0), llm_trace(start=100)
    store.write(old)
    store.write(new)
    store.settle()
    assert store.delete_before(T0 + 50 * NS) == 1
    assert [t.trace_id for t in store.traces(Filters(), 10)] == [new.spans[0].trace_id]
    assert store.chunks(old.streams[0].span_id) == []
    assert store.trace_spans(old.spans[0].trace_id) == []
    assert store.counts()["streams"] == 1


def test_concurrent_writes_and_reads(store: SpanStore) -> None:
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(20):
                store.write(llm_trace(2))
        except BaseException as e:
            errors.append(e)

    def reader() -> None:
        try:
            for _ in range(20):
                store.traces(Filters(), 5)
                store.streams(Filters(model="gpt-4o-mini"), 5)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=f) for f in (writer, writer, reader, reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store.settle()
    assert store.counts()["traces"] == 40


def test_unicode_and_huge_values_roundtrip(store: SpanStore) -> None:
    tid, sid = trace_id(), span_id()
    attrs = {"text": "héllo \u2603 <script>alert(1)</script> \x00", "big": "x" * 100_000, "n": 2**62, "f": 1.5,
             "list": [1, "a", True], "nested": {"k": [1, {"z": None}]}}  # fmt: skip
    store.write(IngestBatch(spans=(span(tid, sid, attrs=attrs),)))
    store.settle()
    (got,) = store.trace_spans(tid)
    assert dict(got.attributes) == attrs


# -- streams in flight ------------------------------------------------------------------------------------
def _in_flight(
    tid: str, sid: str, first: int, n: int, *, start: float = 0.0, model: str = "m-live", gap: float = 0.5
) -> IngestBatch:
    """What one in-flight slice of chunks ``first..n-1`` becomes: chunk rows plus the stream's live report."""
    chunks = tuple(Chunk(sid, i, 0.1 + gap * i, None if i == 0 else gap, "content", 2, None, f"c{i}")
                   for i in range(first, n))  # fmt: skip
    last = chunks[-1].offset
    start_ns = T0 + int(start * NS)
    live = LiveStream(
        tid, sid, "svc-live", model, "openai", "chat", start_ns, start_ns + int(last * NS), n, last
    )
    return IngestBatch(chunks=chunks, live=(live,))


def test_chunks_of_a_stream_in_flight_are_kept_and_it_is_listed_live(store: SpanStore) -> None:
    tid, sid = trace_id(), span_id()
    store.write(_in_flight(tid, sid, 0, 3))
    store.settle()
    assert [c.index for c in store.chunks(sid)] == [0, 1, 2]  # no stream row yet: the chunk rows are kept
    assert store.stream(sid) is None
    (lv,) = store.live(T0, 10)
    assert (lv.trace_id, lv.span_id, lv.service, lv.model, lv.provider) == (
        tid,
        sid,
        "svc-live",
        "m-live",
        "openai",
    )
    assert (lv.start_ns, lv.chunk_count, lv.last_offset) == (T0, 3, pytest.approx(1.1))
    assert lv.current_rate == pytest.approx(3 / 1.1)


def test_a_later_slice_updates_counts_and_rate_and_repeats_change_nothing(store: SpanStore) -> None:
    tid, sid = trace_id(), span_id()
    store.write(_in_flight(tid, sid, 0, 3))
    store.settle()
    later = _in_flight(tid, sid, 3, 7, model="other-model")
    store.write(later)
    store.settle()
    (lv,) = store.live(T0, 10)
    assert lv.model == "m-live"  # the first report's identity stays
    assert (lv.chunk_count, lv.last_offset, lv.prev_count, lv.prev_offset) == (
        7,
        pytest.approx(3.1),
        3,
        pytest.approx(1.1),
    )
    assert lv.current_rate == pytest.approx(4 / 2.0)
    assert lv.last_ns == T0 + int(3.1 * NS)
    store.write(later)  # an exporter retry
    store.write(_in_flight(tid, sid, 0, 3))  # an old slice
    store.settle()
    assert store.live(T0, 10) == [lv]
    assert [c.index for c in store.chunks(sid)] == list(range(7))


def test_the_stream_row_ends_the_live_entry_for_good(store: SpanStore) -> None:
    tid, sid, other = trace_id(), span_id(), span_id()
    store.write(_in_flight(tid, sid, 0, 3))
    store.write(_in_flight(tid, other, 0, 2, start=1.0))
    store.settle()
    assert [lv.span_id for lv in store.live(T0, 10)] == [other, sid]  # newest start first
    store.write(IngestBatch(spans=(span(tid, sid, name="chat m-live"),), streams=(stream(tid, sid, chunk_count=4),),
                            chunks=(Chunk(sid, 3, 1.6, 0.5, "content", 2),)))  # fmt: skip
    store.settle()
    assert [lv.span_id for lv in store.live(T0, 10)] == [other]
    store.write(_in_flight(tid, sid, 0, 3))  # a late in-flight report does not bring it back
    store.settle()
    assert [lv.span_id for lv in store.live(T0, 10)] == [other]
    assert [c.index for c in store.chunks(sid)] == [0, 1, 2, 3]
    # the stream, its last chunks and its final span in the same batch as a report: not live either
    tid2, sid2 = trace_id(), span_id()
    both = _in_flight(tid2, sid2, 0, 2)
    store.write(IngestBatch(streams=(stream(tid2, sid2),), chunks=both.chunks, live=both.live))
    store.settle()
    assert [lv.span_id for lv in store.live(T0, 10)] == [other]


def test_silent_streams_age_out_and_retention_drops_them(store: SpanStore) -> None:
    tid, stale, fresh = trace_id(), span_id(), span_id()
    store.write(_in_flight(tid, stale, 0, 2, start=0.0))  # last chunk at T0 + 0.6 s
    store.write(_in_flight(tid, fresh, 0, 2, start=100.0))  # last chunk at T0 + 100.6 s
    store.settle()
    assert [lv.span_id for lv in store.live(T0 + 50 * NS, 10)] == [fresh]
    assert [lv.span_id for lv in store.live(T0, 10)] == [fresh, stale]
    assert [lv.span_id for lv in store.live(T0, 1)] == [fresh]
    finished = llm_trace(2, start=10.0)
    store.write(finished)
    store.settle()
    store.delete_before(T0 + 50 * NS)
    assert [lv.span_id for lv in store.live(T0, 10)] == [fresh]
    assert store.chunks(stale) == []
    assert len(store.chunks(fresh)) == 2
    assert store.chunks(finished.streams[0].span_id) == []  # its trace was old too


# -- per-minute aggregates ---------------------------------------------------------------------------
def _random_streams(n: int, seed: int = 7) -> list[IngestBatch]:
    """Streams over ~3 hours with a few keys, missing values, zeros and duplicate start times."""
    rng = random.Random(seed)
    batches = []
    for i in range(n):
        model, provider = rng.choice([("gpt-4o-mini", "openai"), ("claude", "anthropic"), ("llama", "")])
        start = rng.uniform(-30, 3 * 3600) if i % 50 else 600.0  # some share a start exactly
        ttft = None if rng.random() < 0.1 else (0.0 if rng.random() < 0.05 else rng.lognormvariate(-1, 0.8))
        st = stream(trace_id(), span_id(), start=start, dur=rng.uniform(0.0, 30.0), model=model, provider=provider,
                    outcome=rng.choice(OUTCOMES), ttft=ttft, service=rng.choice(["svc1", "svc2"]),
                    operation=rng.choice(["chat", "text_completion"]),
                    time_to_first_chunk=None if ttft is None else ttft * 0.9,
                    chunk_count=rng.randrange(0, 400), gap_p95=rng.uniform(0.001, 0.5), gap_max=rng.uniform(0.01, 3),
                    stall_count=rng.randrange(0, 3), output_tokens=rng.randrange(0, 900),
                    input_tokens=None if rng.random() < 0.2 else rng.randrange(1, 5000),
                    output_tokens_per_second=None if rng.random() < 0.1 else rng.uniform(1, 300),
                    cost_usd=None if rng.random() < 0.3 else rng.uniform(0, 0.01))  # fmt: skip
        root = span(st.trace_id, span_id(), None, start=start - 0.01, dur=40.0, service=st.service)
        llm = span(st.trace_id, st.span_id, root.span_id, start=start, dur=1.0, service=st.service)
        batches.append(IngestBatch(spans=(root, llm), streams=(st,)))
    return batches


def _close(got: object, want: object, path: str = "") -> None:
    """Aggregate stats equal raw stats: counts and sums exactly (floats to rounding), percentiles within 1 %."""
    if isinstance(want, dict):
        assert isinstance(got, dict), path
        for k, v in want.items():
            _close(got[k], v, f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _close(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and isinstance(got, (int, float)):
        percentile = path.rsplit(".", 1)[-1] in ("p50", "p95", "p99")
        tol = RELATIVE_ERROR * abs(want) if percentile else 1e-9 * max(1.0, abs(want))
        assert abs(got - want) <= tol + 1e-12, f"{path}: {got} vs {want}"
    else:
        assert got == want, f"{path}: {got!r} vs {want!r}"


def _raw_stats(store: SpanStore, group_by: str, bucket: int, f: Filters) -> dict[str, object]:
    streams = store.streams(f, None)
    lo = f.since_ns if f.since_ns is not None else min((s.start_ns for s in streams), default=0)
    hi = f.until_ns if f.until_ns is not None else max((s.start_ns for s in streams), default=0) + bucket * NS
    return query.compute_stats(streams, group_by, bucket, (lo, hi)).to_dict()


_M = 60 * NS
AGG_CASES = [
    ("model", 60, Filters()),
    ("none", 3600, Filters()),
    ("service", 300, Filters(model="claude")),
    ("provider", 600, Filters(since_ns=T0 + 17 * _M + 12_345, until_ns=T0 + 150 * _M + 7)),  # unaligned edges
    ("outcome", 1800, Filters(service="svc2", provider="openai", since_ns=T0 - 10 * _M)),
    ("operation", 120, Filters(outcome="error", until_ns=T0 + 95 * _M + NS)),
    ("model", 7200, Filters(since_ns=T0 + 60 * _M, until_ns=T0 + 120 * _M)),  # aligned: aggregates only
    (
        "model",
        60,
        Filters(since_ns=T0 + 599 * NS + 1, until_ns=T0 + 601 * NS - 1),
    ),  # under a minute: raw only
]


@pytest.fixture(scope="module", params=STORES)
def random_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SpanStore]:
    """One store per kind holding ``_random_streams(400)``, written once for the read-only cases below."""
    s = _open(request.param, tmp_path_factory.mktemp("random"))
    for b in _random_streams(400):
        s.write(b)
    s.settle()
    yield s
    s.close()


@pytest.mark.parametrize(("group_by", "bucket", "filters"), AGG_CASES)
def test_stats_from_aggregates_equal_raw_within_histogram_error(
    random_store: SpanStore, group_by: str, bucket: int, filters: Filters
) -> None:
    store = random_store
    assert len(store.streams(Filters(), None)) == 400  # shared: no case may have changed it
    got = query.stats(store, group_by, bucket, filters).to_dict()
    assert got["source"] == "aggregates" and got["relative_error"] == RELATIVE_ERROR
    want = _raw_stats(store, group_by, bucket, filters)
    assert got["total"]["count"] == want["total"]["count"] > 0  # type: ignore[index]
    _close(got, want)


def test_small_groups_are_exact(store: SpanStore) -> None:
    """One or two values per group: percentiles are the raw ones exactly (min and max are kept exactly)."""
    store.write(llm_trace(start=0, model="a", ttft=0.1234))
    store.write(llm_trace(start=1, model="b", ttft=0.1))
    store.write(llm_trace(start=2, model="b", ttft=0.3))
    store.settle()
    got = {g["key"]: g for g in query.stats(store, "model", 60).to_dict()["groups"]}
    assert got["a"]["ttft"]["p50"] == 0.1234 and got["a"]["ttft"]["p99"] == 0.1234
    assert got["b"]["ttft"]["p50"] == pytest.approx(0.2) and got["b"]["ttft"]["max"] == 0.3


def test_filters_aggregates_cannot_answer_fall_back_to_streams(store: SpanStore) -> None:
    for b in _random_streams(60):
        store.write(b)
    store.settle()
    for f in (
        Filters(search="chat"),
        Filters(min_duration=5.0),
        Filters(session_id="s1"),
        Filters(min_ttft=0.3),
    ):
        got = query.stats(store, "model", 60, f).to_dict()
        assert got["source"] == "streams"
        assert got["total"]["count"] == len(store.streams(f, None))
    assert (
        query.stats(store, "model", 45).to_dict()["source"] == "streams"
    )  # bucket not a whole number of minutes
    with pytest.raises(ValueError):
        store.aggregates(60, Filters(search="x"))


def _canonical(state: AggState) -> tuple[object, ...]:
    """A state as plain values, float sums rounded (they are summed in a different order after a rebuild)."""
    return (state.n, state.outcomes, state.chunks, state.stalls, state.input_tokens, state.output_tokens,
            round(state.cost_sum, 9), state.cost_n, state.start_min_ns, state.start_max_ns,
            [(m.n, round(m.sum, 6), m.min, m.max, m.bins()) for m in state.metrics])  # fmt: skip


def _all_aggregates(store: SpanStore) -> dict[tuple[int, int, tuple[str, ...]], tuple[object, ...]]:
    return {
        (r.width_s, r.slot_ns, r.key): _canonical(r.state)
        for w in TIERS
        for by in ROLLUPS
        for r in store.aggregates(w, Filters(), rollup=by)
    }


def _expected_aggregates(store: SpanStore) -> dict[tuple[int, int, tuple[str, ...]], tuple[object, ...]]:
    """What the aggregate rows must be: rebuilt from the stored streams."""
    return {rk: _canonical(s) for rk, s in build_aggregates(store.streams(Filters(), None)).items()}


def test_aggregates_ignore_duplicate_streams(store: SpanStore) -> None:
    batches = _random_streams(30)
    for b in batches:
        store.write(b)
    store.settle()
    before = _all_aggregates(store)
    assert before == _expected_aggregates(store)
    evil = tuple(dataclasses.replace(st, model="evil", ttft=99.0, start_ns=st.start_ns + 3600 * NS)
                 for b in batches for st in b.streams)  # fmt: skip
    store.write(IngestBatch(streams=evil))  # same span ids, other values: ignored
    store.write(batches[0])
    store.settle()
    assert _all_aggregates(store) == before
    tid, sid = trace_id(), span_id()
    twice = IngestBatch(streams=(stream(tid, sid, start=5, ttft=0.5), stream(tid, sid, start=5, ttft=7.0)))
    store.write(twice)  # the same new stream twice in one batch: the first one counts, once
    store.settle()
    assert _all_aggregates(store) == _expected_aggregates(store)
    assert store.stream(sid) == twice.streams[0]


def test_retention_keeps_aggregates_exact(store: SpanStore) -> None:
    for b in _random_streams(300):
        store.write(b)
    store.settle()
    assert (
        store.delete_before(T0 + 47 * _M + 13 * NS) > 0
    )  # cuts through a minute, a 5-minute and an hour slot
    assert _all_aggregates(store) == _expected_aggregates(store)
    assert store.delete_oldest(25) == 25
    assert _all_aggregates(store) == _expected_aggregates(store)
    _close(query.stats(store, "model", 300).to_dict(), _raw_stats(store, "model", 300, Filters()))
    store.delete_before(T0 + 100 * 3600 * NS)
    assert store.aggregates(60, Filters()) == [] and query.stats(store).to_dict()["total"]["count"] == 0


def test_delete_oldest_goes_by_trace_start(store: SpanStore) -> None:
    batches = [llm_trace(start=s) for s in (50, 10, 30, 20, 40)]
    for b in batches:
        store.write(b)
    store.settle()
    assert store.delete_oldest(2) == 2
    assert sorted(t.start_ns for t in store.traces(Filters(), 10)) == [T0 + s * NS for s in (30, 40, 50)]
    assert store.delete_oldest(0) == 0 and store.delete_oldest(10) == 3 and store.counts()["traces"] == 0


def test_storage_bytes_grows_with_data(store: SpanStore) -> None:
    empty = store.storage_bytes()
    for _ in range(50):
        store.write(llm_trace(200))
    store.settle()
    assert store.storage_bytes() > empty


def test_error_rows_newest_first_with_time_service_session_and_user_filters(store: SpanStore) -> None:
    a, b, c = trace_id(), trace_id(), trace_id()
    exc = SpanEvent(
        "exception",
        T0 + NS,
        {
            "exception.type": "openai.RateLimitError",
            "exception.message": "Error code: 429",
            "exception.stacktrace": "...",
        },
    )
    store.write(
        IngestBatch(
            spans=(
                dataclasses.replace(
                    span(
                        a,
                        span_id(),
                        None,
                        name="root a",
                        start=0.0,
                        status=2,
                        session="s1",
                        user="u1",
                        attrs={"error.type": "RateLimitError", "http.response.status_code": 429},
                    ),
                    status_message="Error code: 429",
                    events=(SpanEvent("log", T0, {}), exc, SpanEvent("later", T0 + 2 * NS, {})),
                ),
                span(
                    b,
                    (rb := span_id()),
                    None,
                    name="root b",
                    start=10.0,
                    status=0,
                    service="other",
                    session="s2",
                ),
                dataclasses.replace(
                    span(
                        b,
                        span_id(),
                        rb,
                        name="child b",
                        start=11.0,
                        status=2,
                        service="other",
                        attrs={"error.type": "ValueError"},
                    ),
                    status_message="bad value",
                ),
                span(c, span_id(), None, name="fine", start=20.0, status=1),
            )
        )
    )
    store.settle()
    names = lambda rows: [r.name for r in rows]  # noqa: E731
    assert names(store.error_rows(Filters(), 10)) == ["child b", "root a"]
    assert names(store.error_rows(Filters(), 1)) == ["child b"]
    assert names(store.error_rows(Filters(since_ns=T0 + 5 * NS), 10)) == ["child b"]
    assert names(store.error_rows(Filters(until_ns=T0 + 5 * NS), 10)) == ["root a"]
    assert names(store.error_rows(Filters(service="other"), 10)) == ["child b"]
    assert names(store.error_rows(Filters(session_id="s2"), 10)) == ["child b"]  # the trace's session
    (got,) = store.error_rows(Filters(user_id="u1"), 10)
    assert (got.trace_id, got.start_ns, got.error_type, got.message, got.http_status) == (
        a,
        T0,
        "openai.RateLimitError",
        "Error code: 429",
        429,
    )  # the exception event wins over error.type
    (child,) = store.error_rows(Filters(service="other"), 10)
    assert (child.error_type, child.message, child.http_status) == ("ValueError", "bad value", None)


def test_sessions_roll_up_their_traces(store: SpanStore) -> None:
    store.write(llm_trace(start=0.0, session="s1"))
    store.write(llm_trace(start=5.0, session="s1", status=2))
    store.write(llm_trace(start=3.0, session="s2"))
    store.write(llm_trace(start=9.0))  # no session: not listed
    store.settle()
    rows = store.sessions(Filters(), 10)
    assert [r.session_id for r in rows] == ["s1", "s2"]
    s1 = rows[0]
    assert (s1.trace_count, s1.error_count, s1.stream_count) == (2, 1, 2)
    assert s1.start_ns == T0 and s1.last_start_ns == T0 + 5 * NS and s1.end_ns == T0 + 7 * NS
    assert [r.session_id for r in store.sessions(Filters(), 1)] == ["s1"]
    assert [r.session_id for r in store.sessions(Filters(until_ns=T0 + 4 * NS), 10)] == ["s2", "s1"]
    only = store.sessions(Filters(since_ns=T0 + 4 * NS), 10)
    assert [(r.session_id, r.trace_count) for r in only] == [("s1", 1)]
    assert store.sessions(Filters(session_id="s2"), 10)[0].trace_count == 1


def test_sessions_page_by_keyset_cursor_without_gaps_or_repeats(store: SpanStore) -> None:
    # s0..s5 with their latest activity at 10, 8, 8, 6, 6, 6 s (ties sort by session id); s1 and s4 also have
    # an older trace, which must not bring them back on a later page
    for sid, starts in (
        ("s0", [10]),
        ("s2", [8]),
        ("s1", [8, 1]),
        ("s5", [6]),
        ("s4", [6, 0.5]),
        ("s3", [6]),
        ("s9", [2]),
    ):
        for t in starts:
            store.write(llm_trace(start=float(t), session=sid))
    store.settle()
    everything = [r.session_id for r in store.sessions(Filters(), 100)]
    assert everything == ["s0", "s1", "s2", "s3", "s4", "s5", "s9"]
    for size in (1, 2, 3, 4):
        got, after = [], None
        while True:
            page = store.sessions(Filters(), size, after)
            got += [r.session_id for r in page]
            if len(page) < size:
                break
            after = (page[-1].last_start_ns, page[-1].session_id)
        assert got == everything, size
    page = store.sessions(Filters(), 2, (T0 + 6 * NS, "s3"))
    assert [(r.session_id, r.trace_count) for r in page] == [("s4", 2), ("s5", 1)]
    assert store.sessions(Filters(since_ns=T0 + 3 * NS), 10, (T0 + 8 * NS, "s2"))[0].session_id == "s3"


def test_a_trace_whose_root_has_not_arrived_waits_for_it_then_shows_its_real_root(store: SpanStore) -> None:
    tid, root, child = trace_id(), span_id(), span_id()
    store.write(IngestBatch(spans=(span(tid, child, root, name="ChatPromptTemplate", start=0.1, dur=0.1),)))
    store.settle()
    (early,) = store.traces(Filters(), 10)
    assert early.waiting_for_root and early.root_name == "ChatPromptTemplate"
    assert early.to_dict()["waiting_for_root"] is True
    store.write(IngestBatch(spans=(span(tid, root, None, name="handle request", start=0.0, dur=1.0),)))
    store.settle()
    (done,) = store.traces(Filters(), 10)
    assert not done.waiting_for_root and done.root_name == "handle request" and done.span_count == 2
    assert done.to_dict()["waiting_for_root"] is False
