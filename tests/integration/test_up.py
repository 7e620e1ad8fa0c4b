"""The README's main command, for real: ``bash scripts/up.sh`` (collector + dashboard + fake LLM + demo).

Within a minute the collector holds streams of every kind the demo makes (every outcome, stalls, an agent with
tools, chains, raw openai streams, several models); the dashboard shows them in real headless Chromium
(screenshots under ``build/test-artifacts/up/``); Ctrl-C stops everything cleanly, frees the ports and keeps the
data; a port already taken is refused before anything starts.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamscope.collector.model import Filters
from streamscope.collector.store.sqlite import SQLiteStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("STREAMSCOPE_ARTIFACTS", ROOT / "build" / "test-artifacts")) / "up"
OUTCOMES = {"completed", "abandoned", "cancelled", "error", "timeout"}
MINUTE = 60.0


@dataclass
class Up:
    proc: subprocess.Popen[str]
    data_dir: Path
    collector: str = ""
    grpc: str = ""
    dashboard: str = ""
    llm: str = ""
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None
    started: float = field(default_factory=time.monotonic)

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.collector + path, params=params, timeout=10)
        response.raise_for_status()
        return response.json()


def _wait(condition: Any, what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def _start(data_dir: Path, *extra: str) -> Up:
    proc = subprocess.Popen(
        [
            "bash",
            "scripts/up.sh",
            "--data-dir",
            str(data_dir),
            "--http-port",
            "0",
            "--grpc-port",
            "0",
            "--ui-port",
            "0",
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    up = Up(proc, data_dir)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            up.lines.append(line)
            match = re.match(r"listening on (\S+)(?: \((dashboard|fake LLM)\))?$", line.strip())
            if not match:
                continue
            url, what = match.groups()
            if what == "dashboard":
                up.dashboard = url
            elif what == "fake LLM":
                up.llm = url
            elif url.startswith("grpc://"):
                up.grpc = url
            elif not up.collector:
                up.collector = url

    up.reader = threading.Thread(target=read, daemon=True)
    up.reader.start()
    return up


def _stop(up: Up, sig: int = signal.SIGINT, timeout: float = 60) -> int:
    if up.proc.poll() is None:
        os.kill(up.proc.pid, sig)
        try:
            up.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(up.proc.pid, signal.SIGKILL)
            up.proc.wait(10)
            raise AssertionError(
                "streamscope up did not stop within a minute:\n" + "".join(up.lines)
            ) from None
    if up.reader is not None:
        up.reader.join(10)  # it ends at EOF, once every process holding the pipe has exited
    if up.proc.stdout is not None:
        up.proc.stdout.close()
    return int(up.proc.returncode)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    running = _start(tmp_path_factory.mktemp("up") / "data", "--demo", "--demo-rate", "3")
    try:
        _wait(
            lambda: running.collector and running.dashboard and running.llm and running.grpc,
            "up to print its listening lines",
            120,
        )
        yield running
    finally:
        _stop(running)


def _kinds(up: Up) -> dict[str, Any]:
    streams = up.get("/api/streams", limit=500)["streams"]
    traces = up.get("/api/traces", limit=500)["traces"]
    return {
        "outcomes": {s["outcome"] for s in streams},
        "models": {s["model"] for s in streams},
        "stalled": any(s["stall_count"] for s in streams),
        "roots": {t["root_name"] for t in traces},
        "sessions": {s["session_id"] for s in streams} - {None},
        "streams": streams,
        "traces": traces,
    }


def _every_kind(up: Up) -> dict[str, Any] | None:
    kinds = _kinds(up)
    complete = (
        kinds["outcomes"] >= OUTCOMES
        and len(kinds["models"]) >= 3
        and kinds["stalled"]
        and {"POST /chat", "POST /agent", "POST /extract", "POST /complete"} <= kinds["roots"]
    )
    return kinds if complete else None


def test_every_kind_of_stream_arrives_within_a_minute(up: Up) -> None:
    kinds = _wait(lambda: _every_kind(up), "streams of every kind", MINUTE)
    assert time.monotonic() - up.started < MINUTE + 60  # start-up (bootstrap, three servers) plus the minute
    assert len(kinds["sessions"]) > 1
    agent = next(t for t in kinds["traces"] if t["root_name"] == "POST /agent" and t["status"] != "error")
    spans = up.get(f"/api/traces/{agent['trace_id']}")["spans"]
    names = [s["name"] for s in spans]
    assert any(n.startswith("invoke_agent") for n in names), names
    assert any(n == "execute_tool search_docs" for n in names), names
    assert sum(n.startswith("chat ") for n in names) >= 2  # one model stream per agent step
    errors = [s for s in kinds["streams"] if s["outcome"] == "error"]
    assert all(s["error_type"] for s in errors)


def test_the_dashboard_shows_the_demo(up: Up) -> None:
    """Overview charts with data, every outcome in the streams list, an agent trace with its chunk timelines."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
        pytest.skip("Chromium is not installed (bash scripts/system-deps.sh)")
    kinds = _wait(lambda: _every_kind(up), "streams of every kind", MINUTE)
    agent = next(t for t in kinds["traces"] if t["root_name"] == "POST /agent" and t["status"] != "error")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

        page.goto(up.dashboard + "/?range=1h")
        page.wait_for_function("() => document.body.dataset.chartsReady === 'true'")
        points = page.evaluate("""() => Array.from(document.querySelectorAll('canvas')).map(c => {
            const chart = Chart.getChart(c);
            return chart ? chart.data.datasets.reduce(
                (n, d) => n + d.data.filter(v => v !== null && v !== 0).length, 0) : 0; })""")
        assert points and all(n > 0 for n in points), points
        page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

        for outcome in sorted(OUTCOMES):
            page.goto(f"{up.dashboard}/streams?outcome={outcome}&limit=50")
            rows = page.locator("#streams tbody tr")
            assert rows.count() > 0, outcome
            assert rows.locator(f".outcome-{outcome}").count() == rows.count()
        page.goto(f"{up.dashboard}/streams?limit=100")
        page.screenshot(path=str(ARTIFACTS / "streams.png"), full_page=True)

        page.goto(f"{up.dashboard}/traces/{agent['trace_id']}")
        timelines = page.locator("section[id^=stream-]")
        assert timelines.count() >= 2  # the agent's tool-calling step(s) and its streamed answer
        for i in range(timelines.count()):
            section = timelines.nth(i)
            stream_id = (section.get_attribute("id") or "").removeprefix("stream-")
            chunks = up.get(f"/api/streams/{stream_id}/chunks")["chunks"]
            assert section.locator("rect.chunk").count() == len(chunks) > 0
            titles = section.locator("line.marker title").all_text_contents()
            # tool-call steps have no content token (no TTFT marker) but a first-tool-call marker
            assert section.locator("line.marker.ttft").count() == 1 or any("tool" in t for t in titles), (
                titles
            )
        assert timelines.last.locator("line.marker.ttft").count() == 1  # the final answer streams text
        page.screenshot(path=str(ARTIFACTS / "agent-trace.png"), full_page=True)

        for path in ("/traces", "/models", "/live"):
            page.goto(up.dashboard + path)
            page.wait_for_load_state("networkidle")
        browser.close()
    assert errors == []


def _refused(url: str) -> bool:
    host, port = url.split("//")[1].rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) != 0


def test_ctrl_c_stops_everything_keeps_the_data_and_frees_the_ports(tmp_path: Path) -> None:
    running = _start(tmp_path / "data", "--demo", "--demo-rate", "5")
    try:
        _wait(lambda: running.collector and running.dashboard and running.llm, "listening lines", 120)
        seen = _wait(
            lambda: [s["span_id"] for s in running.get("/api/streams", limit=500)["streams"]] or None,
            "the first streams",
            MINUTE,
        )
    finally:
        code = _stop(running)
    output = "".join(running.lines)
    assert code == 0, output
    assert "stopped; data kept in" in output and "Traceback" not in output
    for url in (
        running.collector,
        running.dashboard,
        running.llm,
        running.grpc.replace("grpc://", "http://"),
    ):
        assert _refused(url), url
    store = SQLiteStore(str(tmp_path / "data" / "streamscope.db"))
    try:
        kept = {s.span_id for s in store.streams(Filters(), None)}
    finally:
        store.close()
    assert set(seen) <= kept  # everything acknowledged before Ctrl-C is on disk
    assert len(kept) >= len(seen)


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                "bash",
                "scripts/up.sh",
                "--data-dir",
                str(tmp_path / "data"),
                "--http-port",
                "0",
                "--grpc-port",
                "0",
                "--ui-port",
                str(port),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()
    assert message == [
        f"Error: port {port} on 127.0.0.1 is already in use: stop what holds it, or pick another "
        "with --ui-port (0 picks a free port)."
    ]
    assert "listening on" not in result.stdout
    assert not (tmp_path / "data").exists()


def test_retention_flags_reach_the_collector(tmp_path: Path) -> None:
    running = _start(tmp_path / "data", "--retention", "2", "--max-db-size", "5MB")
    try:
        _wait(lambda: running.collector and running.dashboard, "listening lines", 120)
        line = _wait(
            lambda: next((ln.strip() for ln in running.lines if ln.startswith("retention:")), None),
            "the retention line",
            30,
        )
    finally:
        code = _stop(running)
    assert code == 0, "".join(running.lines)
    assert line == (
        "retention: traces older than 2 h and the oldest traces while the database is over 5 MB are "
        "deleted in the background"
    )


def test_a_bad_size_is_refused_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", "scripts/up.sh", "--data-dir", str(tmp_path / "data"), "--max-db-size", "lots"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: Invalid value for '--max-db-size': 'lots' is not a size; use a number with B, KB, MB, "
        "GB, TB, KiB, MiB, GiB or TiB."
    ], result.stderr
    assert not (tmp_path / "data").exists()
