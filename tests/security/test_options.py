"""Issue 18, item 12: every retention option is validated with a usage error; a tiny age cannot spin a core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streamscope.collector.model import NS, IngestBatch, Span
from streamscope.collector.retention import MAX_BYTES, Retention, parse_size
from streamscope.collector.store.sqlite import SQLiteStore

BAD = [
    ("--retention", "nan"), ("--retention", "inf"), ("--retention", "-inf"), ("--retention", "1e-12"),
    ("--retention", "0"), ("--retention", "1e300"), ("--max-db-size", "9" * 400), ("--max-db-size", "1" * 30 + "TB"),
    ("--max-db-size", "5 parsecs"), ("--max-db-size", "0.5MB"), ("--max-db-size", "nan"),
]  # fmt: skip


@pytest.mark.parametrize("command", ["collector", "up"])
@pytest.mark.parametrize(("flag", "value"), BAD)
def test_bad_retention_options_are_usage_errors(command: str, flag: str, value: str, tmp_path: Path) -> None:
    where = ["--db", str(tmp_path / "c.db")] if command == "collector" else ["--data-dir", str(tmp_path)]
    ports = ["--http-port", "0", "--grpc-port", "0"] + (["--ui-port", "0"] if command == "up" else [])
    cmd = [sys.executable, "-m", "streamscope", command, *where, *ports, flag, value]
    try:  # a command that starts anyway runs until killed: the timeout kills it and the test fails
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{command} started with {flag} {value[:20]}")
    assert done.returncode == 2, done.stderr
    assert flag in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()[-1]) < 200  # one short line, even for a 400-digit value


def test_sizes_parse_exactly() -> None:
    assert parse_size("1.5GiB") == 1536 * 1024**2
    assert parse_size("0.000001TB") == 1_000_000
    assert parse_size(str(MAX_BYTES)) == MAX_BYTES
    with pytest.raises(ValueError, match="largest"):
        parse_size(str(MAX_BYTES + 1))


def test_checks_never_come_faster_than_once_a_second() -> None:
    assert Retention(max_age_s=1e-9).interval >= 1.0
    assert Retention(max_age_s=3600).interval == 60.0
    # the size bound is checked every second: the overshoot is what arrives in one second
    assert Retention(max_bytes=5_000_000).interval == 1.0
    for bad in (float("nan"), float("inf"), 0.0, -1.0):
        with pytest.raises(ValueError):
            Retention(max_age_s=bad)


def test_size_retention_gives_the_wal_back(tmp_path: Path) -> None:
    """The size bound counts the WAL: once retention deleted, the WAL is truncated, so database + WAL fit."""
    path = tmp_path / "w.db"
    store = SQLiteStore(str(path), synchronous="OFF")
    t0 = 1_700_000_000 * NS
    for b in range(4):  # ~4 MB in large transactions: the WAL grows past the autocheckpoint size
        store.write(IngestBatch(spans=tuple(
            Span(trace_id=f"{b * 1000 + i + 1:032x}", span_id=f"{i + 1:016x}", parent_span_id=None, name="x",
                 kind=1, start_ns=t0 + b * 1000 + i, end_ns=t0 + b * 1000 + i + 1, attributes={"pad": "p" * 900})
            for i in range(1000)
        )))  # fmt: skip
    wal = Path(str(path) + "-wal")
    assert wal.stat().st_size > 2_000_000
    before = store.storage_bytes()
    deleted = Retention(max_bytes=before // 2).enforce_size(store)
    size, wal_size = store.storage_bytes(), wal.stat().st_size
    store.close()
    assert deleted > 0
    # the WAL's bytes are given back (the main file keeps its high-water mark: SQLite reuses, never shrinks it)
    assert wal_size == 0
    assert size < before, (size, before)
