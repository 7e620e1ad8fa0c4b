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
    return subprocess.run([sys.executable, "-m", "streamscope", "collector", *args], capture_output=True, text=True,
                          timeout=60)


def _errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("option", ["--http-port", "--grpc-port"])
def test_a_taken_port_is_named_with_its_option(tmp_path: Path, taken_port: int, option: str) -> None:
    other = "--grpc-port" if option == "--http-port" else "--http-port"
    result = _run("--db", str(tmp_path / "c.db"), option, str(taken_port), other, "0")
    assert result.returncode == 1
    assert _errors(result) == [f"Error: port {taken_port} on 127.0.0.1 is already in use: stop what holds it, or "
                               f"pick another with {option} (0 picks a free port)."]
    assert "listening on" not in result.stdout
    assert not (tmp_path / "c.db").exists()  # nothing was started


@pytest.mark.parametrize("content,why", [("{bad", "Expecting property name"), ("[1, 2]", "must be a JSON object"),
                                         ('{"m": {"input": -1}}', "price for 'm'"), (b"\xff\xfe", "codec")])
def test_a_bad_price_table_is_a_one_line_error(tmp_path: Path, content: str | bytes, why: str) -> None:
    prices = tmp_path / "prices.json"
    prices.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = _run("--db", str(tmp_path / "c.db"), "--prices", str(prices), "--http-port", "0", "--grpc-port", "0")
    assert result.returncode == 2
    (error,) = [line for line in _errors(result) if line.startswith("Error:")]
    assert error.startswith("Error: Invalid value for --prices: ") and why in error


def test_an_unopenable_database_is_a_one_line_error(tmp_path: Path) -> None:
    result = _run("--db", str(tmp_path / "missing-dir" / "c.db"), "--http-port", "0", "--grpc-port", "0")
    assert result.returncode == 1
    assert _errors(result) == [f"Error: cannot open the database {tmp_path / 'missing-dir' / 'c.db'}: "
                               "unable to open database file."]
