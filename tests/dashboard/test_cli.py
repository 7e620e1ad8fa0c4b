"""`streamscope dashboard`: prints its address, serves, stops on SIGTERM; bad options get a clear error."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dashboard_seed import seed

from streamscope.collector.store.sqlite import SQLiteStore

CMD = [sys.executable, "-c", "from streamscope.cli import main; main()", "dashboard"]


def test_serves_on_a_free_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    """Port 0 picks a free port, announced as `listening on http://HOST:PORT (dashboard)`."""
    db = str(tmp_path / "spans.db")
    store = SQLiteStore(db, synchronous="OFF")
    seed(store, time.time(), traces=3)
    store.close()
    proc = subprocess.Popen(
        [*CMD, "--db", db, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:") and line.endswith(" (dashboard)")
        url = line.split()[2]
        with urllib.request.urlopen(url + "/traces", timeout=10) as response:
            assert response.status == 200
            assert b"handle request" in response.read()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_missing_database_is_a_one_line_error(tmp_path: Path) -> None:
    """A --db path that does not exist is refused with one sentence (no usage block) that says what to do."""
    result = subprocess.run(
        [*CMD, "--db", str(tmp_path / "nope.db"), "--port", "0"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr and "Usage:" not in result.stderr
    assert result.stderr.strip() == (
        f"Error: no database at {tmp_path / 'nope.db'}: start the collector first "
        "(streamscope collector writes streamscope-data/streamscope.db), or give --db "
        "PATH (or STREAMSCOPE_DB), or --store URL."
    )


def test_reads_the_shared_data_location_by_default(tmp_path: Path) -> None:
    """Without --db the dashboard reads streamscope-data/streamscope.db, where `collector` and `up` write."""
    import os

    from streamscope.collector.store.sqlite import SQLiteStore

    (tmp_path / "streamscope-data").mkdir()
    SQLiteStore(str(tmp_path / "streamscope-data" / "streamscope.db")).close()
    env = {k: v for k, v in os.environ.items() if k != "STREAMSCOPE_DB"}
    proc = subprocess.Popen(
        [*CMD, "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().endswith(" (dashboard)\n")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_busy_port_is_a_one_line_error_with_the_port_0_hint(tmp_path: Path) -> None:
    import socket

    from streamscope.collector.store.sqlite import SQLiteStore

    SQLiteStore(str(tmp_path / "x.db")).close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = subprocess.run(
            [*CMD, "--db", str(tmp_path / "x.db"), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1 and "Usage:" not in result.stderr
    assert result.stderr.strip() == (
        f"Error: port {port} on 127.0.0.1 is already in use: stop what holds it, or "
        "pick another with --port (0 picks a free port)."
    )


def test_bad_host_is_a_one_line_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CMD, "--db", str(tmp_path / "x.db"), "--host", "999.1.1.1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1 and result.stderr.startswith("Error: cannot listen on 999.1.1.1: ")


def test_bad_port_is_a_usage_error() -> None:
    """Ports outside 0-65535 are refused by the option parser."""
    result = subprocess.run(
        [*CMD, "--db", "x.db", "--port", "70000"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and "70000" in result.stderr
