"""LLM output and attribute values are untrusted: they render as text everywhere, under a strict CSP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dashboard_seed import XSS_ATTR, XSS_CONTENT, XSS_MODEL, XSS_NAME, Seeded
from flask.testing import FlaskClient

import streamscope.dashboard

PACKAGE = Path(streamscope.dashboard.__file__).parent
PAYLOADS = (*XSS_CONTENT, XSS_NAME, XSS_ATTR, XSS_MODEL)


def _all_pages(seeded: Seeded) -> list[str]:
    return [
        "/",
        "/traces",
        "/streams",
        "/live",
        "/models",
        f"/traces/{seeded.xss_trace}",
        "/traces?q=app.note",
        "/streams?model=" + XSS_MODEL.replace(" ", "%20").replace("=", "%3D"),
    ]


def test_payloads_never_appear_raw_in_any_page(client: FlaskClient, seeded: Seeded) -> None:
    """No page contains a payload unescaped."""
    for url in _all_pages(seeded):
        html = client.get(url).get_data(as_text=True)
        for payload in PAYLOADS:
            assert payload not in html, (url, payload)


def test_trace_page_shows_payloads_as_escaped_text(client: FlaskClient, seeded: Seeded) -> None:
    """The XSS trace shows its chunk text, span name and attribute escaped (visible, not executable)."""
    html = client.get(f"/traces/{seeded.xss_trace}").get_data(as_text=True)
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=&#34;window.__xss=2&#34;&gt;" in html
    assert "&lt;script&gt;window.__xss=3&lt;/script&gt;" in html
    assert "&lt;/script&gt;&lt;script&gt;window.__xss=4&lt;/script&gt;" in html


def test_only_external_scripts_are_used(client: FlaskClient, seeded: Seeded) -> None:
    """Every <script> tag on every page has a same-origin src and no inline body."""
    for url in _all_pages(seeded):
        html = client.get(url).get_data(as_text=True)
        for tag, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
            assert re.fullmatch(r' src="/static/[\w./-]+"', tag), (url, tag)
            assert body == ""


@pytest.mark.parametrize("url", ["/", "/traces", "/nope", "/api/traces", "/traces/xyz", "/static/app.css"])
def test_every_response_carries_a_strict_csp(client: FlaskClient, url: str) -> None:
    """The CSP forbids inline script and style and third-party origins on every response, errors included."""
    with client.get(url) as response:
        csp = response.headers["Content-Security-Policy"]
        nosniff = response.headers["X-Content-Type-Options"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert nosniff == "nosniff"


def test_api_serves_payloads_as_json_text(client: FlaskClient, seeded: Seeded) -> None:
    """The chunks API returns the payloads as JSON strings with a JSON content type."""
    response = client.get(f"/api/streams/{seeded.xss_stream}/chunks")
    assert response.mimetype == "application/json"
    contents = {c["content"] for c in response.get_json()["chunks"]}
    assert set(XSS_CONTENT) <= contents


def test_templates_never_mark_data_safe() -> None:
    """No template uses |safe, Markup, autoescape off, inline styles, inline handlers or inline scripts."""
    for path in (PACKAGE / "templates").rglob("*.html"):
        text = path.read_text()
        assert "|safe" not in text.replace(" ", ""), path
        assert "autoescape false" not in text, path
        assert not re.search(r"\sstyle=", text), path
        assert not re.search(r"\son[a-z]+=", text), path
        assert not re.search(r"<script(?![^>]*\ssrc=)", text), path
        assert "<style" not in text, path
    for path in PACKAGE.rglob("*.py"):
        assert "Markup(" not in path.read_text(), path


def test_scripts_insert_text_only() -> None:
    """Our scripts never build HTML from strings (no innerHTML, outerHTML, insertAdjacentHTML, eval)."""
    for path in (PACKAGE / "static").glob("*.js"):
        text = path.read_text()
        for sink in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ):
            assert sink not in text, (path, sink)


def test_nothing_is_loaded_from_a_cdn() -> None:
    """Templates and scripts reference no external origin; Chart.js is vendored with its license."""
    for path in [*(PACKAGE / "templates").rglob("*.html"), *(PACKAGE / "static").glob("*.js")]:
        assert not re.search(r"(src|href)=\"(https?:)?//", path.read_text()), path
        assert 'fetch("http' not in path.read_text(), path
    assert (PACKAGE / "static/vendor/chart.umd.min.js").read_text().startswith("/*!\n * Chart.js v4")
    assert "MIT" in (PACKAGE / "static/vendor/chart.js.LICENSE.md").read_text()
