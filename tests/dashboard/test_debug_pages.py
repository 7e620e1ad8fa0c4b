"""The debugging views over both real stores: why it failed, conversations, errors, sessions, in-progress traces."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from debug_seed import (
    PAYLOADS,
    XSS_ARGS,
    XSS_MESSAGE,
    XSS_PROMPT,
    XSS_RESULT,
    XSS_STACK,
    Debugging,
    seed_debugging,
)
from flask.testing import FlaskClient
from markupsafe import escape

from streamscope.dashboard import create_app


@pytest.fixture
def debug(store: Any) -> Debugging:
    return seed_debugging(store, time.time())


@pytest.fixture
def dclient(store: Any, debug: Debugging) -> FlaskClient:
    return create_app(store=store).test_client()


def esc(text: str) -> str:
    return str(escape(text))


def _page(client: FlaskClient, url: str) -> str:
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code, r.get_data(as_text=True)[:300])
    return r.get_data(as_text=True)


def _no_raw_payloads(body: str) -> None:
    for p in PAYLOADS:
        if "<" in p:
            assert p not in body, p


def test_trace_page_says_why_it_failed(dclient: FlaskClient, debug: Debugging) -> None:
    body = _page(dclient, f"/traces/{debug.error_trace}")
    assert 'id="why-failed"' in body
    assert "openai.InternalServerError" in body
    assert esc("Error code: 500 - " + XSS_MESSAGE) in body
    assert '<dd class="http-status">500</dd>' in body and '<dd class="retry-after">7</dd>' in body
    assert esc(XSS_STACK) in body
    # the timeline marks where the stream failed, and the partial output is shown as such
    assert re.search(r'<line [^>]*class="ending ending-error"', body)
    assert "error at 350 ms" in body
    assert ">partial</span>" in body
    # plain words: ok/error, plurals, costs below a cent, rounded numbers
    assert "1 stream" in body and "2 chunks" in body and "$0.000042" in body
    assert "0.12494888100000001" not in body and "125 ms" in body
    assert ">unset<" not in body
    _no_raw_payloads(body)


def test_a_trace_without_failure_has_no_failure_section(dclient: FlaskClient, debug: Debugging) -> None:
    body = _page(dclient, f"/traces/{debug.chat_trace}")
    assert 'id="why-failed"' not in body and "ending-error" not in body


def test_trace_page_renders_the_conversation(dclient: FlaskClient, debug: Debugging) -> None:
    body = _page(dclient, f"/traces/{debug.chat_trace}")
    assert 'class="chat"' in body
    assert esc(XSS_PROMPT) in body
    assert '<span class="tool-name">get_weather</span>' in body
    assert esc('"city": "<img src=x onerror=window.__xss=14>"') in body
    assert esc(XSS_RESULT) in body
    assert "You are terse." in body and "finish: stop" in body
    assert (
        'class="list attrs-wide"' in body and "gen_ai.input.messages" in body
    )  # raw attributes one click away
    assert XSS_ARGS not in body
    _no_raw_payloads(body)


def test_errors_view_groups_failures_with_links(dclient: FlaskClient, debug: Debugging) -> None:
    body = _page(dclient, "/errors")
    (row,) = re.findall(r'<tr class="error-group">(.*?)</tr>', body, re.S)
    assert "openai.InternalServerError" in row
    assert f"/traces/{debug.error_trace}#why-failed" in row
    assert re.search(r'<td class="num">1</td>\s*<td class="num">2</td>', row)  # 1 trace, 2 failed steps
    assert "<rect " in row and ">500<" in row
    _no_raw_payloads(body)
    assert "No failed steps" in _page(dclient, "/errors?user=user-quiet")
    assert "openai.InternalServerError" in _page(dclient, "/errors?session=" + debug.session_id)


def test_sessions_list_and_one_session(dclient: FlaskClient, debug: Debugging) -> None:
    body = _page(dclient, "/sessions")
    assert esc(debug.session_id) in body and "sess-quiet" in body
    _no_raw_payloads(body)
    assert "sess-quiet" not in _page(dclient, "/sessions?user=" + debug.user_id)
    from urllib.parse import quote

    one = _page(dclient, "/sessions/" + quote(debug.session_id, safe=""))
    assert "2 traces" in one and "2 streams" in one
    assert one.index("answer question") < one.index("agent turn")  # oldest first
    assert "$0.0031" in one  # cost of the two streams: 0.000042 + 0.0031
    assert "29" in one and "13" in one  # tokens in / out
    assert f"/traces/{debug.error_trace}#stream-" in one
    _no_raw_payloads(one)
    assert dclient.get("/sessions/no-such-session").status_code == 404
    assert dclient.get("/sessions/x?y=1").status_code == 400


def test_in_progress_trace_in_the_list_and_on_its_page(dclient: FlaskClient, debug: Debugging) -> None:
    body = _page(dclient, "/traces?range=1h")
    row = next(r for r in re.findall(r"<tr>(.*?)</tr>", body, re.S) if debug.waiting_trace in r)
    assert "in progress" in row and "ChatPromptTemplate" in row and "running" in row
    page = _page(dclient, f"/traces/{debug.waiting_trace}")
    assert 'id="in-progress"' in page
    meta = re.search(r'<p class="meta" id="trace-meta">(.*?)</p>', page, re.S)
    assert (
        meta and ">running<" in meta.group(1) and "status-ok" not in meta.group(1)
    )  # not "ok" while it runs
    assert "≥ " in meta.group(1) and "so far" in meta.group(1)
    done = _page(dclient, f"/traces/{debug.chat_trace}")
    assert 'id="in-progress"' not in done and 'id="root-missing"' not in done
    meta = re.search(r'<p class="meta" id="trace-meta">(.*?)</p>', done, re.S)
    assert meta and ">running<" not in meta.group(1) and "status-ok" in meta.group(1)


def test_trace_page_links_session_and_user(dclient: FlaskClient, debug: Debugging) -> None:
    body = _page(dclient, f"/traces/{debug.chat_trace}")
    assert 'class="session-link"' in body and 'class="user-link"' in body
    _no_raw_payloads(body)


@pytest.mark.parametrize(
    "url",
    [
        "/errors?range=nope",
        "/errors?limit=5",
        "/sessions?range=1x",
        "/sessions?q=1",
        "/errors?user=" + "x" * 300,
    ],
)
def test_bad_parameters_get_a_400_with_a_reason(dclient: FlaskClient, url: str) -> None:
    r = dclient.get(url)
    assert r.status_code == 400
    assert '<p class="reason">' in r.get_data(as_text=True)


def test_empty_database_overview_says_how_to_send_the_first_trace(tmp_path: Any) -> None:
    from streamscope.collector.store.sqlite import SQLiteStore

    store = SQLiteStore(str(tmp_path / "empty.db"), synchronous="OFF")
    try:
        client = create_app(store=store).test_client()
        body = _page(client, "/")
        assert 'id="empty-state"' in body and 'id="kpis"' not in body
        assert 'streamscope.init("http://127.0.0.1:4318", service_name="my-app")' in body.replace(
            "&#34;", '"'
        )
        assert "streamscope.instrument_openai()" in body and 'href="/quickstart"' in body
        assert "enable_langchain" in _page(client, "/quickstart")
        seed_debugging(store, time.time())
        filled = _page(client, "/")
        assert 'id="empty-state"' not in filled and 'id="kpis"' in filled
        # costs below a cent are shown as such, on the KPI and in the model table
        assert not re.search(r"\$0\.0000(?!\d)", filled)
        assert "$0.00314<" in filled and "$0.0031<" in filled and "$0.000042<" in filled
    finally:
        store.close()


def test_compare_two_models_side_by_side(client: FlaskClient) -> None:
    body = _page(client, "/compare?model_a=gpt-4o-mini&model_b=claude-haiku&range=24h")
    assert body.count('<figure class="compare-metric">') == 5
    assert 'class="side-a"' in body and 'class="side-b"' in body
    assert re.search(r'<tr class="row-a"><th>A</th><td class="num">\d+</td><td class="num">\d', body)
    assert "(log scale; A above the line, B below)" in body


def test_compare_two_streams(client: FlaskClient, seeded: Any) -> None:
    a, b = seeded.stall_stream, seeded.stream_ids[0]
    pick = _page(client, f"/compare?a={a}")
    assert f"/compare?a={a}&amp;b=" in pick and 'id="compare-candidates"' in pick
    body = _page(client, f"/compare?a={a}&b={b}")
    assert body.count('<svg class="timeline"') == 2 and 'id="compare-gaps"' in body
    assert body.count('class="stall"') == 1  # the stalled stream's stall, drawn on the shared scale
    assert "/compare?a=" in _page(client, "/streams")


@pytest.mark.parametrize(
    "url,status",
    [
        ("/compare?a=zz", 400),
        ("/compare?a=" + "1" * 16, 404),
        ("/compare?a=" + "1" * 16 + "&model_a=x", 400),
        ("/compare?range=2y", 400),
        ("/compare?x=1", 400),
    ],
)
def test_compare_bad_input(client: FlaskClient, url: str, status: int) -> None:
    assert client.get(url).status_code == status


def test_why_it_failed_shows_where_the_failure_started(dclient: FlaskClient, debug: Debugging) -> None:
    """The root passed the model call's error on: the summary names the model call, and says one step passed
    it on; both steps still show their failure in their own sections."""
    body = _page(dclient, f"/traces/{debug.error_trace}")
    summary = body[body.index('id="why-failed"') : body.index("<h2>Steps</h2>")]
    assert "chat gpt-4o-mini" in summary and "answer question" not in summary
    assert "1 step around it failed with the same error" in summary
    assert body.count('class="failure"') == 3  # the summary's, and one in each failed step's section


def test_status_filter_speaks_plain_words(client: FlaskClient) -> None:
    body = _page(client, "/traces")
    assert '<option value="unset">ok (no status set)</option>' in body
    assert '<option value="ok">ok (set by the app)</option>' in body and ">unset<" not in body
