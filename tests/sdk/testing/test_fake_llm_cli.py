"""``streamscope fake-llm``: prints its address as soon as it accepts connections, serves scenario files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from streamscope.testing.fake_llm import Scenario, ScenarioError, load_scenarios

SCRIPT = "from streamscope.cli import main; main()"


def test_cli_serves_a_scenarios_file_on_a_free_port(tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios.json"
    scenarios.write_text(json.dumps({"scripted": {"words": ["from", " file"]}}))
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "fake-llm", "--port", "0", "--scenarios", str(scenarios)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        assert int(url.rsplit(":", 1)[1]) > 0
        with openai.OpenAI(base_url=url + "/v1", api_key="t", max_retries=0) as client:
            stream = client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "x"}], stream=True
            )
            assert "".join(c.choices[0].delta.content or "" for c in stream) == "from file"
            assert "gpt-4o-mini" in {m.id for m in client.models.list()}
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_cli_rejects_a_bad_scenarios_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"m": {"gap": -1}}))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, "fake-llm", "--port", "0", "--scenarios", str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Model 'm': Scenario field 'gap' must be between 0 and 3600 seconds." in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "A scenario must be a JSON object."),
        ({"txt": "x"}, "Unknown scenario field 'txt'."),
        ({"text": 3}, "Scenario field 'text' must be a string."),
        ({"text": "a", "words": ["a"]}, "Give either 'text' or 'words' in a scenario, not both."),
        ({"words": "abc"}, "Scenario field 'words' must be a list of strings."),
        ({"ttft": True}, "Scenario field 'ttft' must be a number of seconds."),
        ({"gap": float("nan")}, "Scenario field 'gap' must be a number of seconds."),
        ({"stall_at": -1}, "Scenario field 'stall_at' must be an integer from 0 to 100000."),
        ({"error_status": 200}, "Scenario field 'error_status' must be an integer from 400 to 599."),
        (
            {"tool_calls": [{"arguments": {}}]},
            "Each tool call in a scenario needs a non-empty string 'name'.",
        ),
        ({"usage": {"prompt_tokens": -1}}, "Scenario field 'usage' must be an object"),
    ],
)
def test_scenario_validation_messages(raw: object, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict(raw)
    assert str(info.value).startswith(message)


def test_load_scenarios_names_the_model() -> None:
    assert set(load_scenarios({"a": {}, "b": {"text": "x"}})) == {"a", "b"}
    with pytest.raises(ScenarioError, match=r"^The scenarios file must hold a JSON object"):
        load_scenarios([1])


def test_a_busy_port_is_one_line_that_names_the_option() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, "fake-llm", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"Error: port {port} on 127.0.0.1 is already in use: stop what holds it, or "
        "pick another with --port (0 picks a free port)."
    )


def test_a_bad_host_is_one_line_that_names_the_option() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, "fake-llm", "--host", "999.1.1.1", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: cannot listen on 999.1.1.1: ") and "--host" in result.stderr
