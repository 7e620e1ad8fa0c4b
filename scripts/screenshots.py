"""Regenerate the README's screenshots from a running ``streamscope up --demo``.

    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8000 http://127.0.0.1:4318

Takes the overview (last 15 minutes), the streams list, and the trace page of a stream with a stall and of an
agent run, in headless Chromium (``/usr/bin/chromium``), into ``docs/images/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main(dashboard: str, collector: str) -> None:
    streams = httpx.get(f"{collector}/api/streams", params={"limit": 500}, timeout=10).json()["streams"]
    stalled = next(s for s in streams if s["stall_count"] and s["outcome"] == "completed")
    traces = httpx.get(f"{collector}/api/traces", params={"limit": 500}, timeout=10).json()["traces"]
    agent = next(t for t in traces if t["root_name"] == "POST /agent" and t["status"] != "error")
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{dashboard}/?range=15m")
        page.wait_for_function("() => document.body.dataset.chartsReady === 'true'")
        page.screenshot(path=str(OUT / "overview.png"), full_page=True)
        page.goto(f"{dashboard}/traces/{stalled['trace_id']}")
        page.locator(f"#stream-{stalled['span_id']} rect.stall").first.hover()
        page.screenshot(path=str(OUT / "trace-stall.png"), full_page=True)
        page.goto(f"{dashboard}/traces/{agent['trace_id']}")
        page.screenshot(path=str(OUT / "trace-agent.png"), full_page=True)
        page.goto(f"{dashboard}/streams?limit=25")
        page.screenshot(path=str(OUT / "streams.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/"))
