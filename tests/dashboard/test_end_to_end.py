"""SDK → real collector process → dashboard: a traced engine stream shows up chunk by chunk, payloads escaped."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from streamscope.dashboard import create_app

pytestmark = pytest.mark.integration

PAYLOAD = "<script>window.__xss=9</script>"
APP = textwrap.dedent(f"""
    import sys
    import streamscope
    from streamscope.engine import FakeStreamingChatModel
    tracing = streamscope.init(sys.argv[1], service_name="e2e-app", capture_content=True, chunk_spans=True,
                               set_global=False)
    model = FakeStreamingChatModel(chunks=["Hello", {PAYLOAD!r}, " world", "!"], ttft=0.02, gap=0.01,
                                   model="fake-e2e")
    text = "".join(chunk.content for chunk in model.stream("hi"))
    tracing.shutdown(5.0)
    print(text)
""")


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_traced_stream_appears_on_the_dashboard(tmp_path: Path) -> None:
    """A stream traced by the SDK and stored by the collector gets a trace page with one mark per chunk."""
    db = str(tmp_path / "e2e.db")
    collector = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from streamscope.cli import main; main()",
            "collector",
            "--db",
            db,
            "--http-port",
            "0",
            "--grpc-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert collector.stdout is not None
        http = ""
        for _ in range(2):
            line = collector.stdout.readline().strip()
            if line.startswith("listening on http://"):
                http = line.split()[2]
        assert http, "collector did not announce its HTTP port"
        app = subprocess.run(
            [sys.executable, "-c", APP, f"{http}/v1/traces"], capture_output=True, text=True, timeout=60
        )
        assert app.returncode == 0, app.stderr
        assert app.stdout.strip() == f"Hello{PAYLOAD} world!"
        deadline = time.monotonic() + 10
        streams: list[dict[str, object]] = []
        while time.monotonic() < deadline and not streams:
            streams = _get(f"{http}/api/streams?model=fake-e2e")["streams"]  # type: ignore[assignment]
            if not streams:
                time.sleep(0.05)
        assert len(streams) == 1, "the collector never stored the stream"
        stream = streams[0]
    finally:
        collector.terminate()
        collector.wait(timeout=10)
        for pipe in (collector.stdout, collector.stderr):
            if pipe is not None:
                pipe.close()

    dash = create_app({"db_path": db}).test_client()
    listing = dash.get("/streams?model=fake-e2e").get_data(as_text=True)
    assert "fake-e2e" in listing and "e2e-app" in listing
    html = dash.get(f"/traces/{stream['trace_id']}").get_data(as_text=True)
    section = html.split(f'id="stream-{stream["span_id"]}"', 1)[1]
    chunks = dash.get(f"/api/streams/{stream['span_id']}/chunks").get_json()["chunks"]
    assert len(chunks) == stream["chunk_count"] and len(chunks) >= 4
    assert section.count('class="chunk kind-') == len(chunks)
    assert 'class="marker marker-' in section and " ttft" in section  # the TTFT marker
    assert PAYLOAD not in html and "&lt;script&gt;window.__xss=9&lt;/script&gt;" in html
