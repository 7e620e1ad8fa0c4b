"""Filters by user and session on every page, over both real stores: each figure against one this test computes.

The overview's pre-computed aggregates are not keyed by session or user, so filtered pages are answered from the
raw streams; these tests load two users' traffic and check every card and table row of a filtered page against
figures computed here from what was written.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from who_seed import MODELS, USERS, Traffic, seed_users

from streamscope.collector.model import Stream
from streamscope.dashboard import create_app
from streamscope.dashboard.collector_source import CollectorSource
from streamscope.dashboard.formatting import duration, money, number, percent


def pct(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (the definition in docs/concepts.md), written out here."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def expected(streams: list[Stream]) -> dict[str, Any]:
    n = len(streams)
    ttft = [s.ttft for s in streams if s.ttft is not None]
    dur = [(s.end_ns - s.start_ns) / 1e9 for s in streams]
    failed = sum(s.outcome in ("error", "timeout") for s in streams)
    return {
        "streams": n,
        "ttft": {q: pct(ttft, q) for q in (50, 95, 99)},
        "duration": {q: pct(dur, q) for q in (50, 95, 99)},
        "tps": pct([s.output_tokens_per_second or 0.0 for s in streams], 50),
        "error_rate": failed / n,
        "abandoned": sum(s.outcome == "abandoned" for s in streams) / n,
        "input": sum(s.input_tokens or 0 for s in streams),
        "output": sum(s.output_tokens or 0 for s in streams),
        "cost": sum(s.cost_usd or 0.0 for s in streams),
        "chunks": sum(s.chunk_count or 0 for s in streams),
        "stalls": sum(s.stall_count or 0 for s in streams),
    }


@pytest.fixture
def traffic(store: Any) -> Traffic:
    return seed_users(store, time.time())


@pytest.fixture
def wclient(store: Any, traffic: Traffic) -> FlaskClient:
    return create_app(source=CollectorSource(store, stats_ttl=0)).test_client()


def _page(client: FlaskClient, url: str) -> str:
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code, r.get_data(as_text=True)[:300])
    return r.get_data(as_text=True)


def _close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _section(body: str, start: str, end: str) -> str:
    i = body.index(start)
    return body[i : body.index(end, i)]


def _chips(body: str) -> dict[str, str]:
    """The filter bar's active filters: parameter → the link that removes it."""
    return {
        k: unescape(href)
        for k, href in re.findall(
            r'<span class="chip" data-filter="(\w+)">.*?<a class="remove" href="([^"]*)"', body
        )
    }


@pytest.mark.parametrize("user", USERS)
def test_overview_figures_for_one_user_are_that_users(
    wclient: FlaskClient, traffic: Traffic, user: str
) -> None:
    exp = expected(traffic.streams[user])
    data = wclient.get(f"/api/overview?user={user}&range=24h").get_json()
    t = data["totals"]
    assert t["streams"] == exp["streams"] and t["chunks"] == exp["chunks"] and t["stalls"] == exp["stalls"]
    for q in (50, 95, 99):
        assert _close(t["ttft"][f"p{q}"], exp["ttft"][q]), (q, t["ttft"])
        assert _close(t["duration"][f"p{q}"], exp["duration"][q]), (q, t["duration"])
    assert _close(t["output_tokens_per_second"]["p50"], exp["tps"])
    assert _close(t["error_rate"], exp["error_rate"]) and _close(t["rates"]["abandoned"], exp["abandoned"])
    assert t["tokens"] == {"input": exp["input"], "output": exp["output"]} and _close(t["cost"], exp["cost"])

    body = _page(wclient, f"/?user={user}&range=24h")
    kpis = _section(body, 'id="kpis"', "</section>")
    for shown in (
        number(exp["streams"]),
        duration(exp["ttft"][50]),
        duration(exp["ttft"][95]),
        duration(exp["ttft"][99]),
        duration(exp["duration"][50]),
        duration(exp["duration"][95]),
        percent(exp["error_rate"]),
        percent(exp["abandoned"]),
        number(exp["input"]),
        f"{number(exp['output'])} out",
        money(exp["cost"]),
    ):
        assert shown in kpis, shown
    other = expected(traffic.streams[USERS[1 - USERS.index(user)]])
    assert f"<p>{number(other['streams'])}</p>" not in kpis
    # the model table: one row per model, each with that user's streams of that model only
    table = _section(body, 'id="models"', "</table>")
    for model in MODELS:
        mine = [s for s in traffic.streams[user] if s.model == model]
        row = _section(table, f">{model}</a>", "</tr>")
        m = expected(mine)
        for shown in (
            number(m["streams"]),
            duration(m["ttft"][50]),
            duration(m["ttft"][95]),
            percent(m["error_rate"]),
            f"{number(m['input'])} / {number(m['output'])}",
            money(m["cost"]),
        ):
            assert shown in row, (model, shown)
        link = re.search(rf'href="([^"]*)">{model}</a>', table)
        assert link and parse_qs(urlsplit(unescape(link.group(1))).query) == {
            "model": [model],
            "user": [user],
            "range": ["24h"],
        }


def test_overview_filtered_by_session_counts_that_session_only(
    wclient: FlaskClient, traffic: Traffic
) -> None:
    for user in USERS:
        for session in traffic.sessions[user]:
            mine = [
                s
                for s in traffic.streams[user]
                if traffic.traces[user][traffic.streams[user].index(s)]
                and _session_of(traffic, user, s) == session
            ]
            t = wclient.get(f"/api/overview?session={session}&range=24h").get_json()["totals"]
            exp = expected(mine)
            assert t["streams"] == exp["streams"] > 0
            assert _close(t["ttft"]["p95"], exp["ttft"][95]) and t["tokens"]["input"] == exp["input"]
    everyone = wclient.get("/api/overview?range=24h").get_json()["totals"]
    assert everyone["streams"] == sum(len(v) for v in traffic.streams.values())


def _session_of(traffic: Traffic, user: str, st: Stream) -> str:
    i = traffic.streams[user].index(st)
    return f"{user}-conv-{i % 2}"


@pytest.mark.parametrize("user", USERS)
def test_models_page_and_its_links_keep_the_user(wclient: FlaskClient, traffic: Traffic, user: str) -> None:
    body = _page(wclient, f"/models?user={user}&range=24h")
    assert _chips(body) == {"user": "/models?range=24h"}
    for model in MODELS:
        mine = [s for s in traffic.streams[user] if s.model == model]
        row = _section(_section(body, 'id="models"', "</table>"), f">{model}</a>", "</tr>")
        assert f'<td class="num">{number(len(mine))}</td>' in row
    for href in re.findall(r'<nav class="ranges"[^>]*>(.*?)</nav>', body, re.S)[0].split("href=")[1:]:
        assert f"user={user}" in href  # every range picker link keeps the filter


def _ids(body: str, pattern: str) -> list[str]:
    return re.findall(pattern, body)


@pytest.mark.parametrize("user", USERS)
def test_stream_and_trace_lists_filter_by_user_through_every_page(
    wclient: FlaskClient, traffic: Traffic, user: str
) -> None:
    want = {s.span_id for s in traffic.streams[user]}
    got: list[str] = []
    url: str | None = f"/streams?user={user}&limit=3"
    while url:
        body = _page(wclient, url)
        assert _chips(body) == {"user": "/streams?limit=3"} or "cursor=" in url
        got += _ids(body, r"#stream-([0-9a-f]{16})")
        nxt = re.search(r'<a href="([^"]*)" rel="next">', body)
        url = unescape(nxt.group(1)) if nxt else None
        if url:
            assert f"user={user}" in url
    assert sorted(got) == sorted(want)  # streams whose row has no user match through their trace's root step
    traces = _ids(_page(wclient, f"/traces?user={user}&limit=500"), r'href="/traces/([0-9a-f]{32})"')
    assert sorted(set(traces)) == sorted(traffic.traces[user])
    session = traffic.sessions[user][0]
    body = _page(wclient, f"/streams?session={session}&user={user}")
    assert sorted(_ids(body, r"#stream-([0-9a-f]{16})")) == sorted(
        s.span_id for s in traffic.streams[user] if _session_of(traffic, user, s) == session
    )
    chips = _chips(body)
    assert set(chips) == {"session", "user"}
    assert chips["session"] == f"/streams?user={user}" and chips["user"] == f"/streams?session={session}"


@pytest.mark.parametrize("user", USERS)
def test_errors_view_counts_the_users_failed_traces(
    wclient: FlaskClient, traffic: Traffic, user: str
) -> None:
    failed = [s for s in traffic.streams[user] if s.outcome in ("error", "timeout")]
    body = _page(wclient, f"/errors?user={user}")
    counts = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>\s*<td class="num">\d+</td>', body)]
    assert sum(counts) == len(failed) > 0  # one group (type "error", message "boom"); a trace counts once
    assert "user" in _chips(body)


@pytest.mark.parametrize("user", USERS)
def test_compare_and_live_take_the_user(wclient: FlaskClient, traffic: Traffic, user: str) -> None:
    body = _page(wclient, f"/compare?model_a={MODELS[0]}&model_b={MODELS[1]}&range=24h&user={user}")
    n = [sum(s.model == m for s in traffic.streams[user]) for m in MODELS]
    assert re.search(rf"{MODELS[0]}</span> \({number(n[0])} streams?\)", body)
    assert re.search(rf"{MODELS[1]}</span> \({number(n[1])} streams?\)", body)
    assert "user" in _chips(body) and f"user={user}" not in _chips(body)["user"]
    stream = traffic.streams[user][0]
    pick = _page(wclient, f"/compare?a={stream.span_id}&user={user}")
    offered = set(re.findall(r"b=([0-9a-f]{16})", pick))
    assert offered and offered <= {s.span_id for s in traffic.streams[user] if s.model == stream.model}
    live = _page(wclient, f"/live?user={user}")
    finished = set(re.findall(r"/traces/([0-9a-f]{32})", _section(live, 'id="finished"', "</table>")))
    assert finished and finished <= set(traffic.traces[user])
    assert wclient.get(f"/api/live?user={user}").status_code == 200
    assert wclient.get("/api/live?bogus=1").status_code == 400


def test_sessions_list_pages_by_cursor_and_keeps_the_user(wclient: FlaskClient, traffic: Traffic) -> None:
    everyone = sorted(s for v in traffic.sessions.values() for s in v)
    for query, want in (("", everyone), (f"&user={USERS[1]}", sorted(traffic.sessions[USERS[1]]))):
        got: list[str] = []
        url: str | None = f"/sessions?limit=1{query}"
        while url:
            body = _page(wclient, url)
            rows = re.findall(r'class="session-link" href="/sessions/([^"]+)"', body)
            assert len(rows) == 1, url
            got += rows
            nxt = re.search(r'<a href="([^"]*)" rel="next">', body)
            url = unescape(nxt.group(1)) if nxt else None
            assert url is None or query.lstrip("&") in url
        assert sorted(got) == want  # every session once, none twice
    assert wclient.get("/sessions?cursor=12_%21%21").status_code == 400
    assert wclient.get("/sessions?cursor=abc_c2Vzcw").status_code == 400


@pytest.mark.parametrize("user", USERS)
def test_a_session_links_to_its_users_other_sessions(
    wclient: FlaskClient, traffic: Traffic, user: str
) -> None:
    body = _page(wclient, f"/sessions/{traffic.sessions[user][0]}")
    link = re.search(r'class="user-link" href="([^"]+)"', body)
    assert link is not None
    listed = re.findall(
        r'class="session-link" href="/sessions/([^"]+)"', _page(wclient, unescape(link.group(1)))
    )
    assert sorted(listed) == sorted(traffic.sessions[user])
