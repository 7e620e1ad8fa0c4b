"""The fake server's clock: scripted timing measured with the raw ``openai`` client over loopback.

Every latency number streamscope shows is checked against this server, so its timing must match the script.
The server sleeps to monotonic deadlines counted from the request's arrival; chunks may arrive late (scheduling,
loopback) but never early.

The bounds come from what the consumer observed. Never early: from the consumer's own start, which precedes the
request's arrival. Not late: the request arrived at most ``min(arrival - scripted)`` over the events the consumer
got (each was sent no earlier than its deadline), and a piece cannot come before the consumer asked for it; only
the server's own wake-up jitter between the events of one stream (``JITTER``) is left as a tolerance. So a loaded
machine, a slow request or a late consumer move every bound with them, while a piece sent at the wrong offset of
the script (a stall counted twice, a gap counted from the headers) still fails.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import openai
import pytest

from streamscope.testing.fake_llm import FakeLLMServer
from streamscope.testing.fake_llm.scenario import Scenario, plan

EARLY = 0.003  # clock granularity between threads' monotonic reads
JITTER = 0.04  # the server thread's wake-up jitter between two events of one stream; typically < 2 ms


@pytest.fixture
def client() -> Iterator[openai.OpenAI]:
    scenario = {"words": ["a", "b", "c", "d", "e"], "headers_delay": 0.05, "ttft": 0.12, "gap": 0.03,
                "stall_at": 3, "stall": 0.1}  # fmt: skip
    with (
        FakeLLMServer({"timed": scenario}, include_defaults=False) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="t", max_retries=0) as c,
    ):
        c.models.list()  # open the keep-alive connection so connect time is not measured
        yield c


def test_first_byte_ttft_gaps_and_stall_match_the_script(client: openai.OpenAI) -> None:
    start = time.monotonic()
    stream = client.chat.completions.create(
        model="timed", messages=[{"role": "user", "content": "x"}], stream=True
    )
    headers_at = time.monotonic() - start  # create() returns once response headers arrived
    pieces = iter(stream)
    arrivals: list[tuple[float, float, str | None]] = []  # (asked, got, content) since start
    while True:
        asked = time.monotonic() - start
        chunk = next(pieces, None)
        if chunk is None:
            break
        arrivals.append(
            (asked, time.monotonic() - start, chunk.choices[0].delta.content if chunk.choices else None)
        )
    expected = [("", 0.05), ("a", 0.12), ("b", 0.15), ("c", 0.18), ("d", 0.31), ("e", 0.34)]
    assert [content for _, _, content in arrivals[:6]] == [c for c, _ in expected]
    events = [(0.0, headers_at, 0.05)] + [
        (a, g, at) for (a, g, _), (_, at) in zip(arrivals, expected, strict=False)
    ]
    # never early
    for _, got, scripted in events:
        assert got >= scripted - EARLY, (got, scripted)
    # the request arrived at most this long after start: every event was sent at or after its deadline
    arrived = min(got - scripted for _, got, scripted in events)
    for asked, got, scripted in events:
        assert got <= max(asked, arrived + scripted) + JITTER, (events, arrived)


def test_plan_places_ttft_gaps_stall_and_jitter_deterministically() -> None:
    scenario = Scenario.from_dict({"text": "a b c d", "ttft": 0.5, "gap": 0.1, "jitter": 0.05, "seed": 7,
                                   "stall_at": 2, "stall": 1.0})  # fmt: skip
    first, second = plan(scenario, prompt_tokens=1), plan(scenario, prompt_tokens=1)
    assert first == second
    times = [p.at for p in first.pieces]
    assert times[0] == 0.5
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.05 <= s <= 0.15 for s in (steps[0], steps[2]))
    assert 1.05 <= steps[1] <= 1.15  # the stall comes before chunk 2
    assert len(set(steps)) == 3  # jitter really varies the gaps
    assert (
        plan(Scenario.from_dict({"text": "a", "ttft": 0.1, "headers_delay": 0.3}), prompt_tokens=0)
        .pieces[0]
        .at
        == 0.3
    )
