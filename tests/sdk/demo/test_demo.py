"""The demo workload: a reproducible plan, every kind of stream traced for real, and its command line."""

from __future__ import annotations

import asyncio
import itertools
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from streamscope.demo import SCENES, DemoConfig, run_demo
from streamscope.demo.profiles import PROFILES
from streamscope.demo.runner import arrivals

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracing"))
from otlp_receiver import Receiver, attrs

ROUND = sum(count for _fn, count in SCENES.values())


def test_the_plan_is_reproducible_from_the_seed() -> None:
    first = list(itertools.islice(arrivals(7, 2.0), 200))
    assert first == list(itertools.islice(arrivals(7, 2.0), 200))
    assert first != list(itertools.islice(arrivals(8, 2.0), 200))


def test_every_scene_appears_in_every_round_of_the_deck() -> None:
    plan = list(itertools.islice(arrivals(3, 2.0), ROUND * 5))
    for r in range(5):
        names = Counter(a.scene for a in plan[r * ROUND : (r + 1) * ROUND])
        assert names == {name: count for name, (_fn, count) in SCENES.items()}


def test_arrivals_follow_the_rate_and_spread_over_models_and_users() -> None:
    plan = list(itertools.islice(arrivals(1, 4.0), 4000))
    mean_wait = sum(a.wait for a in plan) / len(plan)
    assert mean_wait == pytest.approx(0.25, rel=0.1)
    assert {a.profile.model for a in plan} == {p.model for p in PROFILES}
    assert len({a.user for a in plan}) > 10
    assert len({(a.user, a.conversation) for a in plan}) > len({a.user for a in plan})


@pytest.mark.slow
def test_a_demo_run_sends_every_kind_of_stream() -> None:
    """A short real run: the built-in fake LLM server, the real openai client, OTLP/HTTP to a real receiver."""
    with Receiver() as receiver:
        stats = asyncio.run(
            run_demo(DemoConfig(endpoint=receiver.url, rate=8, duration=ROUND / 8 + 1, seed=5, grace=15))
        )
        llm_spans = [s for s in receiver.spans if s.name.startswith("chat ")]
        outcomes = Counter(attrs(s)["streamscope.stream.outcome"] for s in llm_spans)
        names = {s.name for s in receiver.spans}
    assert stats.started >= ROUND and stats.finished == stats.started
    assert not stats.failures, stats.failures
    assert set(outcomes) == {"completed", "abandoned", "cancelled", "error", "timeout"}, outcomes
    # what the app saw agrees with what the traces say (agents and the 429 retry add completed model streams)
    for outcome in ("abandoned", "cancelled", "timeout"):
        assert outcomes[outcome] == stats.outcomes[outcome], (outcome, outcomes, stats.outcomes)
    assert {"POST /chat", "POST /agent", "POST /extract", "POST /complete"} <= names
    assert {"execute_tool search_docs", "execute_tool calculator"} <= names
    assert any(n.startswith("invoke_agent") for n in names)
    assert any(
        attrs(s).get("streamscope.stream.stall_count") for s in llm_spans
    )  # every round of the deck has a stalled stream
    first = attrs(llm_spans[0])
    assert first["session.id"].startswith("session-") and first["user.id"].startswith("user-")
    assert len({attrs(s)["gen_ai.request.model"] for s in llm_spans}) >= 3
    assert len(receiver.named("streamscope.chunk")) > len(llm_spans)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_demo_command_runs_with_no_collector_listening() -> None:
    """A collector that is down costs the app nothing visible: the demo runs and exits 0."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamscope",
            "demo",
            "--endpoint",
            f"http://127.0.0.1:{_dead_port()}",
            "--duration",
            "3",
            "--rate",
            "5",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "demo: finished: requests" in result.stdout
    assert "failed" not in result.stdout.splitlines()[-1]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flag,value", [("--rate", "-1"), ("--duration", "soon"), ("--concurrency", "0")])
def test_bad_flags_get_a_one_line_error(flag: str, value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamscope", "demo", flag, value], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert f"Invalid value for '{flag}'" in result.stderr
    assert "Traceback" not in result.stderr
