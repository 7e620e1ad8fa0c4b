"""Issue 18, "go looking": property-based fuzzing of every query parameter and path segment of every GET route of
the dashboard and of the collector's query API, with hostile values (huge and signed integers, NaN and infinities,
Unicode digits, CR/LF and other control characters, 100 KB strings, XSS payloads), on SQLite and ClickHouse.

Every answer is a 4xx with a one-sentence reason or a correct page, never a 5xx, and no HTML answer carries a
payload unescaped. The route table is read from the apps, so a route added without an entry here fails
:func:`test_every_get_route_is_fuzzed`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from dashboard_seed import seed
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stores import STORES, open_store

from streamscope.collector import query
from streamscope.collector.server import CollectorServer
from streamscope.collector.store import SpanStore
from streamscope.dashboard import create_app

NOW = time.time()
XSS = ('<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', "</textarea><svg onload=alert(3)>",
       "javascript:alert(4)", "'-alert(5)-'", "{{7*7}}<b>")  # fmt: skip
FILTERS = ("service", "model", "outcome", "status", "q", "min_duration", "max_duration", "min_ttft", "session", "user",
           "range", "since", "until", "cursor", "limit")  # fmt: skip
RANGE = ("range", "since", "until")

# route rule -> the query parameters it reads (plus "junk", a name no route takes)
UI_ROUTES: dict[str, tuple[str, ...]] = {
    "/": ("service", "model", *RANGE, "bucket"),
    "/quickstart": (),
    "/traces": FILTERS,
    "/traces/<raw_id>": (),
    "/streams": FILTERS,
    "/errors": ("service", "session", "user", *RANGE),
    "/sessions": ("service", "user", *RANGE, "limit"),
    "/sessions/<path:session_id>": (),
    "/compare": ("a", "b", "model_a", "model_b", "range", "service"),
    "/live": (),
    "/models": ("service", "model", *RANGE, "bucket"),
    "/login": ("next",),
    "/api/overview": ("service", "model", *RANGE, "bucket"),
    "/api/live": (),
    "/api/traces": FILTERS,
    "/api/traces/<raw_id>": (),
    "/api/streams": FILTERS,
    "/api/streams/<raw_id>/chunks": (),
}
API_ROUTES: dict[str, tuple[str, ...]] = {
    "/api/traces": (*sorted(query._FILTER_KEYS), "limit", "cursor"),
    "/api/traces/<trace_id>": (),
    "/api/streams": (*sorted(query._FILTER_KEYS), "limit", "cursor"),
    "/api/streams/<span_id>/chunks": (),
    "/api/stats": (*sorted(query._FILTER_KEYS), "group_by", "bucket"),
    "/api/live": ("since", "limit"),
    "/healthz": (),
    "/readyz": (),
    "/metrics": (),
}
NOT_FUZZED = {"/static/<path:filename>"}  # files from the package: fuzzed by Werkzeug's safe_join, not ours


@pytest.fixture(scope="module", params=STORES)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpanStore]:
    s = open_store(request.param, tmp_path_factory.mktemp("fuzz") / "f.db")
    seeded = seed(s, NOW, traces=6)
    s.seeded = seeded  # type: ignore[attr-defined]
    yield s
    s.close()


@pytest.fixture(scope="module")
def ui_app(store: SpanStore) -> Flask:
    return create_app(store=store)


@pytest.fixture(scope="module")
def ui(ui_app: Flask) -> FlaskClient:
    return ui_app.test_client()


@pytest.fixture(scope="module")
def api_app(store: SpanStore) -> Flask:
    app: Flask = CollectorServer(store=store, grpc_port=None).app
    return app


@pytest.fixture(scope="module")
def api(api_app: Flask) -> FlaskClient:
    return api_app.test_client()


def _get_rules(app: Flask) -> set[str]:
    return {r.rule for r in app.url_map.iter_rules() if "GET" in (r.methods or ())} - NOT_FUZZED


def test_every_get_route_is_fuzzed(ui_app: Flask, api_app: Flask) -> None:
    assert _get_rules(ui_app) == set(UI_ROUTES)
    assert _get_rules(api_app) == set(API_ROUTES)


def hostile() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(XSS),
        st.text(max_size=30),
        st.text(alphabet="0123456789²³¹١٢٣٤٥٦٧٨٩٠０１２.-+eE_abcdefinINFaN \r\n\t\x00", max_size=30),
        st.integers(min_value=-(2**80), max_value=2**80).map(str),
        st.sampled_from(
            [
                "nan",
                "NaN",
                "inf",
                "-inf",
                "1e308",
                "1e309",
                "-0",
                "0x10",
                "1_000",
                " 5",
                "5\r\n",
                "1e-400",
                "9" * 400,
                "24h",
                "7d",
                "all",
                "ok",
                "error",
                "completed",
            ]
        ),
        st.sampled_from(["a" * 100_000, "<" * 100_000, "\u00e9" * 50_000]),  # 100 KB values
        st.integers(min_value=0, max_value=2**70).map(lambda n: f"{n}_{'ab' * (n % 20)}"),
    )


def _check(client: FlaskClient, url: str, sent: list[str]) -> None:
    resp = client.get(url)
    body = resp.get_data(as_text=True)
    assert resp.status_code < 500, (url[:300], resp.status_code, body[:300])
    if 400 <= resp.status_code < 500:
        if resp.is_json:
            payload = resp.get_json()
            reason = payload.get("message") or payload.get("error")
        else:
            reason = body
        assert reason and len(reason) < 100_000, (url[:300], reason[:300] if reason else reason)
    if resp.mimetype == "text/html":
        for value in sent:
            for payload in XSS:
                if payload in value and "<" in payload:
                    assert payload not in body, (url[:300], payload)


def _url(path: str, values: dict[str, str]) -> str:
    return path + ("?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in values.items()) if values else "")


def _fill(rule: str, raw: str, store: SpanStore) -> str:
    """A path for ``rule``: its variable segment replaced by the hostile value, or by a real id now and then."""
    if "<" not in rule:
        return rule
    head, _, rest = rule.partition("<")
    _, _, tail = rest.partition(">")
    return head + quote(raw, safe="") + tail


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])  # fmt: skip


def _case(routes: dict[str, tuple[str, ...]]) -> st.SearchStrategy[tuple[str, str, dict[str, str]]]:
    return st.sampled_from(sorted(routes)).flatmap(
        lambda rule: st.tuples(
            st.just(rule),
            hostile(),
            st.dictionaries(st.sampled_from((*routes[rule], "junk")), hostile(), max_size=3),
        )
    )


@FUZZ
@given(case=_case(UI_ROUTES))
def test_fuzz_every_dashboard_route(
    ui: FlaskClient, store: SpanStore, case: tuple[str, str, dict[str, str]]
) -> None:
    rule, raw, values = case
    _check(ui, _url(_fill(rule, raw, store), values), [raw, *values.values()])


@FUZZ
@given(case=_case(API_ROUTES))
def test_fuzz_every_query_api_route(
    api: FlaskClient, store: SpanStore, case: tuple[str, str, dict[str, str]]
) -> None:
    rule, raw, values = case
    _check(api, _url(_fill(rule, raw, store), values), [raw, *values.values()])


@pytest.mark.parametrize("rule", sorted(r for r in UI_ROUTES if r != "/login"))
@pytest.mark.parametrize("payload", XSS[:3])
def test_reflected_values_are_escaped_on_every_page(
    ui: FlaskClient, store: SpanStore, rule: str, payload: str
) -> None:
    """Each page's every parameter (and path segment) carrying an XSS payload: never reflected unescaped."""
    path = _fill(rule, payload, store)
    _check(ui, path, [payload])
    for key in UI_ROUTES[rule]:
        _check(ui, _url(path if "<" not in rule else rule.split("<")[0] + "x", {key: payload}), [payload])


STORED = "<script>window.__stored=1</script>"


def test_stored_hostile_text_is_escaped_on_every_page(ui: FlaskClient, store: SpanStore) -> None:
    """Session, user, service, status message and error type are untrusted text too: a trace carrying an XSS
    payload in each shows it escaped on every page that lists or details them."""
    import dataclasses

    from dashboard_seed import one_trace

    b = one_trace(40, NOW, model=STORED + "m", provider="p", outcome="error", service=STORED + "svc", n_chunks=3,
                  contents=(STORED,), root_name=STORED + "root", attrs={"error.type": STORED + "E"})  # fmt: skip
    who = {"session_id": STORED + "sess", "user_id": STORED + "user"}
    spans = tuple(dataclasses.replace(x, status_message=STORED + "msg", **who) for x in b.spans)
    streams = tuple(dataclasses.replace(x, error_type=STORED + "E", **who) for x in b.streams)
    store.write(dataclasses.replace(b, spans=spans, streams=streams))
    store.settle()  # ClickHouse derives trace summaries off the write path
    tid, llm = b.spans[0].trace_id, b.streams[0].span_id
    sess = quote(STORED + "sess", safe="")
    paths = ["/?range=all", "/traces?range=all", "/streams?range=all", "/errors?range=all", "/sessions?range=all",
             f"/sessions/{sess}", f"/traces/{tid}", f"/compare?a={llm}&b={llm}", "/models?range=all", "/live",
             f"/compare?model_a={quote(STORED + 'm', safe='')}&range=all", f"/traces?session={sess}&range=all",
             f"/streams?user={quote(STORED + 'user', safe='')}&range=all"]  # fmt: skip
    shown = []
    for path in paths:
        resp = ui.get(path)
        assert resp.status_code == 200, (path, resp.status_code)
        page = resp.get_data(as_text=True)
        assert STORED not in page, path
        if "&lt;script&gt;window.__stored=1&lt;/script&gt;" in page:
            shown.append(path)
    assert shown == paths  # each page shows the text, escaped (a page that dropped it would prove nothing)


def test_real_ids_with_hostile_parameters(ui: FlaskClient, api: FlaskClient, store: SpanStore) -> None:
    """The detail pages of stored traces, streams and sessions with hostile query strings attached."""
    seeded: Any = store.seeded  # type: ignore[attr-defined]
    paths = [
        f"/traces/{seeded.xss_trace}",
        f"/api/traces/{seeded.xss_trace}",
        "/sessions/session-1",
        f"/api/streams/{seeded.xss_stream}/chunks",
        f"/compare?a={seeded.xss_stream}&b={seeded.stall_stream}",
    ]
    for path in paths:
        _check(ui, path, [])
        _check(ui, path + ("&" if "?" in path else "?") + "x=%0d%0aSet-Cookie:%20a=b", [])
    _check(api, f"/api/traces/{seeded.xss_trace}", [])
    _check(api, f"/api/streams/{seeded.xss_stream}/chunks", [])
