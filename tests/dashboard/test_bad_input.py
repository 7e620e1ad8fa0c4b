"""Malformed, oversized and hostile input to every route and parameter gets a 4xx with a one-sentence reason,
and the app keeps serving."""

from __future__ import annotations

import re

import pytest
from dashboard_seed import Seeded
from flask.testing import FlaskClient

from streamscope.collector.store.memory import MemoryStore


@pytest.fixture
def store() -> MemoryStore:
    """Input validation happens before the store; one store implementation is enough here."""
    return MemoryStore()


LIST_PAGES = ["/traces", "/streams", "/api/traces", "/api/streams"]
CHART_PAGES = ["/", "/models", "/api/overview"]

BAD_LIST_QUERIES = [
    "nope=1",  # unknown parameter
    "%3Cscript%3E=1",  # hostile unknown parameter name
    "service=a&service=b",  # repeated
    "limit=0",
    "limit=-1",
    "limit=abc",
    "limit=100000",
    "limit=1e3",
    "limit=" + "9" * 40,
    "min_duration=nan",
    "min_duration=inf",
    "min_duration=-1",
    "min_duration=1e309",
    "min_duration=abc",
    "max_duration=" + "1" * 100,
    "min_duration=5&max_duration=1",
    "min_ttft=-0.5",
    "outcome=bogus",
    "outcome=%3Cscript%3E",
    "status=bogus",
    "range=1y",
    "range=24h&since=5",
    "since=10&until=5",
    "since=-1",
    "until=1e20",
    "cursor=%3Cscript%3Ealert(1)%3C/script%3E",
    "cursor=" + "1" * 300,
    "cursor=123_zz",
    "cursor=_",
    "cursor=abc",
    "q=" + "x" * 201,
    "q=a%00b",
    "service=a%0Ab",
    "model=" + "m" * 500,
    "session=%1b[31m",
    "user=" + "u" * 201,
]
BAD_CHART_QUERIES = [
    "nope=1",
    "service=a&service=b",
    "range=forever",
    "bucket=0",
    "bucket=-5",
    "bucket=999999",
    "bucket=x",
    "since=abc",
    "model=%00",
    "model=" + "m" * 300,
    "limit=5",
    "cursor=1_a",
    "range=30d&bucket=60",
]
BAD_TRACE_IDS = [
    "xyz",
    "0" * 31,
    "0" * 33,
    "g" * 32,
    "%3Cscript%3E",
    "0" * 5000,
    "%00" * 32,
    "-1",
    "+" * 32,
    "'%20OR%201=1--",
]
BAD_SPAN_IDS = ["xyz", "0" * 15, "0" * 17, "z" * 16, "%3Cimg%20src=x%3E", "0" * 5000]


def _assert_reasoned_4xx(client: FlaskClient, url: str, status: int = 400) -> None:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.data[:200])
    if url.startswith("/api/"):
        reason = response.get_json()["error"]
    else:
        match = re.search(r'<p class="reason">(.*?)</p>', response.get_data(as_text=True), re.S)
        assert match is not None, url
        reason = match.group(1)
    assert reason.endswith(".") and reason.count(". ") == 0 and len(reason) < 200, reason
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("query", BAD_LIST_QUERIES)
@pytest.mark.parametrize("page", LIST_PAGES)
def test_bad_list_parameters_get_400(client: FlaskClient, page: str, query: str) -> None:
    """Every malformed filter, limit, cursor or time range is rejected with a reason."""
    _assert_reasoned_4xx(client, f"{page}?{query}")


@pytest.mark.parametrize("query", BAD_CHART_QUERIES)
@pytest.mark.parametrize("page", CHART_PAGES)
def test_bad_overview_parameters_get_400(client: FlaskClient, page: str, query: str) -> None:
    """The overview, models page and chart API reject bad parameters too."""
    _assert_reasoned_4xx(client, f"{page}?{query}")


@pytest.mark.parametrize("raw", BAD_TRACE_IDS)
@pytest.mark.parametrize("prefix", ["/traces/", "/api/traces/"])
def test_bad_trace_ids_get_400(client: FlaskClient, prefix: str, raw: str) -> None:
    """Trace ids that are not 32 hex characters are rejected before any lookup."""
    _assert_reasoned_4xx(client, prefix + raw)


@pytest.mark.parametrize("raw", BAD_SPAN_IDS)
def test_bad_span_ids_get_400(client: FlaskClient, raw: str) -> None:
    """Span ids that are not 16 hex characters are rejected."""
    _assert_reasoned_4xx(client, f"/api/streams/{raw}/chunks")


@pytest.mark.parametrize(
    "url",
    [
        "/live?x=1",
        "/api/live?x=1",
        "/traces/" + "a" * 32 + "?x=1",
        "/api/streams/" + "a" * 16 + "/chunks?x=1",
    ],
)
def test_pages_without_parameters_reject_them(client: FlaskClient, url: str) -> None:
    """Pages that take no parameters say so."""
    _assert_reasoned_4xx(client, url)


def test_oversized_query_string_is_rejected(client: FlaskClient) -> None:
    """A query string over the limit is rejected without being parsed."""
    _assert_reasoned_4xx(client, "/traces?q=a&" + "&".join(f"k{i}=v" for i in range(600)))


@pytest.mark.parametrize("url", ["/nope", "/traces/a/b", "/static/../../etc/passwd", "/api/nope"])
def test_unknown_paths_get_friendly_404(client: FlaskClient, url: str) -> None:
    """Unknown paths get a friendly 404, never a stack trace."""
    _assert_reasoned_4xx(client, url, 404)


def test_wrong_method_gets_405(client: FlaskClient) -> None:
    """POST to a page is refused with a reason."""
    response = client.post("/traces", data={"x": "1"})
    assert response.status_code == 405
    assert "does not accept that method" in response.get_data(as_text=True)


def test_undecodable_query_bytes_do_not_break_the_page(client: FlaskClient) -> None:
    """Invalid UTF-8 in a filter value is decoded with replacement characters and simply matches nothing."""
    response = client.get("/streams?service=%ff%fe")
    assert response.status_code == 200
    assert "No streams match these filters." in response.get_data(as_text=True)


def test_app_stays_up_after_the_whole_battery(client: FlaskClient, seeded: Seeded) -> None:
    """After a burst of hostile requests every page still works."""
    for query in BAD_LIST_QUERIES:
        client.get(f"/traces?{query}")
    for raw in BAD_TRACE_IDS:
        client.get(f"/traces/{raw}")
    assert client.get("/").status_code == 200
    assert client.get(f"/traces/{seeded.xss_trace}").status_code == 200


def test_unexpected_errors_get_a_friendly_500(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure inside the data layer is logged and shown as a friendly page without internals."""
    state = client.application.extensions["streamscope"]

    def broken(filters: object) -> dict[str, object]:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(state.source, "traces", broken)
    response = client.get("/traces")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "secret internal detail" not in text and "Traceback" not in text
    assert "Something went wrong on our side" in text
    assert client.get("/api/traces").get_json() == {
        "error": "Something went wrong on our side; the error was logged."
    }
