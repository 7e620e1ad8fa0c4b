"""Retention by age and by size: the policy over every store, the background thread, the command line."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from factories import T0, llm_trace

from streamscope.collector import aggregates as agg
from streamscope.collector.cli import collector
from streamscope.collector.model import NS, Filters
from streamscope.collector.retention import HIGH_WATER, LOW_WATER, Retention, StoreFull, parse_size
from streamscope.collector.server import CollectorServer
from streamscope.collector.store import SpanStore
from streamscope.collector.store.memory import MemoryStore
from streamscope.collector.store.sqlite import SQLiteStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SpanStore]:
    s: SpanStore = MemoryStore() if request.param == "memory" else SQLiteStore(str(tmp_path / "db.sqlite"))
    yield s
    s.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2GB", 2_000_000_000), ("500 MB", 500_000_000), ("1.5GiB", int(1.5 * 1024**3)), ("1000000", 1_000_000),
     ("3mb", 3_000_000), ("1TB", 10**12)],
)  # fmt: skip
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "2 parsecs", "-1GB", "1e9", "2GBB", "10KB"])
def test_parse_size_rejects_with_one_sentence(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_size(text)
    assert str(err.value).endswith(".") and "\n" not in str(err.value)


def _aggregates_exact(store: SpanStore) -> bool:
    stored = {
        (r.width_s, r.slot_ns, r.key): r.state.n
        for w in agg.TIERS
        for by in agg.ROLLUPS
        for r in store.aggregates(w, Filters(), rollup=by)
    }
    rebuilt = {rk: s.n for rk, s in agg.build(store.streams(Filters(), None)).items()}
    return stored == rebuilt


def test_age_bound(store: SpanStore) -> None:
    for start in (0, 100, 3600, 7200):
        store.write(llm_trace(start=start))
    r = Retention(max_age_s=3600)
    assert r.enforce(store, now_ns=T0 + 7200 * NS) == {"age": 2, "size": 0}
    assert sorted(t.start_ns for t in store.traces(Filters(), 10)) == [T0 + 3600 * NS, T0 + 7200 * NS]
    assert _aggregates_exact(store) and sum(r.state.n for r in store.aggregates(60, Filters())) == 2


def test_size_bound_deletes_oldest_until_under_and_then_holds(store: SpanStore) -> None:
    for i in range(300):
        store.write(llm_trace(60, start=i * 10))
    size = store.storage_bytes()
    limit = int(size / 0.97)  # just over the high-water mark
    assert size >= HIGH_WATER * limit
    r = Retention(max_bytes=limit, slice_traces=17)
    deleted = r.enforce(store)["size"]
    left = store.counts()["traces"]
    assert deleted == 300 - left and left == int(300 * LOW_WATER * limit / size)
    assert min(t.start_ns for t in store.traces(Filters(), 1000)) == T0 + deleted * 10 * NS  # the oldest went
    assert _aggregates_exact(store)
    assert r.enforce(store)["size"] == 0  # SQLite keeps its file size; no new data, nothing more to delete
    for i in range(300, 340):
        store.write(llm_trace(60, start=i * 10))
    r.enforce(store)
    assert store.counts()["traces"] <= left  # new data pushes out old data, the capacity holds
    assert max(t.start_ns for t in store.traces(Filters(), 1)) == T0 + 339 * 10 * NS
    assert _aggregates_exact(store)


def test_under_the_limit_nothing_is_deleted(store: SpanStore) -> None:
    for i in range(20):
        store.write(llm_trace(10, start=i))
    assert Retention(max_age_s=10**9, max_bytes=store.storage_bytes() * 2).enforce(store) == {
        "age": 0,
        "size": 0,
    }
    assert store.counts()["traces"] == 20


def test_a_write_at_the_limit_waits_for_the_size_pass_and_then_fits_in_the_room_it_made(
    store: SpanStore,
) -> None:
    for i in range(300):
        store.write(llm_trace(60, start=i * 10))
    limit = int(store.storage_bytes() / 1.02)  # the last writes took the store past its limit
    r = Retention(max_bytes=limit)
    with pytest.raises(StoreFull):
        r.admit(store)
    assert r.wake.is_set()  # the size pass is asked to run now
    r.wake.clear()
    assert r.enforce(store)["size"] > 0
    r.admit(store)  # room was made: writes go on
    for i in range(300, 320):
        store.write(llm_trace(60, start=i * 10))
        r.admit(store)  # they land in the room deleting made (SQLite reuses the freed pages)
    assert not r.wake.is_set()


def test_ingest_at_the_limit_is_503_with_retry_after_until_the_pass_makes_room(tmp_path: Path) -> None:
    """The size pass runs when a write is refused, not at its next tick (here an hour away)."""
    import httpx
    from otlp import our_stream

    store = SQLiteStore(str(tmp_path / "db.sqlite"))
    for i in range(200):
        store.write(llm_trace(60, start=-T0 / NS + time.time() - 600 + i))
    limit = int(store.storage_bytes() / 1.02)
    server = CollectorServer(store=store, http_port=0, grpc_port=None,
                             retention=Retention(max_bytes=limit, check_every=3600))  # fmt: skip
    server.start()
    try:
        body = our_stream(3)[0].SerializeToString()
        with httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}", timeout=30) as client:
            first = client.post(
                "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
            )
            assert first.status_code == 503 and int(first.headers["Retry-After"]) >= 1
            deadline = time.monotonic() + 30
            r = first
            while r.status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.1)
                r = client.post(
                    "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
                )
            assert r.status_code == 200
        assert store.counts()["traces"] <= int(200 * LOW_WATER * 1.02) + 2  # the oldest went to make room
    finally:
        server.stop()


def test_background_thread_enforces_both_bounds(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "db.sqlite"))
    old = llm_trace(start=-T0 / NS + time.time() - 7200)  # two hours ago
    store.write(old)
    for i in range(200):
        store.write(llm_trace(60, start=-T0 / NS + time.time() + i))
    limit = int(store.storage_bytes() / 0.97)
    server = CollectorServer(store=store, http_port=0, grpc_port=None,
                             retention=Retention(3600, limit, check_every=0.05))  # fmt: skip
    server.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and store.counts()["traces"] > int(200 * LOW_WATER / 0.97) + 1:
            time.sleep(0.05)
        assert store.trace_spans(old.spans[0].trace_id) == []
        assert store.counts()["traces"] <= int(200 * LOW_WATER / 0.97) + 1
    finally:
        server.stop()


def test_command_line_rejects_a_bad_size() -> None:
    result = CliRunner().invoke(collector, ["--max-db-size", "lots"])
    assert result.exit_code == 2 and "is not a size" in result.output
