#!/usr/bin/env python3
"""Tracing's cost per chunk on async engine streams (``model.astream``), consumer thread CPU, paired.

    .venv/bin/python bench/engine_async_tracing.py [--n 2000] [--reps 25]

The engine's ``FakeStreamingChatModel`` streams ``N`` plain text chunks; each repetition runs an untraced and a
traced stream (``TracingCallbackHandler``, rollups only) in the same process, one after the other, with
``gc.collect()`` before each. Two pipelines, one after the other in the same run:

- ``init``: ``streamscope.init`` exporting OTLP/HTTP to a sink process (``bench/sdk_overhead.py``'s), flushed after
  each traced stream, outside the measurement: what an instrumented app pays on its event loop's thread (the
  stream's span starts and finishes on the export thread);
- ``capture_spans``: the synchronous in-memory pipeline of ``streamscope.testing``, where the stream's span starts
  and finishes (rollups, attributes) on the consumer's thread, so its end of stream is counted here too.

Printed per pipeline: the median CPU ns per chunk of each and the median of the paired differences.
``bench/sdk_overhead.py`` measures the synchronous streams (and the openai client); this is its async counterpart
for the engine's own loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamscope
from streamscope.engine.models import FakeStreamingChatModel
from streamscope.testing import capture_spans
from streamscope.tracing.handler import TracingCallbackHandler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sdk_overhead import Helper


async def _per_chunk(model: FakeStreamingChatModel) -> float:
    gc.collect()
    t0, n = time.thread_time_ns(), 0
    async for _ in model.astream("q"):
        n += 1
    return (time.thread_time_ns() - t0) / n


async def _run(n: int, reps: int, warmup: int, flush: Callable[[], Any]) -> tuple[float, float, float]:
    plain = FakeStreamingChatModel(chunks=["w "] * n, model="bench")
    traced = FakeStreamingChatModel(chunks=["w "] * n, model="bench", callbacks=[TracingCallbackHandler()])
    times: dict[str, list[float]] = {"plain": [], "traced": []}
    for _ in range(warmup + reps):
        times["plain"].append(await _per_chunk(plain))
        times["traced"].append(await _per_chunk(traced))
        flush()
    p, t = times["plain"][warmup:], times["traced"][warmup:]
    return (
        statistics.median(p),
        statistics.median(t),
        statistics.median(b - a for a, b in zip(p, t, strict=True)),
    )


def _report(name: str, n: int, reps: int, result: tuple[float, float, float]) -> None:
    p, t, paired = result
    print(
        f"async engine stream, {name}, N={n}, {reps} paired reps: untraced {p:,.0f} ns/chunk, traced "
        f"{t:,.0f} ns/chunk, paired delta {paired:+,.0f} ns/chunk (consumer thread CPU)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=25)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    sink = Helper("--serve-sink")
    try:
        tracing = streamscope.init(
            f"http://127.0.0.1:{sink.port}",
            service_name="bench-async",
            chunk_spans=False,
            instrument_engine=False,
        )
        try:
            result = asyncio.run(_run(args.n, args.reps, args.warmup, lambda: tracing.force_flush(30)))
        finally:
            tracing.shutdown()
        _report("init (export thread)", args.n, args.reps, result)
    finally:
        with contextlib.suppress(Exception):
            sink.stop()
    with capture_spans(chunk_spans=False, instrument_engine=False):  # the traced model has its own handler
        result = asyncio.run(_run(args.n, args.reps, args.warmup, lambda: None))
    _report("capture_spans (synchronous)", args.n, args.reps, result)


if __name__ == "__main__":
    main()
