"""Every page renders over the collector's real stores; filters, pagination and the trace page work."""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

import pytest
from dashboard_seed import OUTCOMES, XSS_MODEL, Seeded, one_trace
from flask.testing import FlaskClient


def _rows(html: str, table_id: str) -> list[str]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</tbody>", 1)[0]
    return [r for r in body.split("<tr")[2:] if 'class="empty"' not in r]


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/traces",
        "/streams",
        "/live",
        "/models",
        "/api/overview",
        "/api/live",
        "/api/traces",
        "/api/streams",
    ],
)
def test_every_page_renders(client: FlaskClient, url: str) -> None:
    """Each page and API answers 200."""
    response = client.get(url)
    assert response.status_code == 200, response.data[:300]


def test_overview_shows_kpis_and_model_table(client: FlaskClient, seeded: Seeded) -> None:
    """(Over the last 24 hours, which hold the whole seed.) The overview lists every model with a stream count that adds up to the total."""
    html = client.get("/?range=24h").get_data(as_text=True)
    rows = _rows(html, "models")
    assert len(rows) == 4  # three models + the hostile model name
    counts = [int(re.findall(r'class="num">([\d,]+)</td>', r)[0].replace(",", "")) for r in rows]
    assert sum(counts) == len(seeded.stream_ids)


def test_overview_api_series_are_aligned_with_buckets(client: FlaskClient, seeded: Seeded) -> None:
    """Every per-model series has one value per bucket and the stream counts add up."""
    data = client.get("/api/overview?range=24h&bucket=300").get_json()
    buckets = data["series"]["buckets"]
    assert buckets and all(b2 - b1 == 300 for b1, b2 in itertools.pairwise(buckets))
    total = 0
    for series in data["series"]["by_model"].values():
        assert all(len(values) == len(buckets) for values in series.values())
        total += sum(series["streams"])
    assert total == data["totals"]["streams"] == len(seeded.stream_ids)
    assert data["totals"]["chunks"] > 0 and data["totals"]["ttft"]["p95"] is not None


def test_overview_shows_cancelled_streams_with_the_other_outcomes(
    client: FlaskClient, seeded: Seeded
) -> None:
    """Cancelled streams are in the outcome KPI, the model table and the per-bucket series the chart draws."""
    cancelled = OUTCOMES.count("cancelled") * 40 // len(OUTCOMES)  # the seed cycles through OUTCOMES
    assert cancelled == 5
    total = len(seeded.stream_ids)
    html = client.get("/?range=24h").get_data(as_text=True)
    kpi = html.split('id="kpi-outcomes"', 1)[1].split("</div>", 1)[0]
    assert "cancel" in kpi and f"{cancelled / total * 100:.1f}%" in kpi
    data = client.get("/api/overview?range=24h").get_json()
    failed = data["totals"]["rates"]["error"] + data["totals"]["rates"]["timeout"]
    assert "Error rate (error + timeout)" in kpi and f"<p>{failed * 100:.1f}%</p>" in kpi
    head = html.split('id="models"', 1)[1].split("</thead>", 1)[0]
    assert "<th>Abandoned</th><th>Cancelled</th><th>Timeouts</th>" in head
    data = client.get("/api/overview?range=24h&bucket=300").get_json()
    assert data["totals"]["rates"]["cancelled"] == cancelled / total
    assert sum(sum(s["cancelled"]) for s in data["series"]["by_model"].values()) == cancelled
    assert sum(m["rates"]["cancelled"] * m["streams"] for m in data["models"]) == pytest.approx(cancelled)


def test_overview_model_filter(client: FlaskClient) -> None:
    """Filtering the overview by model keeps only that model."""
    data = client.get("/api/overview?model=claude-haiku").get_json()
    assert [m["model"] for m in data["models"]] == ["claude-haiku"]


def test_streams_filter_by_outcome_and_model(client: FlaskClient, seeded: Seeded) -> None:
    """Outcome and model filters change the rows shown."""
    everything = _rows(client.get("/streams?limit=500").get_data(as_text=True), "streams")
    errors = _rows(client.get("/streams?outcome=error&limit=500").get_data(as_text=True), "streams")
    assert len(everything) == len(seeded.stream_ids)
    assert 0 < len(errors) < len(everything)
    assert all("outcome-error" in r for r in errors)
    claude = _rows(client.get("/streams?model=claude-haiku&limit=500").get_data(as_text=True), "streams")
    assert claude and all("claude-haiku" in r for r in claude)


def test_traces_filters_keep_state_in_links(client: FlaskClient) -> None:
    """The next-page link keeps the filters (shareable URLs)."""
    html = client.get("/traces?service=chat-api&limit=5").get_data(as_text=True)
    nxt = re.search(r'href="([^"]+)" rel="next"', html)
    assert nxt is not None
    link = nxt.group(1).replace("&amp;", "&")
    assert "service=chat-api" in link and "limit=5" in link and "cursor=" in link


def test_traces_pagination_walks_every_trace_once(client: FlaskClient, seeded: Seeded) -> None:
    """Following next links visits every trace exactly once."""
    seen: list[str] = []
    url: str | None = "/api/traces?limit=7"
    while url:
        data = client.get(url).get_json()
        seen += [t["trace_id"] for t in data["traces"]]
        url = f"/api/traces?limit=7&cursor={data['next']}" if data["next"] else None
    assert sorted(seen) == sorted(seeded.trace_ids)


def test_traces_search(client: FlaskClient, seeded: Seeded) -> None:
    """Text search finds the trace whose span attributes contain the needle."""
    rows = _rows(client.get("/traces?q=app.note").get_data(as_text=True), "traces")
    assert len(rows) == 1 and seeded.xss_trace in rows[0]


def test_trace_page_draws_waterfall_and_chunk_timeline(client: FlaskClient, seeded: Seeded) -> None:
    """The stalled trace shows 3 steps, one chunk mark per chunk, a TTFT marker and one stall."""
    html = client.get(f"/traces/{seeded.stall_trace}").get_data(as_text=True)
    waterfall = html.split('id="waterfall"', 1)[1].split("</tbody>", 1)[0]
    assert waterfall.count('<tr class="step') == 3
    section = html.split(f'id="stream-{seeded.stall_stream}"', 1)[1]
    assert section.count('class="chunk kind-') == seeded.stall_chunks
    assert 'class="marker marker-2 ttft"' in section
    assert section.count('class="stall"') == 1
    assert section.count("after-stall") == 1


def test_trace_id_is_case_insensitive(client: FlaskClient, seeded: Seeded) -> None:
    """Upper-case hex ids find the same trace."""
    assert client.get(f"/traces/{seeded.stall_trace.upper()}").status_code == 200


def test_unknown_trace_is_a_friendly_404(client: FlaskClient) -> None:
    """An unknown (well-formed) trace id gets a 404 page with a reason."""
    response = client.get("/traces/" + "f" * 32)
    assert response.status_code == 404
    assert "No trace with that id is stored." in response.get_data(as_text=True)


def test_chunks_api(client: FlaskClient, seeded: Seeded) -> None:
    """The chunks endpoint returns the stream's chunks in order."""
    chunks = client.get(f"/api/streams/{seeded.stall_stream}/chunks").get_json()["chunks"]
    assert [c["index"] for c in chunks] == list(range(seeded.stall_chunks))
    assert client.get("/api/streams/" + "e" * 16 + "/chunks").status_code == 404


def test_models_page_lists_hostile_model_name_as_text(client: FlaskClient) -> None:
    """The model comparison shows every model, the hostile name escaped."""
    html = client.get("/models").get_data(as_text=True)
    assert XSS_MODEL not in html
    assert "&lt;img src=x onerror=window.__xss=5&gt;" in html


def test_live_page_is_honest_about_in_flight_support(client: FlaskClient, seeded: Seeded) -> None:
    """Without collector support for in-flight streams the page says so and lists recent finished streams."""
    state = client.application.extensions["streamscope"]
    html = client.get("/live").get_data(as_text=True)
    data = client.get("/api/live").get_json()
    assert data["supported"] is state.source.live_supported
    if not data["supported"]:
        assert 'id="live-unsupported"' in html and data["live"] == []
    assert len(_rows(html, "finished")) == 20


def test_live_page_lists_streams_in_flight_until_they_finish(client: FlaskClient, store: object) -> None:
    """A stream in flight is listed with its chunks so far and current rate; once its span lands it is gone."""
    import time

    from streamscope.collector.model import NS, Chunk, IngestBatch, LiveStream, Stream

    now = time.time()
    tid, sid, stale = "ab" * 16, "cd" * 8, "ef" * 8
    start = int((now - 3.25) * NS)  # the latest chunk (offset 3 s) is 0.25 s old: well within the export lag
    first = LiveStream(tid, sid, "svc-live", XSS_MODEL, "openai", "chat", start, start + 2 * NS, 10, 2.0)
    later = LiveStream(tid, sid, "svc-live", XSS_MODEL, "openai", "chat", start, start + 3 * NS, 30, 3.0)
    old = int((now - 600) * NS)
    silent = LiveStream(tid, stale, "svc-live", "gone", "openai", "chat", old, old + NS, 5, 1.0)
    chunks = tuple(Chunk(sid, i, 0.1 * i, None if i == 0 else 0.1, "content", 1) for i in range(30))
    store.write(IngestBatch(chunks=chunks[:10], live=(first, silent)))  # type: ignore[attr-defined]
    store.write(IngestBatch(chunks=chunks[10:], live=(later,)))  # type: ignore[attr-defined]

    data = client.get("/api/live").get_json()
    assert data["supported"] is True
    (row,) = data["live"]  # the silent stream has aged out
    assert row["span_id"] == sid and row["chunk_count"] == 30 and row["model"] == XSS_MODEL
    assert row["chunks_per_second"] == 20.0  # 20 chunks over the latest second: the rate now
    assert row["stalled_for"] is None
    assert row["elapsed"] >= 3.0 and 0.0 <= row["last_chunk_age"] <= row["elapsed"]
    html = client.get("/live").get_data(as_text=True)
    (tr,) = _rows(html, "live")
    assert f'data-span-id="{sid}"' in tr and ">30</td>" in tr and "live-unsupported" not in html
    assert XSS_MODEL not in html

    done = Stream(
        trace_id=tid,
        span_id=sid,
        start_ns=start,
        end_ns=start + 5 * NS,
        service="svc-live",
        model="done-model",
        chunk_count=30,
    )
    store.write(IngestBatch(streams=(done,)))  # type: ignore[attr-defined]
    assert client.get("/api/live").get_json()["live"] == []
    html = client.get("/live").get_data(as_text=True)
    assert _rows(html, "live") == []
    assert any(f'data-span-id="{sid}"' in r for r in _rows(html, "finished"))


def test_live_rate_falls_and_a_stall_shows_while_a_stream_is_silent(store: object) -> None:
    """The rate now falls towards 0 while no chunk arrives, and "stalled for N s" shows once that is certain."""
    from streamscope.collector.model import NS, IngestBatch, LiveStream
    from streamscope.dashboard import create_app
    from streamscope.dashboard.collector_source import CollectorSource

    start = 1_800_000_000.0
    clock = [start]
    app = create_app(source=CollectorSource(store, clock=lambda: clock[0]))
    client = app.test_client()
    s0 = int(start * NS)

    def report(count: int, offset: float) -> None:
        lv = LiveStream(
            "ab" * 16,
            "cd" * 8,
            "svc-live",
            "m-live",
            "openai",
            "chat",
            s0,
            s0 + int(offset * NS),
            count,
            offset,
        )
        store.write(IngestBatch(live=(lv,)))  # type: ignore[attr-defined]

    def row_at(t: float) -> tuple[dict[str, object], str]:
        clock[0] = start + t
        (row,) = client.get("/api/live").get_json()["live"]
        (tr,) = _rows(client.get("/live").get_data(as_text=True), "live")
        return row, tr

    report(10, 2.0)
    report(30, 3.0)  # 20 chunks over the latest second, then silence
    row, tr = row_at(3.5)
    assert (row["chunks_per_second"], row["stalled_for"]) == (20.0, None)
    assert "stalled" not in tr and " ago</td>" in tr
    row, tr = row_at(5.2)  # 2.2 s seen, maybe only ~1.2 s real (the latest slice can be a second late)
    assert 0 < row["chunks_per_second"] < 20.0 and row["stalled_for"] is None and "stalled" not in tr
    row, tr = row_at(6.5)
    assert row["chunks_per_second"] == pytest.approx(5.0) and row["stalled_for"] == pytest.approx(3.5)
    assert 'class="stalled"' in tr and "stalled for 3.5 s" in tr
    row, tr = row_at(8.0)  # a 5 s stall: nothing but silence in the window
    assert row["chunks_per_second"] == 0.0 and row["stalled_for"] == pytest.approx(5.0)
    assert "stalled for 5.0 s" in tr and '<td class="num rate">0</td>' in tr
    report(40, 8.1)  # the stream goes on
    row, tr = row_at(8.3)
    assert row["stalled_for"] is None and row["chunks_per_second"] > 0 and "stalled" not in tr


def test_live_lag_and_stall_threshold_settings() -> None:
    """The live view's lag and stall threshold are settings (an app exporting less often needs a larger lag)."""
    from streamscope.collector.store.memory import MemoryStore
    from streamscope.dashboard.collector_source import CollectorSource
    from streamscope.dashboard.config import DashboardSettings

    assert (DashboardSettings().live_lag, DashboardSettings().stall_threshold) == (None, None)  # the source's
    assert (
        CollectorSource(MemoryStore()).stall_threshold == 2.0
        and CollectorSource(MemoryStore())._live_lag == 1.25
    )
    assert CollectorSource(MemoryStore(), stall_threshold=3.0).stall_threshold == 3.0
    got = DashboardSettings.from_mapping({"live_lag": "5.5", "stall_threshold": 3})
    assert (got.live_lag, got.stall_threshold) == (5.5, 3.0)
    for bad in ({"live_lag": -1}, {"stall_threshold": 0}, {"live_lag": "nan"}):
        with pytest.raises(ValueError):
            DashboardSettings.from_mapping(bad)


def test_streams_mark_token_counts_that_the_provider_did_not_report(client: FlaskClient, store: Any) -> None:
    """An estimated output count shows as ≈N, a tokenizer's with a note; the provider's as a plain number."""
    now = time.time()
    for n, source in ((900, "estimate"), (901, "tokenizer")):
        store.write(
            one_trace(
                n,
                now,
                model=f"model-{source}",
                provider="openai",
                outcome="completed",
                service="chat-api",
                n_chunks=9,
                usage_source=source,
            )
        )
    html = client.get("/streams?limit=500").get_data(as_text=True)
    rows = {
        m: r
        for r in _rows(html, "streams")
        for m in ("model-estimate", "model-tokenizer", "gpt-4o-mini")
        if f">{m}<" in r
    }
    assert "≈9</span>" in rows["model-estimate"] and "estimated from the characters" in rows["model-estimate"]
    assert ">9</span>" in rows["model-tokenizer"] and "the app's tokenizer" in rows["model-tokenizer"]
    assert "estimate" not in rows["gpt-4o-mini"] and "≈" not in rows["gpt-4o-mini"]


@pytest.mark.parametrize(
    ("age", "expected"), [(300, "15m"), (2400, "1h"), (3 * 3600, "6h"), (5 * 86400, "7d")]
)
def test_overview_opens_on_the_range_that_shows_the_data(store: Any, age: float, expected: str) -> None:
    """Without a range in the URL the page opens on the shortest range holding the newest stream (not 24 h with
    every chart a sliver at one edge). An empty database shows how to send the first trace instead
    (``test_debug_pages.py``)."""
    from streamscope.dashboard import create_app

    now = time.time()
    store.write(
        one_trace(
            1, now - age + 3000 - 60, model="m", provider="p", outcome="completed", service="s", n_chunks=3
        )
    )
    html = create_app(store=store).test_client().get("/").get_data(as_text=True)
    current = re.findall(r'<a href="[^"]*" aria-current="true">([^<]+)</a>', html)
    assert current == [expected]


def test_streams_mark_a_ttft_that_is_only_the_sources_first_chunk(client: FlaskClient, store: Any) -> None:
    """A TTFT the source stamped on its first chunk (it cannot tell content) shows as ≈ with its provenance; a
    measured one as a plain duration."""
    import dataclasses

    batch = one_trace(
        910,
        time.time(),
        model="model-foreign",
        provider="openai",
        outcome="completed",
        service="chat-api",
        n_chunks=5,
    )
    (st,) = batch.streams
    store.write(dataclasses.replace(batch, streams=(dataclasses.replace(st, ttft_source="first_chunk"),)))
    html = client.get("/streams?limit=500").get_data(as_text=True)
    rows = {m: r for r in _rows(html, "streams") for m in ("model-foreign", "gpt-4o-mini") if f">{m}<" in r}
    assert "≈" in rows["model-foreign"] and "stamped on its first chunk" in rows["model-foreign"]
    assert "first chunk," not in rows["gpt-4o-mini"] and "≈" not in rows["gpt-4o-mini"]
