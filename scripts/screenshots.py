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
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}

# Landmarks per page: present or not, and their horizontal place, make up a page's layout.
LANDMARKS = {
    "overview": ["header.top", "h1", "nav.ranges", "form.filters", "#kpis", "section.charts", "table.list"],
    "traces": ["header.top", "h1", "nav.ranges", "form.filters", "#traces"],
    "trace-stall": ["header.top", "h1", "#waterfall", "ul.legend", "section.stream", "svg.timeline"],
    "trace-error": [
        "header.top",
        "h1",
        "#why-failed",
        "#waterfall",
        "ul.legend",
        "section.stream",
        "svg.timeline",
    ],
    "streams": ["header.top", "h1", "form.filters", "#streams"],
    "errors": ["header.top", "h1", "nav.ranges", "form.filters", "#errors"],
    "sessions": ["header.top", "h1", "nav.ranges", "form.filters", "#sessions"],
    "session": ["header.top", "h1", "#session-totals", "#session-traces"],
    "compare": ["header.top", "h1", "form.filters", "#compare-models"],
    "overview-user": [
        "header.top",
        "h1",
        "nav.ranges",
        "form.filters",
        "#active-filters",
        "#kpis",
        "section.charts",
        "table.list",
    ],
    "trace-progress": ["header.top", "h1", "#in-progress", "#waterfall"],
    "live": ["header.top", "h1", "form.filters", "#live", "#finished"],
    "models": ["header.top", "h1", "nav.ranges", "form.filters", "#models", "section.charts"],
    "empty": ["header.top", "h1", "#empty-state", "#first-trace", "#quickstart-link"],
}
IN_PROGRESS_WAIT = (
    60.0  # seconds to wait for a trace whose root has not arrived (a demo makes one every few s)
)


def _api(dashboard: str, path: str, **params: Any) -> Any:
    return httpx.get(f"{dashboard}{path}", params=params, timeout=30).json()


def _first_stream(dashboard: str, pick: Callable[[dict[str, Any]], bool], **params: Any) -> dict[str, Any]:
    streams = _api(dashboard, "/api/streams", limit=500, **params)["streams"]
    return next(s for s in streams if pick(s))


def _open_in_progress(page: Page, dashboard: str) -> None:
    """Open a trace whose root step has not arrived yet (``waiting_for_root``), still in progress when its page
    loads: in a running demo one is always under way (this retries until one is caught before its root arrives);
    the seeded test data has one that stays."""
    deadline = time.monotonic() + IN_PROGRESS_WAIT
    while time.monotonic() < deadline:
        for t in _api(dashboard, "/api/traces", limit=500)["traces"]:
            if t.get("waiting_for_root"):
                page.goto(f"{dashboard}/traces/{t['trace_id']}")
                if page.locator("#in-progress").count():
                    return
        time.sleep(0.2)
    raise SystemExit("no trace in progress: take the screenshots while a demo is running")


def _busiest_user(dashboard: str) -> str:
    """The user with the most of the newest 500 streams (for the filtered overview)."""
    counts: dict[str, int] = {}
    for s in _api(dashboard, "/api/streams", limit=500)["streams"]:
        if s.get("user_id"):
            counts[s["user_id"]] = counts.get(s["user_id"], 0) + 1
    return max(sorted(counts), key=lambda u: counts[u])


def empty_dashboard() -> tuple[str, Callable[[], None]]:
    """A dashboard over an empty store on a free loopback port (for the first-run page): its URL and a stop."""
    from werkzeug.serving import make_server

    from streamscope.collector.store.memory import MemoryStore
    from streamscope.dashboard import create_app

    server = make_server("127.0.0.1", 0, create_app(store=MemoryStore()), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(10)
        server.server_close()

    return f"http://127.0.0.1:{server.server_port}", stop


def layout(page: Page, selectors: list[str]) -> dict[str, Any]:
    """Each landmark's presence and horizontal place (fractions of the viewport width, to 0.05)."""
    found = page.evaluate(
        """sels => sels.map(sel => { const el = document.querySelector(sel);
             if (!el) return [sel, null];
             const r = el.getBoundingClientRect();
             return [sel, [r.left / window.innerWidth, r.width / window.innerWidth]]; })""",
        selectors,
    )
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
    user = _busiest_user(dashboard)
    empty, stop_empty = empty_dashboard()
    pages: list[tuple[str, str, Callable[[Page], None] | None]] = [
        (
            "overview",
            "/?range=24h",
            lambda p: p.wait_for_function("() => document.body.dataset.chartsReady === 'true'"),
        ),
        ("traces", "/traces?range=24h&limit=25", None),
        (
            "trace-stall",
            f"/traces/{stalled['trace_id']}",
            lambda p: p.locator(f"#stream-{stalled['span_id']} rect.stall").first.hover(),
        ),
        ("trace-error", f"/traces/{failed['trace_id']}", None),
        ("streams", "/streams?limit=25", None),
        ("errors", "/errors?range=24h", None),
        ("sessions", "/sessions?range=24h&limit=25", None),
        (
            "session",
            "/sessions?range=24h&limit=100",
            lambda p: (  # the listed session with the most traces
                p.evaluate("""() => Array.from(document.querySelectorAll('#sessions tbody tr'))
                .filter(r => r.querySelector('a.session-link'))
                .sort((x, y) => Number(y.cells[4].textContent.replace(/,/g, ''))
                                - Number(x.cells[4].textContent.replace(/,/g, '')))[0]
                .querySelector('a.session-link').click()"""),
                p.wait_for_selector("#session-traces"),
            ),
        ),
        ("compare", "/compare?range=24h", None),
        (
            "overview-user",
            f"/?user={quote(user)}",
            lambda p: p.wait_for_function("() => document.body.dataset.chartsReady === 'true'"),
        ),
        ("trace-progress", "in-progress", None),
        ("live", "/live", None),
        ("models", "/models?range=24h", None),
        ("empty", empty + "/", None),
    ]
    out.mkdir(parents=True, exist_ok=True)
    layouts = {}
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        for name, path, then in pages:
            if path == "in-progress":
                _open_in_progress(page, dashboard)
            else:
                page.goto(path if path.startswith("http") else dashboard + path)
            page.wait_for_load_state("networkidle")
            if then is not None:
                then(page)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            layouts[name] = layout(page, LANDMARKS[name])
            (out / f"{name}.layout.json").write_text(json.dumps(layouts[name], indent=1) + "\n")
    finally:
        context.close()
        stop_empty()
    return layouts


if __name__ == "__main__":
    capture(sys.argv[1].rstrip("/"), OUT)
