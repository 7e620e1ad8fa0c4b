"""Measurement worker for engine_overhead.py: runs inside one interpreter, prints one JSON line.

    python _overhead_worker.py pipeline --impl streamscope|langchain --n 2000 --reps 15
    python _overhead_worker.py stages --n 20000 --reps 9

It times exactly the iteration of a stream (``for chunk in stream: pass``; ``async for`` for async), with
``gc.collect()`` before each repetition, and reports the median CPU (``process_time_ns``: all threads) and
wall (``perf_counter_ns``) time per repetition. It runs under the langchain virtualenv too, so it imports
nothing from streamscope unless asked to.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

WORD = "x"  # FakeListChatModel streams a response character by character: one chunk per character


def text_of(n: int) -> str:
    return WORD * n


def _median(samples: list[tuple[int, int]]) -> dict[str, float]:
    return {
        "cpu_ns": statistics.median(s[0] for s in samples),
        "wall_ns": statistics.median(s[1] for s in samples),
    }


def time_sync(make: Callable[[], Iterator[Any]], reps: int, expect: int | None = None) -> dict[str, float]:
    samples = []
    for _ in range(reps):
        gc.collect()
        it = make()
        count = 0
        c0, w0 = time.process_time_ns(), time.perf_counter_ns()
        for _ in it:
            count += 1
        c1, w1 = time.process_time_ns(), time.perf_counter_ns()
        if expect is not None and count != expect:
            raise RuntimeError(f"expected {expect} chunks, got {count}")
        samples.append((c1 - c0, w1 - w0))
    return _median(samples)


async def time_async(
    make: Callable[[], AsyncIterator[Any]], reps: int, expect: int | None = None
) -> dict[str, float]:
    samples = []
    for _ in range(reps):
        gc.collect()
        it = make()
        count = 0
        c0, w0 = time.process_time_ns(), time.perf_counter_ns()
        async for _ in it:
            count += 1
        c1, w1 = time.process_time_ns(), time.perf_counter_ns()
        if expect is not None and count != expect:
            raise RuntimeError(f"expected {expect} chunks, got {count}")
        samples.append((c1 - c0, w1 - w0))
    return _median(samples)


def build_chain(impl: str, text: str, extra: Any = None) -> Any:
    if impl == "streamscope":
        from streamscope.engine import ChatPromptTemplate, FakeListChatModel, StrOutputParser
    elif impl == "langchain":
        from langchain_core.language_models import FakeListChatModel  # type: ignore[no-redef]
        from langchain_core.output_parsers import StrOutputParser  # type: ignore[no-redef]
        from langchain_core.prompts import ChatPromptTemplate  # type: ignore[no-redef]
    else:
        raise SystemExit(f"unknown impl {impl!r}")
    prompt = ChatPromptTemplate.from_messages([("human", "{q}")])
    model = FakeListChatModel(responses=[text])
    if extra is not None:
        return prompt | model | extra | StrOutputParser()
    return prompt | model | StrOutputParser()


def check_output(chain: Any, text: str) -> int:
    out = list(chain.stream({"q": "hi"}))
    if "".join(out) != text:
        raise RuntimeError(f"pipeline produced {len(''.join(out))} chars, expected {len(text)}")
    return len(out)


def versions(impl: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for dist in ("langchain-core",) if impl == "langchain" else ("streamscope",):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "?"
    return out


def run_pipeline(impl: str, n: int, reps: int) -> dict[str, Any]:
    text = text_of(n)
    chain = build_chain(impl, text)
    chunks = check_output(chain, text)  # also warms up
    sync = time_sync(lambda: chain.stream({"q": "hi"}), reps, chunks)

    async def go() -> dict[str, float]:
        await time_async(lambda: chain.astream({"q": "hi"}), 1, None)  # warm-up
        return await time_async(lambda: chain.astream({"q": "hi"}), reps, None)

    out = [c for c in chain.stream({"q": "hi"})]

    def bare() -> Iterator[Any]:
        yield from out

    async def abare() -> AsyncIterator[Any]:
        for c in out:
            yield c

    async def go_bare() -> dict[str, float]:
        return await time_async(abare, reps, chunks)

    return {
        "impl": impl,
        "n": n,
        "chunks": chunks,
        "sync": sync,
        "async": asyncio.run(go()),
        "bare": {"sync": time_sync(bare, reps, chunks), "async": asyncio.run(go_bare())},
        "versions": versions(impl),
    }


def _stage_factories() -> dict[str, Callable[[], Any]]:
    from streamscope.engine import flow

    return {
        "rechunk(chunk_size=1) pass-through": lambda: flow.rechunk(chunk_size=1),
        "rechunk(chunk_size=8) merging": lambda: flow.rechunk(chunk_size=8),
        "rate_limit(1e9/s) untriggered": lambda: flow.rate_limit(1e9, burst=1_000_000),
        "detect_stalls(2 s)": lambda: flow.detect_stalls(2.0),
        "timeout(per_chunk=10, total=100)": lambda: flow.timeout(per_chunk=10, total=100),
        "buffer(maxsize=64)": lambda: flow.buffer(maxsize=64),
        "guard()": lambda: flow.guard(),
    }


def run_stages(n: int, reps: int) -> dict[str, Any]:
    chunks = [WORD] * n

    def bare() -> Iterator[str]:
        yield from chunks

    async def abare() -> AsyncIterator[str]:
        for c in chunks:
            yield c

    results: dict[str, Any] = {"n": n, "sync": {}, "async": {}}
    factories = _stage_factories()
    expect = {name: (n // 8 + (1 if n % 8 else 0)) if "merging" in name else n for name in factories}
    results["sync"]["bare generator"] = time_sync(bare, reps, n)
    for name, make in factories.items():
        stage = make()
        time_sync(lambda stage=stage: stage(bare()), 1, expect[name])  # warm-up
        results["sync"][name] = time_sync(lambda stage=stage: stage(bare()), reps, expect[name])

    async def go() -> None:
        results["async"]["bare generator"] = await time_async(abare, reps, n)
        for name, make in factories.items():
            stage = make()
            await time_async(lambda stage=stage: stage(abare()), 1, expect[name])
            results["async"][name] = await time_async(lambda stage=stage: stage(abare()), reps, expect[name])

    asyncio.run(go())
    return results


def run_pipeline_stages(n: int, reps: int) -> dict[str, Any]:
    """The same stages inside ``prompt | model | <stage> | parser`` (adds the stage's run bookkeeping)."""
    text = text_of(n)
    out: dict[str, Any] = {"n": n, "sync": {}}
    base = build_chain("streamscope", text)
    check_output(base, text)
    out["sync"]["no stage"] = time_sync(lambda: base.stream({"q": "hi"}), reps)
    for name, make in _stage_factories().items():
        if "merging" in name:
            continue
        chain = build_chain("streamscope", text, make())
        check_output(chain, text)
        out["sync"][name] = time_sync(lambda chain=chain: chain.stream({"q": "hi"}), reps)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["pipeline", "stages", "pipeline-stages"])
    parser.add_argument("--impl", default="streamscope")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args()
    if args.what == "pipeline":
        result = run_pipeline(args.impl, args.n, args.reps)
    elif args.what == "stages":
        result = run_stages(args.n, args.reps)
    else:
        result = run_pipeline_stages(args.n, args.reps)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
