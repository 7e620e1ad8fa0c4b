from __future__ import annotations

from typing import Any

import pytest
from factories import llm_trace, span, span_id, trace_id

from streamscope.collector import query
from streamscope.collector.model import Filters, IngestBatch
from streamscope.collector.store.memory import MemoryStore


def _json(found: Any) -> Any:
    """The query-API JSON of an optional result (None stays None)."""
    return None if found is None else found.to_dict()


def test_percentile_linear_interpolation() -> None:
    assert query.percentile([], 50) is None
    assert query.percentile([3.0], 99) == 3.0
    assert query.percentile([1, 2, 3, 4], 50) == 2.5
    assert query.percentile(list(range(101)), 95) == 95.0
    assert query.percentile([10, 0], 100) == 10


def test_summary_skips_missing_values() -> None:
    s = query.summary([None, 1.0, 3.0]).to_dict()
    assert s["count"] == 2 and s["p50"] == 2.0 and s["max"] == 3.0 and s["mean"] == 2.0


def test_tree_order_parents_first_and_orphans_kept() -> None:
    t = trace_id()
    a, b, c, d = (span_id() for _ in range(4))
    spans = [
        span(t, c, b, start=2),
        span(t, b, a, start=1),
        span(t, a, None, start=0),
        span(t, d, "f" * 16, start=0.5),
    ]
    assert [s.span_id for s in query.tree_order(spans)] == [a, b, c, d]


def test_list_traces_shape_and_pagination() -> None:
    store = MemoryStore()
    for i in range(5):
        store.write(llm_trace(start=i))
    page = query.list_traces(store, limit=2).to_dict()
    assert set(page["traces"][0]) >= {"trace_id", "root_name", "service", "start", "duration", "status",
                                      "span_count", "stream_count"}  # fmt: skip
    ids = [t["trace_id"] for t in page["traces"]]
    while page["next"]:
        page = query.list_traces(store, limit=2, cursor=page["next"]).to_dict()
        ids += [t["trace_id"] for t in page["traces"]]
    assert len(ids) == len(set(ids)) == 5


def test_get_trace_and_chunks_shapes() -> None:
    store = MemoryStore()
    b = llm_trace(3)
    store.write(b)
    tr = _json(query.get_trace(store, b.spans[0].trace_id))
    assert tr is not None and [s["span_id"] for s in tr["spans"]] == [b.spans[0].span_id, b.spans[1].span_id]
    assert set(tr["spans"][0]) >= {
        "span_id",
        "parent_span_id",
        "name",
        "kind",
        "start",
        "end",
        "status",
        "attributes",
    }
    assert _json(query.get_trace(store, "0" * 32)) is None
    ch = _json(query.stream_chunks(store, b.streams[0].span_id))
    assert ch is not None and [c["index"] for c in ch["chunks"]] == [0, 1, 2]
    assert set(ch["chunks"][0]) >= {"index", "offset", "gap", "kind", "size", "content"}
    st = query.list_streams(store).to_dict()["streams"][0]
    assert set(st) >= {"trace_id", "span_id", "service", "model", "provider", "start", "duration", "outcome", "ttft",
                       "time_to_first_chunk", "chunk_count", "gap_p95", "stall_count", "output_tokens",
                       "input_tokens", "output_tokens_per_second"}  # fmt: skip
    with pytest.raises(query.QueryError):
        _json(query.get_trace(store, "ZZ"))


def test_stats_groups_and_buckets() -> None:
    store = MemoryStore()
    store.write(llm_trace(start=0, model="a", ttft=0.1))
    store.write(llm_trace(start=1, model="a", ttft=0.3, outcome="error"))
    store.write(llm_trace(start=61, model="b", ttft=1.0, outcome="abandoned"))
    out = query.stats(store, group_by="model", bucket=60).to_dict()
    groups = {g["key"]: g for g in out["groups"]}
    assert groups["a"]["count"] == 2 and groups["a"]["ttft"]["p50"] == pytest.approx(0.2)
    assert groups["a"]["error_rate"] == 0.5 and groups["b"]["abandon_rate"] == 1.0
    assert groups["a"]["output_tokens"] == 20
    assert len(out["series"]) == 2
    assert out["total"]["count"] == 3
    with pytest.raises(query.QueryError):
        query.stats(store, group_by="prompt").to_dict()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"min_ttft": "nan"}, "min_ttft"),
        ({"min_duration": "-1"}, "min_duration"),
        ({"outcome": "exploded"}, "outcome"),
        ({"cursor": "zzz"}, "cursor"),
        ({"cursor": "1_'; DROP TABLE spans;--"}, "cursor"),
        ({"trace_id": "xyz"}, "trace_id"),
        ({"q": "x" * 1000}, "q"),
        ({"bogus": "1"}, "bogus"),
    ],
)
def test_bad_parameters_give_one_sentence(args: dict[str, str], reason: str) -> None:
    with pytest.raises(query.QueryError) as err:
        query.parse_list_args(args)
    msg = str(err.value)
    assert reason in msg and msg.endswith(".") and "\n" not in msg


def test_parse_filters_converts_seconds() -> None:
    f, limit, cursor = query.parse_list_args({"since": "10.5", "model": "m", "limit": "7"})
    assert f == Filters(model="m", since_ns=10_500_000_000) and limit == 7 and cursor is None


def test_empty_store() -> None:
    store = MemoryStore()
    store.write(IngestBatch())
    assert query.list_traces(store).to_dict() == {"traces": [], "next": None}
    assert query.stats(store).to_dict()["total"]["count"] == 0


def test_stats_to_json_is_the_bytes_of_to_dict() -> None:
    import orjson

    store = MemoryStore()
    store.write(llm_trace(start=0, model="a", ttft=0.1))
    store.write(llm_trace(start=1, model="a", ttft=0.3, outcome="error"))
    store.write(llm_trace(start=61, model="b", ttft=1.0, outcome="abandoned"))
    answers = [
        query.stats(store, group_by="model", bucket=60),  # source (and relative_error when from aggregates)
        query.stats(store, group_by="none", bucket=3600),
        query.compute_stats(store.streams(Filters(), None), "model", 60),  # neither source nor relative_error
        query.compute_stats([], "none", 60),  # no groups, no series
    ]
    assert answers[0].source is not None and answers[2].source is None and not answers[3].series
    for answer in answers:
        assert answer.to_json() == orjson.dumps(answer.to_dict())
        assert orjson.loads(answer.to_json())["total"]["count"] == answer.total.count
