"""docs/quickstart.md, followed step by step as written, in real processes, so the page cannot rot.

The commands are read from the page itself (its fenced blocks, in order), not copied here: a changed command is
run as changed. They run in a directory laid out like a clone (its own ``streamscope-data/``; the repository's
sources, scripts, examples and ``.venv`` linked in), with ``.venv/bin`` first on ``PATH`` as the page says.

1. "See it work": ``bash scripts/up.sh`` (with the page's ``--http-port 0 --grpc-port 0 --ui-port 0`` when a
   default port is taken on this machine), streams arrive and the dashboard shows them, Ctrl-C stops it, the data
   stays in ``streamscope-data/``. The block's second command, ``bash scripts/test.sh``, is the test suite this
   test belongs to; it is not started from inside itself.
2. "The same pieces one by one": every line of the block, in order, each in its own process, after stopping step 1
   as the page says: the servers start on the default ports, the example prints a trace id that the dashboard and
   the query API show, and step 1's data shows too (one data location).
3. "Instrument your own app": the page's snippet, verbatim, in a script that then streams one completion from the
   fake LLM; the stream arrives under the service name the snippet gives.
4. "Where to look": every dashboard page and URL in the table answers.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from processes import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "quickstart.md"
DEFAULT_PORTS = (4318, 4317, 8000, 8081)  # collector HTTP and gRPC, dashboard, fake LLM
LINKED = ("sdk", "collector", "dashboard", "scripts", "examples", "pyproject.toml", ".venv")


def blocks(lang: str) -> list[str]:
    """The page's fenced code blocks in ``lang``, in order."""
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), re.S)


def commands(block: str) -> list[str]:
    """The commands of a shell block: one a line, trailing ``# comment`` dropped."""
    out = []
    for line in block.splitlines():
        command = re.sub(r"\s+#.*$", "", line).strip()
        if command and not command.startswith("#"):
            out.append(command)
    return out


def _taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Running:
    command: str
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def urls(self) -> list[str]:
        return [
            m.group(1) for line in list(self.lines) if (m := re.match(r"listening on (\S+)", line.strip()))
        ]

    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A directory laid out like a clone of the repository, with its own data folder."""
    where = tmp_path / "streamscope"
    where.mkdir()
    for name in LINKED:
        (where / name).symlink_to(ROOT / name)
    return where


@pytest.fixture
def env(clone: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMSCOPE_", "OTEL_"))}
    out["PATH"] = f"{clone / '.venv' / 'bin'}{os.pathsep}{out.get('PATH', '')}"
    out["PYTHONUNBUFFERED"] = "1"
    return out


@pytest.fixture
def started(clone: Path, env: dict[str, str]) -> Iterator[list[Running]]:
    procs: list[Running] = []
    yield procs
    for r in reversed(procs):
        _interrupt(r)


def _run(command: str, clone: Path, env: dict[str, str], procs: list[Running]) -> Running:
    """One command in its own process (a terminal of its own); ``bash -c`` execs a single command, so the PID
    is the program's and a SIGINT to it is the user's Ctrl-C."""
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Running(command, proc)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            running.lines.append(line)

    running.reader = threading.Thread(target=read, daemon=True)
    running.reader.start()
    procs.append(running)
    return running


def _interrupt(r: Running, timeout: float = 60) -> int:
    if r.proc.poll() is None:
        os.kill(r.proc.pid, signal.SIGINT)
        try:
            r.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(r.proc.pid, signal.SIGKILL)
            r.proc.wait(10)
            raise AssertionError(f"{r.command!r} did not stop on Ctrl-C:\n{r.output()}") from None
    _close(r)
    return int(r.proc.returncode)


def _close(r: Running) -> None:
    """Once the process has exited: read its output to the end and close the pipe."""
    if r.reader is not None:
        r.reader.join(10)
    if r.proc.stdout is not None:
        r.proc.stdout.close()


def _get(url: str, **params: Any) -> Any:
    response = httpx.get(url, params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def test_the_quickstart_as_written(clone: Path, env: dict[str, str], started: list[Running]) -> None:
    see_it_work, pieces = blocks("bash")[:2]
    first = commands(see_it_work)
    assert first == ["bash scripts/up.sh", "bash scripts/test.sh"], first  # the README's two commands

    # -- 1. bash scripts/up.sh: streams arrive, the dashboard shows them, Ctrl-C keeps the data ---------------
    up_command = first[0]
    if any(_taken(p) for p in DEFAULT_PORTS[:3]):
        flags = re.search(r"`(--http-port 0 --grpc-port 0 --ui-port 0)`", DOC.read_text())
        assert flags, "the page no longer says how to run on free ports"
        up_command += " " + flags.group(1)
    up = _run(up_command, clone, env, started)
    wait_for(lambda: len(up.urls()) >= 3 or up.proc.poll() is not None, "up's listening lines", 180)
    assert up.proc.poll() is None, up.output()
    collector = next(u for u in up.urls() if u.startswith("http://"))
    dashboard = next(
        m.group(1) for line in up.lines if (m := re.match(r"listening on (\S+) \(dashboard\)", line))
    )
    seen = wait_for(lambda: _get(collector + "/api/streams", limit=50)["streams"], "the demo's streams", 120)
    assert _get(dashboard + "/api/streams", limit=50)["streams"]  # the dashboard shows them
    assert httpx.get(dashboard + "/", timeout=10).status_code == 200
    assert _interrupt(up) == 0, up.output()
    assert "Traceback" not in up.output() and "warning" not in up.output().lower(), up.output()
    data = clone / "streamscope-data" / "streamscope.db"
    assert data.exists(), sorted(p.name for p in clone.iterdir())

    # -- 2. the same pieces one by one, each in its own terminal, after stopping step 1 ----------------------
    if any(_taken(p) for p in DEFAULT_PORTS):
        pytest.skip(
            f"a default port {DEFAULT_PORTS} is held by another program on this machine; the page's "
            "pieces run on the defaults"
        )
    steps = commands(pieces)
    assert len(steps) >= 4, steps
    trace_id = None
    for command in steps:
        r = _run(command, clone, env, started)
        if command.startswith("python "):  # a script: it runs to the end and prints its trace id
            assert r.proc.wait(120) == 0, r.output()
            _close(r)
            ids = re.findall(r"\b[0-9a-f]{32}\b", r.output())
            assert ids, r.output()
            trace_id = ids[0]
        else:  # a server: it says where it listens, on its default port
            wait_for(lambda r=r: r.urls() or r.proc.poll() is not None, f"{command!r} to listen", 60)
            assert r.proc.poll() is None, r.output()
            assert any(u.startswith("http://127.0.0.1:") for u in r.urls()), r.output()
    assert trace_id is not None
    collector, dashboard = "http://127.0.0.1:4318", "http://127.0.0.1:8000"
    trace = wait_for(
        lambda: httpx.get(f"{collector}/api/traces/{trace_id}", timeout=10).status_code == 200,
        "the example's trace at the collector",
        30,
    )
    assert trace
    page = httpx.get(f"{dashboard}/traces/{trace_id}", timeout=10)
    assert page.status_code == 200 and trace_id in page.text
    kept = {s["span_id"] for s in _get(dashboard + "/api/streams", limit=500)["streams"]}
    assert {s["span_id"] for s in seen} <= kept  # step 1's data shows here too: one data location

    # -- 3. instrument your own app: the page's snippet, verbatim ---------------------------------------------
    snippet = blocks("python")[0]
    assert "streamscope.init(" in snippet and "instrument_openai()" in snippet
    service = re.search(r'service_name="([^"]+)"', snippet)
    assert service
    app = clone / "my_app.py"
    app.write_text(
        snippet + "\n"
        "import openai\n"
        "client = openai.OpenAI(base_url='http://127.0.0.1:8081/v1', api_key='not-needed')\n"
        "for _ in client.chat.completions.create(model='gpt-4o-mini', stream=True,\n"
        "        messages=[{'role': 'user', 'content': 'hello'}]):\n"
        "    pass\n"
        "tracing.force_flush()\n"
        "print('failed spans:', tracing.failed_spans)\n"
    )
    mine = _run("python my_app.py", clone, env, started)
    assert mine.proc.wait(120) == 0, mine.output()
    _close(mine)
    assert "failed spans: 0" in mine.output(), mine.output()
    wait_for(
        lambda: _get(collector + "/api/streams", service=service.group(1))["streams"],
        "the snippet's stream",
        30,
    )

    # -- 4. where to look: every page and URL of the table answers -------------------------------------------
    for path in ("/", "/traces", f"/traces/{trace_id}", "/streams", "/live", "/models"):
        assert httpx.get(dashboard + path, timeout=10).status_code == 200, path
    assert _get(collector + "/api/streams")["streams"]
    metrics = httpx.get(collector + "/metrics", timeout=10)
    assert metrics.status_code == 200 and "streamscope_collector_spans_received_total" in metrics.text

    for r in reversed(started):
        code = _interrupt(r)
        assert code in (0, -signal.SIGINT, 130), (r.command, code, r.output())
        assert "Traceback" not in r.output(), r.output()
