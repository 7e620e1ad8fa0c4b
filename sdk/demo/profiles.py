"""Model profiles for the demo: how each fake "model" streams, as fake-LLM scenarios built per request.

Each profile is a timing personality (fast and steady, slow to start, jittery and stall-prone, ...). A
request's scenario is drawn from the profile with the demo's seeded random generator, so one ``--seed``
reproduces the whole workload. Scenarios use the fake server's fields (``docs/fake-llm.md``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

__all__ = ["PROFILES", "Profile", "pick_profile"]


@dataclass(frozen=True)
class Profile:
    """A model's streaming personality. Times in seconds; ``weight`` is its share of requests."""

    model: str
    headers_delay: float
    ttft: float
    gap: float
    jitter: float
    min_words: int
    max_words: int
    stall_rate: float  # share of streams with one long stall
    weight: float

    def scenario(
        self, rng: random.Random, *, words: int | None = None, stall: bool | None = None, **extra: Any
    ) -> dict[str, Any]:
        """One request's scenario: this profile's timing, a seeded text length, maybe a stall."""
        n = words if words is not None else rng.randint(self.min_words, self.max_words)
        ttft = self.ttft * rng.uniform(0.7, 1.5)
        scenario: dict[str, Any] = {
            "seed": rng.randrange(1 << 30),
            "headers_delay": round(min(self.headers_delay, ttft), 4),
            "ttft": round(ttft, 4),
            "gap": self.gap,
            "jitter": self.jitter,
            "length": n,
            "usage": {"prompt_tokens": rng.randint(20, 400), "completion_tokens": n},
        }
        if stall if stall is not None else rng.random() < self.stall_rate:
            scenario["stall_at"] = rng.randint(1, max(1, n - 2))
            scenario["stall"] = round(rng.uniform(2.2, 3.5), 3)
        scenario.update(extra)
        return scenario


PROFILES: tuple[Profile, ...] = (
    Profile("gpt-4o-mini", 0.12, 0.25, 0.018, 0.008, 20, 70, 0.02, 0.40),
    Profile("gpt-4o", 0.2, 0.45, 0.032, 0.012, 30, 90, 0.03, 0.25),
    Profile("o3-mini", 0.3, 1.8, 0.012, 0.004, 30, 120, 0.02, 0.15),  # thinks first, then streams fast
    Profile("llama-3.1-8b", 0.05, 0.15, 0.045, 0.035, 15, 60, 0.12, 0.20),  # self-hosted: jittery, stalls
)


def pick_profile(rng: random.Random) -> Profile:
    """A profile drawn by weight."""
    return rng.choices(PROFILES, weights=[p.weight for p in PROFILES])[0]
