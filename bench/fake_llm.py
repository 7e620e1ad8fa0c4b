#!/usr/bin/env python3
"""The fake LLM server's clock and ChatOpenAI's cost per chunk, measured with the real ``openai`` client.

    .venv/bin/python bench/fake_llm.py            # full run
    .venv/bin/python bench/fake_llm.py --quick    # fewer streams

1. Timing accuracy: streams with a scripted ``headers_delay``, ``ttft`` and ``gap`` (and one stall) are read
   with the raw ``openai`` client, 1 at a time and 8 at once (threads). For every chunk, lateness = arrival
   offset measured by the client − scripted offset; the table shows p50 / p95 / max lateness and the earliest
   arrival (negative = early, which must not happen beyond clock granularity). Gap error = measured gap −
   scripted gap.
2. Client cost per chunk: ``gap=0`` streams of N one-word chunks read by (a) the raw ``openai`` client,
   (b) ``ChatOpenAI.stream`` with no handler, (c) ``ChatOpenAI.stream`` with one no-op handler that takes
   every ``on_llm_new_token``. CPU of the consumer thread per chunk (``thread_time_ns``), median of repetitions,
   and the ratio to the raw client. The server runs in this process on its own threads (not counted).

Exit status is non-zero only on harness errors.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from typing import Any

import openai

from streamscope.engine import BaseCallbackHandler, ChatOpenAI
from streamscope.testing.fake_llm import FakeLLMServer

MSG = [{"role": "user", "content": "bench"}]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one_stream(client: openai.OpenAI, scenario: dict[str, Any]) -> tuple[float, list[float]]:
    start = time.monotonic()
    stream = client.chat.completions.create(
        model="m", messages=MSG, stream=True, extra_body={"scenario": scenario}
    )
    headers = time.monotonic() - start
    arrivals = [
        time.monotonic() - start for chunk in stream if chunk.choices and chunk.choices[0].delta.content
    ]
    return headers, arrivals


def timing(server: FakeLLMServer, streams: int, parallel: int) -> dict[str, float]:
    words = 30
    scenario = {"words": [f"w{i} " for i in range(words)], "headers_delay": 0.03, "ttft": 0.08, "gap": 0.01,
                "stall_at": 15, "stall": 0.05}  # fmt: skip
    scripted = [0.08 + 0.01 * i + (0.05 if i >= 15 else 0.0) for i in range(words)]
    late: list[float] = []
    header_late: list[float] = []
    gap_err: list[float] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with openai.OpenAI(base_url=server.base_url, api_key="b", max_retries=0) as client:
                client.models.list()  # warm the keep-alive connection
                for _ in range(n):
                    headers, arrivals = one_stream(client, scenario)
                    if len(arrivals) != words:
                        raise RuntimeError(f"expected {words} content chunks, got {len(arrivals)}")
                    header_late.append(headers - 0.03)
                    late.extend(a - s for a, s in zip(arrivals, scripted, strict=True))
                    for i in range(1, words):
                        gap_err.append((arrivals[i] - arrivals[i - 1]) - (scripted[i] - scripted[i - 1]))
        except BaseException as exc:
            errors.append(exc)

    per = max(1, streams // parallel)
    threads = [threading.Thread(target=worker, args=(per,)) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return {
        "chunks": len(late),
        "late_p50_ms": 1e3 * pct(late, 0.5),
        "late_p95_ms": 1e3 * pct(late, 0.95),
        "late_max_ms": 1e3 * max(late),
        "earliest_ms": 1e3 * min(late),
        "headers_p95_ms": 1e3 * pct(header_late, 0.95),
        "gap_err_p95_ms": 1e3 * pct([abs(g) for g in gap_err], 0.95),
    }


class NoOp(BaseCallbackHandler):
    def __init__(self) -> None:
        self.n = 0

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.n += 1


def cost(server: FakeLLMServer, chunks: int, reps: int) -> dict[str, float]:
    scenario = {"words": [f"w{i} " for i in range(chunks)]}
    results: dict[str, list[float]] = {"raw openai": [], "ChatOpenAI": [], "ChatOpenAI + handler": []}
    handler = NoOp()
    with (
        openai.OpenAI(base_url=server.base_url, api_key="b", max_retries=0) as client,
        ChatOpenAI(model="m", base_url=server.base_url, api_key="b", max_retries=0) as plain,
        ChatOpenAI(
            model="m", base_url=server.base_url, api_key="b", max_retries=0, callbacks=[handler]
        ) as traced,
    ):
        variants = {
            "raw openai": lambda: client.chat.completions.create(
                model="m", messages=MSG, stream=True, extra_body={"scenario": scenario}),
            "ChatOpenAI": lambda: plain.stream("bench", extra_body={"scenario": scenario}),
            "ChatOpenAI + handler": lambda: traced.stream("bench", extra_body={"scenario": scenario}),
        }  # fmt: skip
        for _ in range(reps):
            for name, make in variants.items():
                start = time.thread_time_ns()
                n = sum(1 for _ in make())
                if n < chunks:
                    raise RuntimeError(f"{name}: {n} chunks")
                results[name].append((time.thread_time_ns() - start) / n)
    return {name: statistics.median(values) for name, values in results.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    streams = 8 if args.quick else 40
    reps = 3 if args.quick else 9
    chunks = 300 if args.quick else 1000
    try:
        with FakeLLMServer(include_defaults=False, scenarios={"*": {}}) as server:
            serial = timing(server, streams, 1)
            parallel = timing(server, streams, 8)
            per_chunk = cost(server, chunks, reps)
    except Exception as exc:  # harness error
        print(f"harness error: {exc!r}", file=sys.stderr)
        return 1
    print("Fake LLM timing accuracy (ms; lateness = measured − scripted offset from request start)")
    cols = [
        "chunks",
        "late_p50_ms",
        "late_p95_ms",
        "late_max_ms",
        "earliest_ms",
        "headers_p95_ms",
        "gap_err_p95_ms",
    ]
    print(f"{'streams':<12}" + "".join(f"{c:>16}" for c in cols))
    for label, row in (("1 at a time", serial), ("8 parallel", parallel)):
        print(
            f"{label:<12}"
            + "".join(f"{row[c]:>16.2f}" if c != "chunks" else f"{row[c]:>16.0f}" for c in cols)
        )
    print()
    print(
        f"Consumer CPU per chunk, {chunks}-chunk streams, median of {reps} (µs; ratio to the raw openai client)"
    )
    base = per_chunk["raw openai"]
    for name, ns in per_chunk.items():
        print(f"{name:<24}{ns / 1e3:>10.1f} µs{ns / base:>10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
