#!/usr/bin/env python3
"""Tracing's cost per chunk on async engine streams (``model.astream``), consumer thread CPU, paired.

    .venv/bin/python bench/engine_async_tracing.py [--n 2000] [--reps 25]

The engine's ``FakeStreamingChatModel`` streams ``N`` plain text chunks; each repetition runs an untraced and a
traced stream (``TracingCallbackHandler``, rollups only, spans kept in memory by ``capture_spans``, which encodes
nothing) in the same process, one after the other, with ``gc.collect()`` before each. Printed: the median CPU ns per
chunk of each and the median of the paired differences. ``bench/sdk_overhead.py`` measures the synchronous
streams (and the openai client); this is its async counterpart for the engine's own loop.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time

from streamscope.engine.models import FakeStreamingChatModel
from streamscope.testing import capture_spans
from streamscope.tracing.handler import TracingCallbackHandler


async def _per_chunk(model: FakeStreamingChatModel) -> float:
    gc.collect()
    t0, n = time.thread_time_ns(), 0
    async for _ in model.astream("q"):
        n += 1
    return (time.thread_time_ns() - t0) / n


async def _run(n: int, reps: int, warmup: int) -> None:
    plain = FakeStreamingChatModel(chunks=["w "] * n, model="bench")
    traced = FakeStreamingChatModel(chunks=["w "] * n, model="bench", callbacks=[TracingCallbackHandler()])
    times: dict[str, list[float]] = {"plain": [], "traced": []}
    with capture_spans(chunk_spans=False):
        for _ in range(warmup + reps):
            times["plain"].append(await _per_chunk(plain))
            times["traced"].append(await _per_chunk(traced))
    p, t = times["plain"][warmup:], times["traced"][warmup:]
    paired = statistics.median(b - a for a, b in zip(p, t, strict=True))
    print(f"async engine stream, N={n}, {reps} paired reps: untraced {statistics.median(p):,.0f} ns/chunk, traced "
          f"{statistics.median(t):,.0f} ns/chunk, paired delta {paired:+,.0f} ns/chunk (consumer thread CPU)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=25)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    asyncio.run(_run(args.n, args.reps, args.warmup))


if __name__ == "__main__":
    main()
