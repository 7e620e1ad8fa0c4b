"""Real headless Chromium (Playwright) against a real `streamscope dashboard` server on a free port.

Screenshots of every page are saved under ``build/test-artifacts/dashboard/`` (or ``$STREAMSCOPE_ARTIFACTS``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from dashboard_seed import XSS_CONTENT, Seeded, one_trace, seed
from debug_seed import XSS_PROMPT, XSS_RESULT, XSS_STACK, Debugging, seed_debugging

from streamscope.collector.store.sqlite import SQLiteStore

pytestmark = pytest.mark.browser

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
ARTIFACTS = (
    Path(
        os.environ.get(
            "STREAMSCOPE_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
        )
    )
    / "dashboard"
)

if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
    pytest.skip("Chromium is not installed (bash scripts/system-deps.sh)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Server:
    url: str
    db: str
    seeded: Seeded
    debug: Debugging
    proc: subprocess.Popen[str] = field(repr=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`streamscope dashboard --db ... --port 0` over a seeded SQLite store, stopped by PID afterwards."""
    db = str(tmp_path_factory.mktemp("dash") / "spans.db")
    store = SQLiteStore(db, synchronous="OFF")
    seeded = seed(store, time.time())
    debug = seed_debugging(store, time.time())
    store.close()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from streamscope.cli import main; main()",
            "dashboard",
            "--db",
            db,
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:") and line.endswith(" (dashboard)"), line
        yield Server(url=line.split()[2], db=db, seeded=seeded, debug=debug, proc=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@dataclass
class Console:
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def page(browser: sync_api.Browser) -> Iterator[tuple[sync_api.Page, Console]]:
    """A fresh page that records console errors, uncaught exceptions and failed requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    console = Console()
    pg.on("console", lambda msg: console.errors.append(msg.text) if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: console.errors.append(f"pageerror: {exc}"))
    pg.on("requestfailed", lambda req: console.errors.append(f"requestfailed: {req.url}"))
    yield pg, console
    context.close()


def _shot(pg: sync_api.Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize(
    "name,path",
    [
        ("overview", "/"),
        ("traces", "/traces"),
        ("streams", "/streams"),
        ("live", "/live"),
        ("models", "/models"),
    ],
)
def test_pages_load_without_console_errors(
    server: Server, page: tuple[sync_api.Page, Console], name: str, path: str
) -> None:
    """Each page loads, shows its table and logs no console error (CSP violations included)."""
    pg, console = page
    response = pg.goto(server.url + path)
    assert response is not None and response.status == 200
    pg.wait_for_load_state("networkidle")
    if name in ("overview", "models"):
        pg.wait_for_function("() => document.body.dataset.chartsReady === 'true'")
    assert pg.locator("table.list").count() >= 1
    _shot(pg, name)
    assert console.errors == []


def test_overview_charts_draw_data(server: Server, page: tuple[sync_api.Page, Console]) -> None:
    """Every overview chart is a Chart.js chart with data and paints non-blank pixels."""
    pg, console = page
    pg.goto(server.url + "/?range=24h")
    pg.wait_for_function("() => document.body.dataset.chartsReady === 'true'")
    result = pg.evaluate("""() => Array.from(document.querySelectorAll('canvas')).map(c => {
        const chart = Chart.getChart(c);
        const points = chart ? chart.data.datasets.reduce(
            (n, d) => n + d.data.filter(v => v !== null && v !== 0).length, 0) : 0;
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let painted = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) painted++;
        const sums = chart ? Object.fromEntries(chart.data.datasets.map(
            d => [d.label, d.data.reduce((a, v) => a + (v || 0), 0)])) : {};
        return {id: c.id, points, painted, datasets: chart ? chart.data.datasets.length : 0, sums};
    })""")
    assert len(result) == 7
    for chart in result:
        assert chart["datasets"] >= 1 and chart["points"] > 0 and chart["painted"] > 1000, chart
    # every non-completed outcome is a series of the outcomes chart, with the seeded streams' counts
    (outcomes,) = [c for c in result if c["id"] == "chart-outcomes"]
    assert list(outcomes["sums"]) == ["error", "abandoned", "cancelled", "timeout"]
    assert all(v > 0 for v in outcomes["sums"].values()), outcomes["sums"]
    assert console.errors == []


def test_stream_filters_change_results(server: Server, page: tuple[sync_api.Page, Console]) -> None:
    """Choosing an outcome in the form narrows the list and the URL keeps the filter."""
    pg, console = page
    pg.goto(server.url + "/streams?limit=500")
    everything = pg.locator("#streams tbody tr").count()
    pg.select_option("select[name=outcome]", "error")
    pg.click("form.filters button[type=submit]")
    pg.wait_for_url("**/streams?*outcome=error*")
    rows = pg.locator("#streams tbody tr")
    assert 0 < rows.count() < everything
    assert rows.locator(".outcome-error").count() == rows.count()
    _shot(pg, "streams-filtered")
    assert console.errors == []


def test_traces_pagination(server: Server, page: tuple[sync_api.Page, Console]) -> None:
    """The next-page link shows the following traces and the first-page link returns."""
    pg, console = page
    pg.goto(server.url + "/traces?limit=10")
    first = pg.locator("#traces tbody td.mono").all_inner_texts()
    pg.click("a[rel=next]")
    pg.wait_for_url("**cursor=*")
    second = pg.locator("#traces tbody td.mono").all_inner_texts()
    assert len(first) == len(second) == 10 and not set(first) & set(second)
    pg.click("a[rel=first]")
    pg.wait_for_url(lambda url: "cursor=" not in url)  # the click only starts the navigation
    assert pg.locator("#traces tbody td.mono").all_inner_texts() == first
    assert console.errors == []


def test_chunk_timeline_shows_every_chunk_ttft_and_stall(
    server: Server, page: tuple[sync_api.Page, Console]
) -> None:
    """The trace page draws one mark per chunk, the TTFT marker and the stall; hovering shows chunk details."""
    pg, console = page
    s = server.seeded
    pg.goto(f"{server.url}/traces/{s.stall_trace}")
    section = pg.locator(f"#stream-{s.stall_stream}")
    assert section.locator("rect.chunk").count() == s.stall_chunks
    assert section.locator("line.marker.ttft").count() == 1
    assert section.locator("rect.stall").count() == 1
    assert pg.locator("#waterfall tbody tr.step").count() == 3
    title = section.locator("rect.chunk").nth(10).locator("title").text_content() or ""
    assert title.startswith("#10 · content") and "gap 2.50 s" in title
    section.locator("rect.chunk").nth(10).hover()
    _shot(pg, "trace-detail")
    assert console.errors == []


def test_xss_payloads_stay_text(server: Server, page: tuple[sync_api.Page, Console]) -> None:
    """Payloads in chunk content, span names, attributes and model names render as text and never run."""
    pg, console = page
    s = server.seeded
    pg.goto(f"{server.url}/traces/{s.xss_trace}")
    pg.click(f"#stream-{s.xss_stream} .replay-button")
    pg.wait_for_function("() => document.querySelector('.stream-text').dataset.full === 'true'")
    text = pg.locator(f"#stream-{s.xss_stream} .stream-text").inner_text()
    assert XSS_CONTENT[0] in text and XSS_CONTENT[1] in text
    pg.locator(f"#stream-{s.xss_stream} details.chunks summary").click()
    assert XSS_CONTENT[0] in pg.locator(f"#stream-{s.xss_stream} .chunk-table").inner_text()
    assert pg.locator("h1, summary").filter(has_text="<script>window.__xss=3</script>").count() >= 1
    assert pg.locator("img[src=x]").count() == 0
    _shot(pg, "xss-trace")
    for path in ("/", "/streams", "/models", "/traces"):
        pg.goto(server.url + path)
        pg.wait_for_load_state("networkidle")
        assert pg.locator("img[src=x]").count() == 0
    assert pg.evaluate("typeof window.__xss") == "undefined"
    assert console.errors == []


def test_live_page_picks_up_new_streams(server: Server, page: tuple[sync_api.Page, Console]) -> None:
    """A stream written while /live is open appears without a reload (polling)."""
    pg, console = page
    pg.goto(server.url + "/live")
    pg.wait_for_function("() => Number(document.body.dataset.polls || 0) >= 1")
    batch = one_trace(
        900,
        time.time() + 2900,
        model="gpt-4o-mini",
        provider="openai",
        outcome="completed",
        service="chat-api",
        n_chunks=4,
    )
    store = SQLiteStore(server.db, synchronous="OFF")
    try:
        store.write(batch)
    finally:
        store.close()
    span_id = batch.streams[0].span_id
    pg.wait_for_selector(f"#finished tr[data-span-id='{span_id}']", timeout=10_000)
    _shot(pg, "live")
    assert console.errors == []


LIVE_APP = """
import sys
import streamscope
from streamscope.engine import FakeStreamingChatModel

tracing = streamscope.init(sys.argv[1], service_name="browser-live-app", live_interval=0.2, set_global=False)
model = FakeStreamingChatModel(chunks=[f"word{i} " for i in range(12)], gap=0.3, model="fake-live-browser")
for i, chunk in enumerate(model.stream("hi")):
    if i == 3:
        print("paused", flush=True)  # mid-stream: the test looks at /live now, then lets the stream go on
        sys.stdin.readline()
tracing.shutdown(5.0)
print("done", flush=True)
"""


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@dataclass
class LiveStack:
    collector: str  # OTLP/HTTP base URL
    dashboard: str


@pytest.fixture
def live_stack(tmp_path: Path) -> Iterator[LiveStack]:
    """A real `streamscope collector` process and a real `streamscope dashboard` on its SQLite file."""
    db = str(tmp_path / "live.db")
    cli = [sys.executable, "-c", "from streamscope.cli import main; main()"]
    procs: list[subprocess.Popen[str]] = []
    try:
        collector = subprocess.Popen(
            [*cli, "collector", "--db", db, "--http-port", "0", "--grpc-port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        procs.append(collector)
        assert collector.stdout is not None
        lines = [collector.stdout.readline().strip() for _ in range(2)]
        http = next(line.split()[2] for line in lines if line.startswith("listening on http://"))
        dashboard = subprocess.Popen(
            [*cli, "dashboard", "--db", db, "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        procs.append(dashboard)
        assert dashboard.stdout is not None
        line = dashboard.stdout.readline().strip()
        assert line.endswith(" (dashboard)"), line
        yield LiveStack(collector=http, dashboard=line.split()[2])
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_a_live_stream_appears_and_then_finishes(
    live_stack: LiveStack, page: tuple[sync_api.Page, Console]
) -> None:
    """An SDK-traced stream sending to a real collector shows on /live while it streams, then under finished."""
    pg, console = page
    pg.goto(live_stack.dashboard + "/live")
    pg.wait_for_function("() => Number(document.body.dataset.polls || 0) >= 1")
    assert pg.locator("#live-unsupported").count() == 0
    app = subprocess.Popen(
        [sys.executable, "-c", LIVE_APP, live_stack.collector + "/v1/traces"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None and app.stdin is not None
        assert app.stdout.readline().strip() == "paused"
        row = pg.locator("#live tbody tr", has_text="fake-live-browser")
        row.wait_for(timeout=20_000)
        span_id = row.get_attribute("data-span-id")
        assert span_id and len(span_id) == 16
        pg.wait_for_function(
            "sid => { const r = document.querySelector(`#live tr[data-span-id='${sid}'] td.chunks`);"
            " return r && Number(r.textContent) >= 4; }",
            arg=span_id,
            timeout=20_000,
        )
        assert "browser-live-app" in row.inner_text()
        assert pg.locator(f"#finished tr[data-span-id='{span_id}']").count() == 0
        _shot(pg, "live-in-flight")

        app.stdin.write("go\n")
        app.stdin.flush()
        assert app.stdout.readline().strip() == "done"
        assert app.wait(timeout=30) == 0
        finished = pg.locator(f"#finished tr[data-span-id='{span_id}']")
        finished.wait_for(timeout=20_000)
        pg.wait_for_function(
            "sid => !document.querySelector(`#live tr[data-span-id='${sid}']`)", arg=span_id, timeout=20_000
        )
        assert finished.locator(".outcome-completed").count() == 1
        assert "fake-live-browser" in finished.inner_text()
        _shot(pg, "live-finished")
    finally:
        _stop(app)
    assert console.errors == []


STALL_APP = """
import sys
import openai
import streamscope
from streamscope.testing.fake_llm import FakeLLMServer

# 25 steady chunks 0.2 s apart, a 7 s stall, then 5 more: the real openai client over real HTTP and SSE, traced
# by the SDK with its default live_interval (1 s)
scenario = {"words": [f"w{i} " for i in range(30)], "ttft": 0.1, "gap": 0.2, "stall_at": 25, "stall": 7.0}
with FakeLLMServer({"fake-stall-browser": scenario}) as llm:
    tracing = streamscope.init(sys.argv[1], service_name="browser-stall-app")
    streamscope.instrument_openai()
    with openai.OpenAI(base_url=llm.base_url, api_key="x") as client:
        stream = client.chat.completions.create(model="fake-stall-browser", stream=True,
                                                messages=[{"role": "user", "content": "hi"}])
        for chunk in stream:
            pass
    tracing.shutdown(5.0)
print("done", flush=True)
"""


def test_a_live_stream_rate_falls_and_shows_stalled_during_a_stall(
    live_stack: LiveStack, page: tuple[sync_api.Page, Console]
) -> None:
    """A stream from the fake LLM with a scripted 7 s stall: steady, it shows a rate and no stall (the server's view
    lags up to the 1 s export interval); stalled, its rate falls to 0 and it shows "stalled for N s"; then it goes
    on and finishes."""
    import re

    pg, console = page
    pg.goto(live_stack.dashboard + "/live")
    pg.wait_for_function("() => Number(document.body.dataset.polls || 0) >= 1")
    app = subprocess.Popen(
        [sys.executable, "-c", STALL_APP, live_stack.collector + "/v1/traces"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        row = pg.locator("#live tbody tr", has_text="fake-stall-browser")
        row.wait_for(timeout=20_000)
        span_id = row.get_attribute("data-span-id")
        assert span_id and len(span_id) == 16
        sel = f"#live tr[data-span-id='{span_id}']"
        read = (
            "sel => { const r = document.querySelector(sel); return r && {chunks: Number(r.querySelector("
            "'td.chunks').textContent), rate: r.querySelector('td.rate').textContent, stalled: !!r.querySelector("
            "'.badge.stalled'), last: r.querySelector('td.last').textContent}; }"
        )
        steady = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            sample = pg.evaluate(read, sel)
            if not sample or sample["stalled"] or sample["chunks"] >= 20:
                break
            steady.append(sample)
            pg.wait_for_timeout(200)
        # chunks arrive in 1 s slices: a steady stream is never called stalled and its rate stays above 0
        assert steady, "the stream was not seen streaming before its stall"
        assert all(not s["stalled"] and s["rate"] not in ("0", "–") for s in steady), steady
        _shot(pg, "live-streaming")

        pg.wait_for_selector(f"{sel} .badge.stalled", timeout=20_000)
        assert re.fullmatch(r"stalled for \d+\.\d s", pg.locator(f"{sel} .badge.stalled").inner_text())
        assert pg.locator(sel).get_attribute("class") == "stalled"
        pg.wait_for_function(
            "sel => { const r = document.querySelector(sel);"
            " return r && r.querySelector('td.rate').textContent === '0'; }",
            arg=sel,
            timeout=20_000,
        )
        _shot(pg, "live-stalled")
        stalled_at = pg.evaluate(read, sel)
        assert stalled_at["stalled"] and 20 <= stalled_at["chunks"] < 31, stalled_at

        assert app.wait(timeout=40) == 0
        assert app.stdout is not None and app.stdout.read().strip() == "done"
        finished = pg.locator(f"#finished tr[data-span-id='{span_id}']")
        finished.wait_for(timeout=20_000)
        pg.wait_for_function("sel => !document.querySelector(sel)", arg=sel, timeout=20_000)
        assert finished.locator(".outcome-completed").count() == 1
    finally:
        _stop(app)
    assert console.errors == []


def _no_script_ran(pg: sync_api.Page) -> None:
    assert pg.locator("img[src=x]").count() == 0
    assert pg.evaluate("typeof window.__xss") == "undefined"


def test_error_trace_shows_why_it_failed_and_where(
    server: Server, page: tuple[sync_api.Page, Console]
) -> None:
    """An HTTP 500 stream: type, message, status, Retry-After and stack trace are on the page, the timeline marks
    where it failed, and the legend names every marker."""
    pg, console = page
    d = server.debug
    pg.goto(f"{server.url}/traces/{d.error_trace}")
    box = pg.locator(f"#why-failed .failure[data-span-id='{d.error_stream}']")
    assert "openai.InternalServerError" in box.inner_text()
    assert (
        box.locator(".http-status").inner_text() == "500" and box.locator(".retry-after").inner_text() == "7"
    )
    box.locator("details.stacktrace summary").click()
    assert XSS_STACK.splitlines()[1].strip() in box.locator("details.stacktrace pre").inner_text()
    section = pg.locator(f"#stream-{d.error_stream}")
    ending = section.locator("line.ending.ending-error")
    box_line, box_svg = ending.bounding_box(), section.locator("svg.timeline").bounding_box()
    assert ending.count() == 1 and box_line is not None and box_svg is not None and box_line["height"] > 30
    assert box_svg["x"] <= box_line["x"] <= box_svg["x"] + box_svg["width"]
    assert section.locator("text.ending-label").text_content() == "error"
    legend = pg.locator("ul.legend").inner_text()
    for words in ("TTFT", "stall", "first byte", "tool-call chunk", "failed"):
        assert words in legend, words
    assert "2 chunks over" in section.locator("p.meta").first.inner_text()
    _shot(pg, "trace-error")
    _no_script_ran(pg)
    assert console.errors == []


def test_conversation_renders_as_chat(server: Server, page: tuple[sync_api.Page, Console]) -> None:
    """Prompt, tool call with arguments, tool result and answer render as messages; attributes are one click away
    in a wide table."""
    pg, console = page
    d = server.debug
    pg.goto(f"{server.url}/traces/{d.chat_trace}")
    chat = pg.locator(f"#stream-{d.chat_stream} ol.chat")
    roles = chat.locator(".msg-role").all_inner_texts()
    assert [r.split()[0] for r in roles] == ["SYSTEM", "USER", "ASSISTANT"]  # CSS upper-cases the roles
    assert XSS_PROMPT in chat.inner_text()
    assert chat.locator(".tool-name").inner_text() == "get_weather"
    assert "<img src=x onerror=window.__xss=14>" in chat.locator(".tool-args").inner_text()
    assert XSS_RESULT in pg.locator(f"#span-{d.tool_span} .tool-result-text").inner_text()
    table = pg.locator(f"#stream-{d.chat_stream} table.attrs-wide")
    assert not table.is_visible()
    pg.locator(f"#stream-{d.chat_stream} details.raw-attrs summary").click()
    assert table.is_visible()
    width = pg.evaluate("w => w", table.bounding_box()["width"])  # type: ignore[index]
    assert width > 900, width  # wide: the page's width, not a narrow column
    _shot(pg, "trace-conversation")
    _no_script_ran(pg)
    assert console.errors == []


def test_errors_view_lists_groups_with_links(server: Server, page: tuple[sync_api.Page, Console]) -> None:
    pg, console = page
    d = server.debug
    pg.goto(server.url + "/errors")
    group = pg.locator("#errors tr.error-group", has_text="openai.InternalServerError")
    assert group.count() == 1
    assert group.locator("svg.sparkbars rect").count() >= 1
    _shot(pg, "errors")
    _no_script_ran(pg)
    group.locator(f"a[href*='{d.error_trace}']").click()
    pg.wait_for_url(f"**/traces/{d.error_trace}#why-failed")
    assert pg.locator("#why-failed").is_visible()
    assert console.errors == []


def test_sessions_and_a_session_page(server: Server, page: tuple[sync_api.Page, Console]) -> None:
    pg, console = page
    d = server.debug
    pg.goto(server.url + "/sessions")
    link = pg.locator("#sessions a.session-link", has_text=d.session_id)
    assert link.count() == 1
    _shot(pg, "sessions")
    _no_script_ran(pg)
    link.click()
    pg.wait_for_selector("#session-traces")
    assert pg.locator("#session-id").inner_text() == d.session_id
    names = pg.locator("#session-traces li.session-trace > p > a").all_inner_texts()
    assert names == ["answer question", "agent turn"]
    assert "2 traces" in pg.locator("p.meta").first.inner_text()
    assert pg.locator("#session-traces .outcome-error").count() == 1
    _shot(pg, "session")
    _no_script_ran(pg)
    pg.goto(server.url + "/sessions?user=user-quiet")
    assert pg.locator("#sessions tbody a.session-link").all_inner_texts() == ["sess-quiet"]
    assert console.errors == []


def test_in_progress_trace(server: Server, page: tuple[sync_api.Page, Console]) -> None:
    pg, console = page
    d = server.debug
    pg.goto(server.url + "/traces?range=1h")
    row = pg.locator("#traces tbody tr", has=pg.locator(f"td.mono:text-is('{d.waiting_trace}')"))
    assert row.locator(".badge.in-progress").first.inner_text() == "in progress"
    row.locator("a", has_text="ChatPromptTemplate").click()
    pg.wait_for_selector("#in-progress")
    _shot(pg, "trace-in-progress")
    assert console.errors == []


def test_empty_state(tmp_path: Path, browser: sync_api.Browser) -> None:
    """A dashboard over an empty database says how to send the first trace and links to the quickstart."""
    db = str(tmp_path / "empty.db")
    SQLiteStore(db, synchronous="OFF").close()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from streamscope.cli import main; main()",
            "dashboard",
            "--db",
            db,
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[2]
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        errors: list[str] = []
        pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        pg.goto(url + "/")
        assert "streamscope.instrument_openai()" in pg.locator("#first-trace").inner_text()
        _shot(pg, "overview-empty")
        pg.click("#quickstart-link")
        pg.wait_for_url("**/quickstart")
        assert "enable_langchain" in pg.inner_text("main")
        context.close()
        assert errors == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_documentation_screenshots_keep_their_layout(server: Server, browser: sync_api.Browser) -> None:
    """scripts/screenshots.py over this server: every documented page is taken (into the artifacts folder), and
    its landmarks sit where the committed screenshot's do (docs/images/*.layout.json). Layout, not pixels: the
    data differs. When a page's layout changes on purpose, rerun the script against `streamscope up --demo`."""
    import importlib.util
    import json

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("screenshots", root / "scripts" / "screenshots.py")
    assert spec is not None and spec.loader is not None
    screenshots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screenshots)
    taken = screenshots.capture(server.url, ARTIFACTS / "docs-images", browser)
    assert set(taken) == set(screenshots.LANDMARKS)
    for name, got in taken.items():
        committed = root / "docs" / "images" / f"{name}.layout.json"
        assert committed.exists(), f"{committed} is missing: run scripts/screenshots.py"
        assert (root / "docs" / "images" / f"{name}.png").exists()
        want = json.loads(committed.read_text())
        assert list(got) == list(want), name
        for (
            selector,
            box,
        ) in got.items():  # the same landmarks, in about the same place (content varies widths)
            assert (box is None) == (want[selector] is None), (name, selector, box, want[selector])
            if box is not None:
                assert abs(box[0] - want[selector][0]) <= 0.05 and abs(box[1] - want[selector][1]) <= 0.1, (
                    name,
                    selector,
                    box,
                    want[selector],
                )


def test_compare_models_and_streams(server: Server, page: tuple[sync_api.Page, Console]) -> None:
    """Two models' timing distributions side by side; then two streams picked from the streams list."""
    pg, console = page
    pg.goto(server.url + "/compare?model_a=gpt-4o-mini&model_b=claude-haiku&range=24h")
    assert pg.locator("#compare-models figure.compare-metric").count() == 5
    assert (
        pg.locator("svg.histogram rect.side-a").count() > 0
        and pg.locator("svg.histogram rect.side-b").count() > 0
    )
    _shot(pg, "compare-models")
    pg.goto(server.url + "/streams?limit=5&model=claude-haiku")
    pg.locator("a.compare-link").first.click()
    pg.wait_for_selector("#compare-candidates")
    pg.locator("#compare-candidates a.pick").first.click()
    pg.wait_for_selector("#compare-streams")
    assert pg.locator("svg.timeline").count() == 2
    _shot(pg, "compare-streams")
    _no_script_ran(pg)
    assert console.errors == []


FILTERED_PAGES = (
    "/",
    "/models",
    "/streams",
    "/traces",
    "/errors",
    "/live",
    "/sessions",
    "/compare?model_a=gpt-4o-mini&model_b=claude-haiku&range=24h",
)


@pytest.mark.parametrize("path", FILTERED_PAGES)
def test_filtered_pages_show_the_filter_as_text_and_remove_it(
    server: Server, page: tuple[sync_api.Page, Console], path: str
) -> None:
    """Each page filtered by a hostile user id: the filter bar shows it as text (no markup runs, CSP logs
    nothing), the form holds it, and its × opens the same page without it."""
    pg, console = page
    d = server.debug
    url = server.url + path + ("&" if "?" in path else "?") + "user=" + quote(d.user_id)
    response = pg.goto(url)
    assert response is not None and response.status == 200, url
    pg.wait_for_load_state("networkidle")
    if path in ("/", "/models"):
        pg.wait_for_function("() => document.body.dataset.chartsReady === 'true'")
    chip = pg.locator("#active-filters .chip[data-filter=user]")
    assert chip.locator("b").inner_text() == d.user_id
    assert pg.locator("form.filters input[name=user]").input_value() == d.user_id
    _no_script_ran(pg)
    if path == "/streams":  # only that user's streams: the debugging traces' two streams
        assert pg.locator("#streams tbody tr").count() == 2
    if (
        path == "/live"
    ):  # the page's polling keeps the filter: after a poll, only that user's finished streams
        pg.wait_for_function("() => Number(document.body.dataset.polls || 0) >= 1")
        traces = {
            h.split("/traces/")[1][:32]
            for h in pg.locator("#finished a[href*='/traces/']").evaluate_all("els => els.map(e => e.href)")
        }
        assert traces and traces <= {d.error_trace, d.chat_trace}
    _shot(pg, "filtered" + path.split("?")[0].replace("/", "-"))
    chip.locator("a.remove").click()
    pg.wait_for_load_state("networkidle")
    assert "user=" not in pg.url and pg.locator("#active-filters .chip[data-filter=user]").count() == 0
    _no_script_ran(pg)
    assert console.errors == []


def test_session_filter_chip_keeps_markup_as_text(
    server: Server, page: tuple[sync_api.Page, Console]
) -> None:
    pg, console = page
    d = server.debug
    pg.goto(f"{server.url}/streams?session={quote(d.session_id)}&user={quote(d.user_id)}")
    chips = pg.locator("#active-filters .chip")
    assert chips.count() == 2
    assert pg.locator("#active-filters .chip[data-filter=session] b").inner_text() == d.session_id
    assert pg.locator("#active-filters b b").count() == 0  # "<b>bold</b>" in the id stayed text
    pg.locator("#active-filters .chip[data-filter=session] a.remove").click()
    pg.wait_for_load_state("networkidle")
    assert pg.locator("#active-filters .chip").count() == 1  # the user filter stays
    assert pg.locator("#streams tbody tr").count() == 2
    _no_script_ran(pg)
    assert console.errors == []
