"""``streamscope collector`` refuses bad setups with one sentence and no traceback, before serving anything."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamscope", "collector", *args], capture_output=True, text=True, timeout=60
    )


def _errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("option", ["--http-port", "--grpc-port"])
def test_a_taken_port_is_named_with_its_option(tmp_path: Path, taken_port: int, option: str) -> None:
    other = "--grpc-port" if option == "--http-port" else "--http-port"
    result = _run("--db", str(tmp_path / "c.db"), option, str(taken_port), other, "0")
    assert result.returncode == 1
    assert _errors(result) == [
        f"Error: port {taken_port} on 127.0.0.1 is already in use: stop what holds it, or "
        f"pick another with {option} (0 picks a free port)."
    ]
    assert "listening on" not in result.stdout
    assert not (tmp_path / "c.db").exists()  # nothing was started


@pytest.mark.parametrize(
    "content,why",
    [
        ("{bad", "Expecting property name"),
        ("[1, 2]", "must be a JSON object"),
        ('{"m": {"input": -1}}', "price for 'm'"),
        (b"\xff\xfe", "codec"),
    ],
)
def test_a_bad_price_table_is_a_one_line_error(tmp_path: Path, content: str | bytes, why: str) -> None:
    prices = tmp_path / "prices.json"
    prices.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = _run(
        "--db", str(tmp_path / "c.db"), "--prices", str(prices), "--http-port", "0", "--grpc-port", "0"
    )
    assert result.returncode == 2
    (error,) = [line for line in _errors(result) if line.startswith("Error:")]
    assert error.startswith("Error: Invalid value for --prices: ") and why in error


def test_a_database_in_a_missing_directory_says_the_directory_is_missing(tmp_path: Path) -> None:
    result = _run("--db", str(tmp_path / "missing-dir" / "c.db"), "--http-port", "0", "--grpc-port", "0")
    assert result.returncode == 1
    missing = tmp_path / "missing-dir"
    assert _errors(result) == [
        f"Error: the directory {missing} does not exist: create it (mkdir -p {missing}) or "
        "give --db another path."
    ]


def test_an_unopenable_database_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "c.db"
    bad.write_bytes(b"this is not a database" * 100)
    result = _run("--db", str(bad), "--http-port", "0", "--grpc-port", "0")
    assert result.returncode == 1
    (line,) = _errors(result)
    assert line.startswith(f"Error: cannot open the database {bad}: ") and line.endswith(".")


@pytest.mark.parametrize("host", ["999.1.1.1", "no-such-host.invalid"])
def test_a_bad_host_blames_the_host_not_the_port(tmp_path: Path, host: str) -> None:
    result = _run("--db", str(tmp_path / "c.db"), "--host", host, "--http-port", "0", "--grpc-port", "0")
    assert result.returncode == 1
    (line,) = _errors(result)
    assert line.startswith(f"Error: cannot listen on {host}: ") and "--host" in line and "port" not in line


def test_default_database_is_the_shared_data_location(tmp_path: Path) -> None:
    """Without --db the collector writes streamscope-data/streamscope.db (what `up` writes and `dashboard`
    reads), creating the directory; STREAMSCOPE_DB overrides it."""
    import os
    import signal

    for env, expected in (
        ({}, tmp_path / "streamscope-data" / "streamscope.db"),
        ({"STREAMSCOPE_DB": str(tmp_path / "env.db")}, tmp_path / "env.db"),
    ):
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamscope", "collector", "--http-port", "0", "--grpc-port", "0"],
            cwd=tmp_path,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().startswith("listening on ")
            assert expected.exists()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
