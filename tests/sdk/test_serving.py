"""The server commands' shared data location and start-up error sentences."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from streamscope import serving


def test_default_db_is_the_data_dir_unless_the_environment_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STREAMSCOPE_DB", raising=False)
    assert serving.default_db() == "streamscope-data/streamscope.db" == serving.DEFAULT_DB
    monkeypatch.setenv("STREAMSCOPE_DB", "/x/y.db")
    assert serving.default_db() == "/x/y.db"


def test_host_problems() -> None:
    assert serving.host_problem("127.0.0.1") is None
    bad = serving.host_problem("999.1.1.1")
    assert bad is not None and bad.startswith("cannot listen on 999.1.1.1: ") and "--host" in bad
    foreign = serving.host_problem("192.0.2.1")  # TEST-NET-1: resolves, but is no address of this machine
    assert foreign is not None and "not an address of this machine" in foreign


def test_port_problem_sentence() -> None:
    text = serving.port_problem(
        "127.0.0.1", 80, "--port", OSError(errno.EADDRINUSE, "Address already in use")
    )
    assert (
        text
        == "port 80 on 127.0.0.1 is already in use: stop what holds it, or pick another with --port (0 picks "
        "a free port)."
    )


def test_db_dir_problems(tmp_path: Path) -> None:
    assert serving.db_dir_problem(str(tmp_path / "ok.db")) is None
    missing = serving.db_dir_problem(str(tmp_path / "no" / "x.db"))
    assert missing is not None and f"the directory {tmp_path / 'no'} does not exist" in missing
    assert "is a directory" in (serving.db_dir_problem(str(tmp_path)) or "")
