"""Every ``examples/*.py`` script runs against a real fake LLM server and a real collector, and its traces arrive.

Both servers are started as subprocesses on free ports (``--port 0``), exactly as a newcomer starts them, and
stopped by PID. Each example runs as a subprocess; its ``trace <id>`` lines name the traces it made, and the
checks below look them up through the collector's query API (``/api/traces/<id>``, ``/api/streams``,
``/api/streams/<span_id>/chunks``): span tree, model, chunk counts, chunk text, outcome. A script added to
``examples/`` without a check here fails :func:`test_example`.
"""

from __future__ import annotations

import ast
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = ROOT / "examples"
EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.glob("*.py") if not p.name.startswith("_"))
START_TIMEOUT = 60.0  # seconds for a server to print its listening line (imports are slow on a busy machine)
RUN_TIMEOUT = 180.0
UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing listens; a flag must win over this env value


# -- servers ------------------------------------------------------------------------------------------
@dataclass
class Server:
    proc: subprocess.Popen[str]
    urls: list[str]
    stderr_path: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _start(args: list[str], lines: int, stderr_path: Path) -> Server:
    """Start ``streamscope <args>`` and wait for its ``listening on`` lines (one per port)."""
    with stderr_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamscope", *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=stderr_path.parent,
        )
    got: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            got.put(line)

    threading.Thread(target=read, daemon=True).start()
    urls: list[str] = []
    try:
        while len(urls) < lines:
            line = got.get(timeout=START_TIMEOUT)
            match = re.fullmatch(r"listening on ((?:http|grpc)://127\.0\.0\.1:\d+)\n", line)
            assert match, f"unexpected output from streamscope {args[0]}: {line!r}"
            urls.append(match.group(1))
    except (queue.Empty, AssertionError):
        Server(proc, urls, stderr_path).stop()
        raise AssertionError(
            f"streamscope {args[0]} did not start: {stderr_path.read_text()[-2000:]}"
        ) from None
    return Server(proc, urls, stderr_path)


@dataclass
class Stack:
    llm_url: str  # OpenAI-compatible base URL, ending in /v1
    collector_url: str
    api: httpx.Client


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("examples")
    fake = _start(["fake-llm", "--host", "127.0.0.1", "--port", "0"], 1, tmp / "fake-llm.err")
    try:
        collector = _start(
            [
                "collector",
                "--db",
                str(tmp / "examples.db"),
                "--host",
                "127.0.0.1",
                "--http-port",
                "0",
                "--grpc-port",
                "0",
            ],
            2,
            tmp / "collector.err",
        )
    except BaseException:
        fake.stop()
        raise
    try:
        with httpx.Client(base_url=collector.urls[0], timeout=10) as api:
            assert api.get("/healthz").status_code == 200
            yield Stack(fake.urls[0] + "/v1", collector.urls[0], api)
    finally:
        collector.stop()
        fake.stop()
    assert "Traceback" not in (tmp / "collector.err").read_text()


# -- running an example ---------------------------------------------------------------------------------
@dataclass
class Run:
    stdout: str
    trace_ids: list[str]
    constants: dict[
        str, Any
    ]  # the script's top-level literal assignments (texts it asks the fake server for)


def _constants(path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return out


def run_example(name: str, stack: Stack, tmp_path: Path) -> Run:
    """Run one example. Half of them get the collector by flag and the LLM by env var, half the other way round,
    so both ways work; the env var a flag overrides points nowhere, so a flag that were ignored would fail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMSCOPE_", "OTEL_"))}
    args = [sys.executable, str(EXAMPLES_DIR / name)]
    if EXAMPLES.index(name) % 2 == 0:
        args += ["--endpoint", stack.collector_url]
        env |= {"STREAMSCOPE_ENDPOINT": UNREACHABLE, "STREAMSCOPE_LLM_URL": stack.llm_url}
    else:
        args += ["--llm-url", stack.llm_url]
        env |= {"STREAMSCOPE_ENDPOINT": stack.collector_url, "STREAMSCOPE_LLM_URL": UNREACHABLE + "/v1"}
    done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-4000:]}"
    assert "Traceback" not in done.stderr, done.stderr
    trace_ids = re.findall(r"^trace ([0-9a-f]{32})$", done.stdout, re.MULTILINE)
    assert trace_ids, f"{name} printed no `trace <id>` line:\n{done.stdout}"
    return Run(done.stdout, trace_ids, _constants(EXAMPLES_DIR / name))


# -- what the collector has ------------------------------------------------------------------------------
@dataclass
class Trace:
    spans: list[dict[str, Any]]
    streams: list[dict[str, Any]]

    def span(self, name: str) -> dict[str, Any]:
        found = [s for s in self.spans if s["name"] == name]
        assert len(found) == 1, f"expected one span {name!r}, got {[s['name'] for s in self.spans]}"
        return found[0]

    def ancestors(self, span_id: str) -> list[str]:
        """Names of the span's ancestors, nearest first."""
        by_id = {s["span_id"]: s for s in self.spans}
        names: list[str] = []
        parent = by_id[span_id]["parent_span_id"]
        while parent in by_id:
            names.append(by_id[parent]["name"])
            parent = by_id[parent]["parent_span_id"]
        return names

    def stream(self, model: str) -> dict[str, Any]:
        found = [s for s in self.streams if s["model"] == model]
        assert len(found) == 1, f"expected one stream of {model!r}, got {[s['model'] for s in self.streams]}"
        return found[0]


def get_trace(stack: Stack, trace_id: str) -> Trace:
    resp = stack.api.get(f"/api/traces/{trace_id}")
    assert resp.status_code == 200, f"trace {trace_id} is not in the collector: {resp.text}"
    body = resp.json()
    return Trace(body["spans"], body["streams"])


def chunk_text(stack: Stack, stream: dict[str, Any]) -> str:
    """The stored text of a stream's content chunks, in order."""
    resp = stack.api.get(f"/api/streams/{stream['span_id']}/chunks")
    assert resp.status_code == 200, resp.text
    chunks = resp.json()["chunks"]
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert len(chunks) == stream["chunk_count"]
    return "".join(c["content"] or "" for c in chunks if c["kind"] == "content")


def words(text: str) -> int:
    """Content chunks the fake server sends for ``text`` (one per word)."""
    return len(text.split())


def completed_stream(stack: Stack, trace: Trace, model: str, text: str, extra_chunks: int) -> dict[str, Any]:
    """The trace's one stream of ``model``, completed, carrying ``text`` in ``words(text) + extra_chunks`` chunks."""
    st = trace.stream(model)
    assert st["outcome"] == "completed", st
    assert st["provider"] == "openai", st
    assert st["chunk_count"] == words(text) + extra_chunks, st
    assert st["ttft"] is not None and st["ttft"] >= st["time_to_first_chunk"] > 0, st
    assert st["duration"] >= st["ttft"], st
    assert st["output_tokens"], st
    assert chunk_text(stack, st) == text
    return st


# Chunks around the content: the role-only first delta, the finish-reason chunk, the usage chunk (when asked).
ROLE_FINISH = 2
ROLE_FINISH_USAGE = 3


# -- one check per example --------------------------------------------------------------------------------
def check_chain_stream(stack: Stack, run: Run) -> None:
    full_id, peek_id = run.trace_ids
    story = run.constants["STORY"]
    full = get_trace(stack, full_id)
    llm = full.span("chat gpt-4o-mini")
    assert full.ancestors(llm["span_id"]) == ["RunnableSequence", "tell_story"]
    for step in ("ChatPromptTemplate", "StrOutputParser"):
        assert full.ancestors(full.span(step)["span_id"]) == ["RunnableSequence", "tell_story"]
    st = completed_stream(stack, full, "gpt-4o-mini", story, ROLE_FINISH_USAGE)
    assert st["service"] == "example-chain-stream" and st["dialect"] == "streamscope"
    assert st["usage_source"] == "provider" and st["time_to_first_byte"] is not None
    chunk_spans = [s for s in full.spans if s["name"] == "streamscope.chunk"]
    assert chunk_spans == [], "chunk spans are stored as chunk rows, not as spans"

    peek = get_trace(stack, peek_id)
    st = peek.stream("gpt-4o-mini")
    assert st["outcome"] == "abandoned" and st["error_type"] is None
    partial = chunk_text(stack, st)
    assert partial and story.startswith(partial) and partial != story
    assert f"stopped: {partial!r}" in run.stdout
    assert peek.span("peek_at_story")["status"] != "error"


def check_astream_events(stack: Stack, run: Run) -> None:
    events_id, gather_id = run.trace_ids
    fast, slow = run.constants["FAST"]["text"], run.constants["SLOW"]["text"]
    events = get_trace(stack, events_id)
    completed_stream(stack, events, "gpt-4o-mini", fast, ROLE_FINISH_USAGE)
    assert "on_chat_model_stream x" in run.stdout
    both = get_trace(stack, gather_id)
    assert {s["model"] for s in both.streams} == {"gpt-4o-mini", "gpt-4o"}
    completed_stream(stack, both, "gpt-4o-mini", fast, ROLE_FINISH_USAGE)
    completed_stream(stack, both, "gpt-4o", slow, ROLE_FINISH_USAGE)
    for st in both.streams:
        assert both.ancestors(st["span_id"]) == ["two_models_at_once"]
    # streamscope.context put the session and user on every stream; the API filters on them
    resp = stack.api.get(
        "/api/streams",
        params={
            "session_id": "example-session",
            "user_id": "example-user",
            "service": "example-astream-events",
        },
    )
    assert {s["span_id"] for s in resp.json()["streams"]} == {
        s["span_id"] for s in events.streams + both.streams
    }


def check_agent_steps(stack: Stack, run: Run) -> None:
    (trace_id,) = run.trace_ids
    decide, answer = run.constants["DECIDE"], run.constants["ANSWER"]
    trace = get_trace(stack, trace_id)
    agent = trace.span("invoke_agent AgentExecutor")
    assert agent["attributes"]["gen_ai.agent.name"] == "AgentExecutor"
    tool = trace.span("execute_tool search")
    assert tool["attributes"]["gen_ai.tool.name"] == "search"
    assert "invoke_agent AgentExecutor" in trace.ancestors(tool["span_id"])
    first, second = sorted(trace.streams, key=lambda s: s["start"])
    assert chunk_text(stack, first) == decide and chunk_text(stack, second) == answer
    for st, text in ((first, decide), (second, answer)):
        assert st["outcome"] == "completed" and st["chunk_count"] == words(text) + ROLE_FINISH_USAGE
        assert "invoke_agent AgentExecutor" in trace.ancestors(st["span_id"])
    # the tool ran between the two model calls
    assert first["start"] + first["duration"] <= tool["start"] <= tool["end"] <= second["start"]
    assert "answer: LangChain is a framework for LLM applications." in run.stdout


def check_stream_endings(stack: Stack, run: Run) -> None:
    (trace_id,) = run.trace_ids
    text = run.constants["TEXT"]
    trace = get_trace(stack, trace_id)
    stalled = trace.stream("stall-model")
    assert stalled["outcome"] == "completed" and stalled["stall_count"] == 1
    assert stalled["gap_max"] > 2.0 and chunk_text(stack, stalled) == text

    dropped = trace.stream("drop-model")
    assert dropped["outcome"] == "error" and dropped["error_type"] == "ChatOpenAIConnectionError"
    assert chunk_text(stack, dropped) == " ".join(text.split()[:5])  # drop_at=4: chunks 0..4 arrived
    assert "Stream connection lost" in run.stdout

    timed_out = trace.stream("timeout-model")
    assert timed_out["outcome"] == "timeout" and timed_out["error_type"] == "ChatOpenAITimeoutError"
    assert text.startswith(chunk_text(stack, timed_out))  # what arrived before the 3 s silence
    llm_spans = {s["span_id"]: s for s in trace.spans}
    assert llm_spans[dropped["span_id"]]["status"] == "error"
    assert llm_spans[timed_out["span_id"]]["status"] == "error"
    assert llm_spans[stalled["span_id"]]["status"] != "error"


def check_openai_raw(stack: Stack, run: Run) -> None:
    sync_id, async_id = run.trace_ids
    sync = get_trace(stack, sync_id)
    st = completed_stream(stack, sync, "gpt-4o-mini", run.constants["SYNC_TEXT"], ROLE_FINISH_USAGE)
    assert st["usage_source"] == "provider" and st["input_tokens"] is not None
    assert st["time_to_first_byte"] is not None
    assert sync.ancestors(st["span_id"]) == ["sync_stream"]
    asynchronous = get_trace(stack, async_id)
    st = completed_stream(stack, asynchronous, "gpt-4o", run.constants["ASYNC_TEXT"], ROLE_FINISH)
    assert (
        st["usage_source"] == "estimate"
    )  # include_usage was not asked for, and streamscope does not inject it
    assert asynchronous.ancestors(st["span_id"]) == ["async_stream"]


def check_langchain_app(stack: Stack, run: Run) -> None:
    per_call_id, global_id = run.trace_ids
    for trace_id, root, text in (
        (per_call_id, "per_call_handler", run.constants["PER_CALL"]),
        (global_id, "global_hook", run.constants["GLOBAL"]),
    ):
        trace = get_trace(stack, trace_id)
        st = trace.stream("gpt-4o-mini")
        assert (
            st["outcome"] == "completed" and st["provider"] == "openai" and st["usage_source"] == "provider"
        )
        assert chunk_text(stack, st) == text
        # LangChain reports every server chunk and adds an empty closing one of its own
        assert st["chunk_count"] >= words(text) + ROLE_FINISH_USAGE
        assert st["ttft"] is not None and st["ttft"] >= st["time_to_first_chunk"]
        assert trace.ancestors(st["span_id"]) == ["RunnableSequence", root]


def check_openllmetry_app(stack: Stack, run: Run) -> None:
    (trace_id,) = run.trace_ids
    text = run.constants["TEXT"]
    trace = get_trace(stack, trace_id)
    st = trace.stream("gpt-4o-mini")
    assert st["service"] == "example-openllmetry" and st["provider"] == "openai"
    assert st["outcome"] == "completed"
    # Current OpenLLMetry writes GenAI semconv names (no llm.request.type); its own markers still identify it.
    assert st["dialect"] == "openllmetry"
    assert (
        st["chunk_count"] == words(text) + ROLE_FINISH_USAGE
    )  # one gen_ai.content.completion.chunk event each
    assert st["input_tokens"] and st["output_tokens"] and st["usage_source"] == "provider"
    assert st["ttft"] is not None and st["ttft"] == st["time_to_first_chunk"]
    assert trace.ancestors(st["span_id"]) == ["openllmetry_app"]


CHECKS: dict[str, Callable[[Stack, Run], None]] = {
    "agent_steps.py": check_agent_steps,
    "astream_events.py": check_astream_events,
    "chain_stream.py": check_chain_stream,
    "langchain_app.py": check_langchain_app,
    "openai_raw.py": check_openai_raw,
    "openllmetry_app.py": check_openllmetry_app,
    "stream_endings.py": check_stream_endings,
}


def test_every_check_has_its_example() -> None:
    """No check is left over for an example that was renamed or removed."""
    assert sorted(CHECKS) == EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_example(name: str, stack: Stack, tmp_path: Path) -> None:
    """The example runs, exits 0, and the traces it printed are in the collector with the expected streams."""
    check = CHECKS.get(name)
    if check is None:
        pytest.fail(f"examples/{name} has no check in tests/integration/test_examples.py (add one to CHECKS)")
    check(stack, run_example(name, stack, tmp_path))


def test_openllmetry_app_exits_1_when_its_spans_do_not_arrive() -> None:
    """The README's promise: with no collector at the endpoint the example says so and exits 1 (the stock
    processor's force_flush() returns True all the same)."""
    import socket

    from streamscope.testing.fake_llm import FakeLLMServer

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with FakeLLMServer({}) as llm:
        result = subprocess.run(
            [
                sys.executable,
                str(EXAMPLES_DIR / "openllmetry_app.py"),
                "--endpoint",
                f"http://127.0.0.1:{closed}",
                "--llm-url",
                f"{llm.base_url}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "spans exported: 0, failed: " in result.stdout
    assert "did not reach the collector" in result.stderr
