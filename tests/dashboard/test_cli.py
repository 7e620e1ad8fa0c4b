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
    proc = subprocess.Popen([*CMD, "--db", db, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
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


def test_missing_database_is_a_usage_error(tmp_path: Path) -> None:
    """A --db path that does not exist is refused with one clear sentence."""
    result = subprocess.run([*CMD, "--db", str(tmp_path / "nope.db"), "--port", "0"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2
    assert "No database at" in result.stderr and "Traceback" not in result.stderr


def test_bad_port_is_a_usage_error() -> None:
    """Ports outside 0-65535 are refused by the option parser."""
    result = subprocess.run([*CMD, "--db", "x.db", "--port", "70000"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "70000" in result.stderr
