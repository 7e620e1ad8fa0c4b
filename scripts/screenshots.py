"""Regenerate the documentation's screenshots from a running dashboard (best: ``streamscope up --demo`` after a
minute or two of demo traffic).

    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8000            # writes docs/images/

Each page is saved as ``NAME.png`` with ``NAME.layout.json`` next to it: where its landmarks (title, filters,
tables, charts, timeline, ...) sit, as fractions of the page width. The browser test run
(``tests/dashboard/test_browser.py``) takes the same screenshots of its own server and compares their layouts
with the committed ones (not pixels: the data differs), so a page whose layout changed fails the suite until this
script is run again.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 900}

# Landmarks per page: present or not, and their horizontal place, make up a page's layout.
LANDMARKS = {
    "overview": ["header.top", "h1", "nav.ranges", "form.filters", "#kpis", "section.charts", "table.list"],
    "traces": ["header.top", "h1", "nav.ranges", "form.filters", "#traces"],
    "trace-stall": ["header.top", "h1", "#waterfall", "ul.legend", "section.stream", "svg.timeline"],
    "trace-error": ["header.top", "h1", "#why-failed", "#waterfall", "ul.legend", "section.stream",
                    "svg.timeline"],
    "streams": ["header.top", "h1", "form.filters", "#streams"],
    "errors": ["header.top", "h1", "nav.ranges", "form.filters", "#errors"],
    "sessions": ["header.top", "h1", "nav.ranges", "form.filters", "#sessions"],
    "session": ["header.top", "h1", "#session-totals", "#session-traces"],
    "compare": ["header.top", "h1", "form.filters", "#compare-models"],
}


def _api(dashboard: str, path: str, **params: Any) -> Any:
    return httpx.get(f"{dashboard}{path}", params=params, timeout=30).json()


def _first_stream(dashboard: str, pick: Callable[[dict[str, Any]], bool], **params: Any) -> dict[str, Any]:
    streams = _api(dashboard, "/api/streams", limit=500, **params)["streams"]
    return next(s for s in streams if pick(s))


def layout(page: Page, selectors: list[str]) -> dict[str, Any]:
    """Each landmark's presence and horizontal place (fractions of the viewport width, to 0.05)."""
    found = page.evaluate(
        """sels => sels.map(sel => { const el = document.querySelector(sel);
             if (!el) return [sel, null];
             const r = el.getBoundingClientRect();
             return [sel, [r.left / window.innerWidth, r.width / window.innerWidth]]; })""", selectors)
    return {sel: None if box is None else [round(v * 20) / 20 for v in box] for sel, box in found}


def capture(dashboard: str, out: Path, browser: Browser | None = None) -> dict[str, dict[str, Any]]:
    """Take every screenshot into ``out``; returns the layouts (also written as ``NAME.layout.json``). Uses
    ``browser`` when given (the tests' Chromium), else launches ``/usr/bin/chromium``."""
    if browser is None:
        with sync_playwright() as pw:
            launched = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            try:
                return capture(dashboard, out, launched)
            finally:
                launched.close()
    stalled = _first_stream(dashboard, lambda s: bool(s["stall_count"]) and s["outcome"] == "completed")
    failed = _first_stream(dashboard, lambda s: True, outcome="error")
    pages: list[tuple[str, str, Callable[[Page], None] | None]] = [
        ("overview", "/?range=24h", lambda p: p.wait_for_function(
            "() => document.body.dataset.chartsReady === 'true'")),
        ("traces", "/traces?range=24h&limit=25", None),
        ("trace-stall", f"/traces/{stalled['trace_id']}", lambda p: p.locator(
            f"#stream-{stalled['span_id']} rect.stall").first.hover()),
        ("trace-error", f"/traces/{failed['trace_id']}", None),
        ("streams", "/streams?limit=25", None),
        ("errors", "/errors?range=24h", None),
        ("sessions", "/sessions?range=24h&limit=25", None),
        ("session", "/sessions?range=24h&limit=100", lambda p: (  # the listed session with the most traces
            p.evaluate("""() => Array.from(document.querySelectorAll('#sessions tbody tr'))
                .filter(r => r.querySelector('a.session-link'))
                .sort((x, y) => Number(y.cells[4].textContent.replace(/,/g, ''))
                                - Number(x.cells[4].textContent.replace(/,/g, '')))[0]
                .querySelector('a.session-link').click()"""), p.wait_for_selector("#session-traces"))),
        ("compare", "/compare?range=24h", None),
    ]
    out.mkdir(parents=True, exist_ok=True)
    layouts = {}
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        for name, path, then in pages:
            page.goto(dashboard + path)
            page.wait_for_load_state("networkidle")
            if then is not None:
                then(page)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            layouts[name] = layout(page, LANDMARKS[name])
            (out / f"{name}.layout.json").write_text(json.dumps(layouts[name], indent=1) + "\n")
    finally:
        context.close()
    return layouts


if __name__ == "__main__":
    capture(sys.argv[1].rstrip("/"), OUT)
