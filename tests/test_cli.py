from __future__ import annotations

import subprocess
import sys

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
