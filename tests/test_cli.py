from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from streamscope.cli import main


def test_help_lists_the_command_group() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "streamscope" in result.output


def test_console_script_is_installed() -> None:
    out = subprocess.run([sys.executable, "-m", "streamscope", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout


# The command-line contract (docs/collector.md, docs/dashboard.md): every command and the flags it must take.
CONTRACT = {
    "up": ["--data-dir", "--host", "--http-port", "--grpc-port", "--ui-port", "--demo"],
    "collector": ["--db", "--host", "--http-port", "--grpc-port", "--api-key"],
    "dashboard": ["--db", "--host", "--port"],
    "fake-llm": ["--host", "--port", "--scenarios"],
    "demo": ["--endpoint", "--llm-url", "--rate", "--duration", "--seed"],
}
PORT_FLAG = {"up": "--http-port", "collector": "--http-port", "dashboard": "--port", "fake-llm": "--port"}


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_every_command_and_option_is_documented(name: str) -> None:
    top = CliRunner().invoke(main, ["--help"])
    assert name in top.output
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    command = main.get_command(click.Context(main), name)
    assert command is not None and (command.help or "").strip()
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    assert set(CONTRACT[name]) <= options
    for param in command.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"{name} {param.opts} has no help text"
            assert param.opts[0] in result.output


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_bad_flags_get_a_one_line_error(name: str) -> None:
    unknown = subprocess.run(
        [sys.executable, "-m", "streamscope", name, "--no-such-flag"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 2
    errors = [line for line in unknown.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: No such option '--no-such-flag'."], unknown.stderr
    assert "Traceback" not in unknown.stderr
    flag = PORT_FLAG.get(name, "--rate")
    bad = subprocess.run(
        [sys.executable, "-m", "streamscope", name, flag, "70000" if flag != "--rate" else "-5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    errors = [line for line in bad.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith(f"Error: Invalid value for '{flag}'"), bad.stderr
