"""The demo workload: simulated users sending requests at a steady rate, traced by the SDK.

Requests arrive as a Poisson process at ``rate`` per second (seeded), each one a scene drawn from a shuffled
deck in which every scene appears (so every kind of stream shows up within the first few seconds), on a model
profile drawn by weight, for one of a few dozen simulated users with their conversations (``session.id`` /
``user.id`` on every span through :class:`streamscope.context`).

    stats = asyncio.run(run_demo(DemoConfig(endpoint="http://127.0.0.1:4318", duration=30)))

Everything random comes from one ``random.Random(seed)`` consumed in arrival order, so the sequence of requests
(scene, model, scenario) is the same for the same seed whatever the timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import openai

import streamscope
from streamscope.demo.profiles import Profile, pick_profile
from streamscope.demo.scenes import SCENES, Scene
from streamscope.testing.fake_llm import FakeLLMServer

__all__ = ["Arrival", "DemoConfig", "DemoStats", "arrivals", "run_demo"]

logger = logging.getLogger("streamscope.demo")
USERS = 24


@dataclass(frozen=True)
class DemoConfig:
    """Demo settings. ``llm_url=None`` starts a fake LLM server in this process; ``duration=None`` runs
    until stopped."""

    endpoint: str = "http://127.0.0.1:4318"
    llm_url: str | None = None
    rate: float = 2.0
    duration: float | None = None
    seed: int = 0
    concurrency: int = 32
    service_name: str = "streamscope-demo"
    grace: float = 10.0  # seconds in-flight requests get to finish once the demo stops


@dataclass
class DemoStats:
    """Counts so far: requests started and finished, outcomes as the app saw them, scenes run."""

    started: int = 0
    finished: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    scenes: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # unexpected exceptions, by type
    began: float = field(default_factory=time.monotonic)

    @property
    def in_flight(self) -> int:
        return self.started - self.finished

    def line(self) -> str:
        order = ("completed", "abandoned", "cancelled", "error", "timeout")
        parts = [f"{k} {self.outcomes[k]}" for k in order if self.outcomes[k]]
        failed = sum(self.failures.values())
        if failed:
            parts.append(f"failed {failed}")
        return f"requests {self.started} (in flight {self.in_flight}) | " + (
            ", ".join(parts) or "none finished yet"
        )


class _Deck:
    """Scene names in shuffled rounds; each round holds every scene its weight's number of times."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._cards: list[str] = []

    def draw(self) -> str:
        if not self._cards:
            self._cards = [name for name, (_fn, count) in SCENES.items() for _ in range(count)]
            self._rng.shuffle(self._cards)
        return self._cards.pop()


@dataclass(frozen=True)
class Arrival:
    """One planned request: wait ``wait`` seconds after the previous one, then run ``scene`` on ``profile``
    for ``user`` in their ``conversation``, with a random generator seeded by ``seed``."""

    wait: float
    scene: str
    user: int
    conversation: int
    profile: Profile
    seed: int


def arrivals(seed: int, rate: float) -> Iterator[Arrival]:
    """The endless, reproducible plan of requests for ``seed`` at ``rate`` per second (Poisson arrivals)."""
    rng = random.Random(seed)
    deck = _Deck(rng)
    conversations = [0] * USERS
    while True:
        wait = rng.expovariate(rate) if rate > 0 else 1.0
        name = deck.draw()
        user = rng.randrange(USERS)
        if rng.random() < 0.25:
            conversations[user] += 1
        yield Arrival(wait, name, user, conversations[user], pick_profile(rng), rng.randrange(1 << 62))


async def run_demo(
    config: DemoConfig,
    *,
    stop: asyncio.Event | None = None,
    progress: Callable[[DemoStats], None] | None = None,
) -> DemoStats:
    """Run the workload until ``duration`` passes or ``stop`` is set; returns the final counts.

    Starts tracing with ``streamscope.init(config.endpoint, service_name=...)`` and shuts it down (flushed)
    at the end. A collector that is down costs nothing visible: spans are dropped by the exporter, not raised.
    """
    stop = stop or asyncio.Event()
    stats = DemoStats()
    llm: FakeLLMServer | None = None
    if config.llm_url is None:
        llm = FakeLLMServer(keep_requests=100).start()
        base_url = llm.base_url
    else:
        base_url = config.llm_url
    tracing = streamscope.init(config.endpoint, service_name=config.service_name)
    client = openai.AsyncOpenAI(base_url=base_url, api_key="demo", max_retries=0)
    raw_client = openai.AsyncOpenAI(base_url=base_url, api_key="demo", max_retries=0)
    streamscope.instrument_openai(raw_client)
    try:
        await _schedule(config, stop, stats, client, raw_client, progress)
    finally:
        await client.close()
        await raw_client.close()
        tracing.force_flush(10)
        tracing.shutdown()
        if llm is not None:
            llm.stop()
    return stats


async def _schedule(
    config: DemoConfig,
    stop: asyncio.Event,
    stats: DemoStats,
    client: openai.AsyncOpenAI,
    raw_client: openai.AsyncOpenAI,
    progress: Callable[[DemoStats], None] | None,
) -> None:
    slots = asyncio.Semaphore(config.concurrency)
    tasks: set[asyncio.Task[None]] = set()
    deadline = None if not config.duration else time.monotonic() + config.duration
    reporter = asyncio.ensure_future(_report(stats, progress)) if progress else None
    try:
        for arrival in arrivals(config.seed, config.rate):
            wait = arrival.wait
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
            if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                break
            scene = Scene(random.Random(arrival.seed), arrival.profile, client, raw_client)
            await slots.acquire()
            stats.started += 1
            stats.scenes[arrival.scene] += 1
            task = asyncio.ensure_future(
                _one(arrival.scene, scene, arrival.user, arrival.conversation, stats, slots)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        if tasks:
            _done, pending = await asyncio.wait(set(tasks), timeout=config.grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if reporter is not None:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            assert progress is not None
            progress(stats)


async def _one(
    name: str, scene: Scene, user: int, conversation: int, stats: DemoStats, slots: asyncio.Semaphore
) -> None:
    fn, _count = SCENES[name]
    try:
        with streamscope.context(
            session_id=f"session-{user:02d}-{conversation}",
            user_id=f"user-{user:02d}",
            tags=["demo", name],
            metadata={"scene": name, "model": scene.profile.model},
        ):
            outcome = await fn(scene)
        stats.outcomes[outcome] += 1
    except asyncio.CancelledError:  # the demo is stopping
        stats.outcomes["cancelled"] += 1
        raise
    except Exception as exc:
        kind = type(exc).__name__
        if not stats.failures[kind]:
            print(f"demo: {name} request failed unexpectedly: {kind}: {exc}", file=sys.stderr, flush=True)
        stats.failures[kind] += 1
    finally:
        stats.finished += 1
        slots.release()


async def _report(stats: DemoStats, progress: Callable[[DemoStats], None] | None) -> None:
    assert progress is not None
    while True:
        await asyncio.sleep(1.0)
        progress(stats)
