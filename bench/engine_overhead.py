#!/usr/bin/env python3
"""Per-chunk cost of streaming through the engine, against a bare generator and langchain-core.

    python bench/engine_overhead.py [--rounds 5] [--n 200 2000] [--stage-n 20000] [--reps 9]

Measures, in CPU nanoseconds per chunk (``process_time_ns`` of the whole worker process, so producer
threads count; wall time is printed alongside):

1. ``prompt | FakeListChatModel | StrOutputParser`` streamed with ``.stream`` and ``.astream`` in
   streamscope.engine and in langchain-core (installed by this script into ``.bench-venvs/langchain-core``
   and run there in a subprocess), both with one chunk per character (FakeListChatModel's behaviour in
   both), plus iterating a bare generator of the same output chunks;
2. what each ``streamscope.engine.flow`` stage adds per chunk on its pass-through path, on a sync
   generator and an async generator of 1-character chunks;
3. what each stage adds inside the pipeline (``prompt | model | <stage> | parser``, sync), which includes
   the stage's own run bookkeeping.

Every measurement runs in a fresh worker process (``bench/_overhead_worker.py``); rounds interleave
the implementations and the table shows the median over rounds of each round's median over repetitions
(the method of ``reference/peer-sdk-overhead.md``). Targets are reported, not asserted: the pipeline
should cost at least 5x less per chunk than langchain-core's, and each flow stage should add < 1 µs/chunk.
Exit status: 0 when every measurement ran (whether or not targets are met), 2 on a harness error.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "_overhead_worker.py"
LC_VENV = ROOT / ".bench-venvs" / "langchain-core"
PIPELINE_TARGET = 5.0  # langchain-core / streamscope, per chunk
STAGE_TARGET_NS = 1000.0


class HarnessError(Exception):
    """Something the benchmark needs did not work (not a missed target)."""


def lc_python() -> Path:
    """The langchain-core virtualenv's interpreter, creating the venv and installing on first use."""
    py = LC_VENV / "bin" / "python"
    if (
        py.exists()
        and subprocess.run([py, "-c", "import langchain_core"], capture_output=True).returncode == 0
    ):
        return py
    print(f"creating {LC_VENV.relative_to(ROOT)} and installing langchain-core ...", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(LC_VENV)
    res = subprocess.run([py, "-m", "pip", "install", "-q", "langchain-core"], capture_output=True, text=True)
    if res.returncode != 0:
        raise HarnessError(f"pip install langchain-core failed:\n{res.stdout}\n{res.stderr}")
    return py


def run_worker(python: Path | str, *args: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    res = subprocess.run(
        [str(python), str(WORKER), *args], capture_output=True, text=True, env=env, timeout=900
    )
    if res.returncode != 0:
        raise HarnessError(
            f"worker {' '.join(args)} with {python} failed ({res.returncode}):\n{res.stderr[-3000:]}"
        )
    try:
        return dict(json.loads(res.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError) as exc:
        raise HarnessError(f"worker {' '.join(args)} printed no JSON: {res.stdout[-500:]!r}") from exc


def med(values: list[float]) -> float:
    return float(statistics.median(values))


def fmt_ns(v: float) -> str:
    return f"{v:,.0f}"


def measure(args: argparse.Namespace) -> dict[str, Any]:
    lc = lc_python()
    ours = sys.executable
    per: dict[tuple[str, int, str], list[float]] = {}  # (impl, n, mode) -> per-round cpu ns/chunk
    wall: dict[tuple[str, int, str], list[float]] = {}
    versions: dict[str, Any] = {}
    stages: list[dict[str, Any]] = []
    pstages: list[dict[str, Any]] = []
    for rnd in range(args.rounds):
        order = [("streamscope", ours), ("langchain", lc)]
        if rnd % 2:
            order.reverse()
        for n in args.n:
            for impl, py in order:
                r = run_worker(py, "pipeline", "--impl", impl, "--n", str(n), "--reps", str(args.reps))
                versions[impl] = r["versions"]
                chunks = r["chunks"]
                for mode in ("sync", "async"):
                    per.setdefault((impl, n, mode), []).append(r[mode]["cpu_ns"] / chunks)
                    wall.setdefault((impl, n, mode), []).append(r[mode]["wall_ns"] / chunks)
                    if impl == "streamscope":
                        per.setdefault(("bare", n, mode), []).append(r["bare"][mode]["cpu_ns"] / chunks)
                        wall.setdefault(("bare", n, mode), []).append(r["bare"][mode]["wall_ns"] / chunks)
        stages.append(run_worker(ours, "stages", "--n", str(args.stage_n), "--reps", str(args.reps)))
        pstages.append(run_worker(ours, "pipeline-stages", "--n", str(max(args.n)), "--reps", str(args.reps)))
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    return {"per": per, "wall": wall, "versions": versions, "stages": stages, "pstages": pstages}


def report(args: argparse.Namespace, m: dict[str, Any]) -> None:
    per, wall = m["per"], m["wall"]
    lc_version = m["versions"].get("langchain", {}).get("langchain-core", "?")
    big, small = max(args.n), min(args.n)
    print(
        f"\n## prompt | FakeListChatModel | StrOutputParser: CPU ns per chunk (wall in brackets), "
        f"median of {args.rounds} rounds; python {sys.version.split()[0]}\n"
    )
    header = "| variant | mode | " + " | ".join(f"N={n}" for n in args.n)
    header += " | marginal ns/chunk | × bare | langchain-core ÷ this |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    names = {
        "bare": "bare generator (same chunks)",
        "streamscope": "streamscope.engine",
        "langchain": f"langchain-core {lc_version}",
    }
    ratios: dict[str, float] = {}
    for impl in ("bare", "streamscope", "langchain"):
        for mode in ("sync", "async"):
            cells = [
                f"{fmt_ns(med(per[(impl, n, mode)]))} ({fmt_ns(med(wall[(impl, n, mode)]))})" for n in args.n
            ]
            marginal = ""
            if small != big:
                tb, ts = med(per[(impl, big, mode)]) * big, med(per[(impl, small, mode)]) * small
                marginal = fmt_ns((tb - ts) / (big - small))
            x_bare = med(per[(impl, big, mode)]) / med(per[("bare", big, mode)])
            vs_lc = med(per[("langchain", big, mode)]) / med(per[(impl, big, mode)])
            if impl == "streamscope":
                ratios[mode] = vs_lc
            print(
                f"| {names[impl]} | {mode} | "
                + " | ".join(cells)
                + f" | {marginal} | {x_bare:,.1f} | {vs_lc:,.1f} |"
            )
    for mode, r in ratios.items():
        verdict = "met" if r >= PIPELINE_TARGET else "MISSED"
        print(
            f"\ntarget ({mode}): pipeline ≥{PIPELINE_TARGET:g}x cheaper per chunk than langchain-core at N={big}: "
            f"{r:.1f}x — {verdict}",
            end="",
        )
    print()

    # iterator-level stages
    n = args.stage_n
    print(
        f"\n## flow stages on a bare generator of {n:,} one-character chunks: added CPU ns per chunk "
        f"(median of {args.rounds} rounds)\n"
    )
    print("| stage | sync added | async added | sync total | async total | < 1 µs added? |")
    print("|---|---:|---:|---:|---:|---|")
    names_s = [k for k in m["stages"][0]["sync"] if k != "bare generator"]
    for mode in ("sync", "async"):
        base = med([s[mode]["bare generator"]["cpu_ns"] / n for s in m["stages"]])
        print(f"<!-- bare {mode} generator: {base:.1f} ns/chunk -->")
    rows = []
    for name in ["bare generator", *names_s]:
        cells = {}
        for mode in ("sync", "async"):
            totals = [s[mode][name]["cpu_ns"] / n for s in m["stages"]]
            added = [(s[mode][name]["cpu_ns"] - s[mode]["bare generator"]["cpu_ns"]) / n for s in m["stages"]]
            cells[mode] = (med(added), med(totals))
        ok = (
            "—"
            if name == "bare generator"
            else ("yes" if max(cells["sync"][0], cells["async"][0]) < STAGE_TARGET_NS else "NO")
        )
        rows.append((name, cells, ok))
        print(
            f"| {name} | {cells['sync'][0]:,.0f} | {cells['async'][0]:,.0f} | {cells['sync'][1]:,.0f} | "
            f"{cells['async'][1]:,.0f} | {ok} |"
        )
    missed = [r[0] for r in rows if r[2] == "NO"]
    print(
        f"\ntarget: each flow stage adds < 1 µs/chunk (pass-through path): "
        f"{'met' if not missed else 'MISSED by ' + ', '.join(missed)}"
    )

    # stages inside the pipeline
    nb = max(args.n)
    print(
        f"\n## flow stages inside prompt | model | <stage> | parser (sync, N={nb}): added CPU ns per chunk\n"
    )
    print("| stage | pipeline ns/chunk | added ns/chunk |")
    print("|---|---:|---:|")
    for name in m["pstages"][0]["sync"]:
        tot = med([p["sync"][name]["cpu_ns"] / nb for p in m["pstages"]])
        add = med([(p["sync"][name]["cpu_ns"] - p["sync"]["no stage"]["cpu_ns"]) / nb for p in m["pstages"]])
        print(f"| {name} | {tot:,.0f} | {add:,.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, nargs="+", default=[200, 2000], help="chunks per pipeline stream")
    parser.add_argument("--stage-n", type=int, default=20000, help="chunks per stage measurement")
    parser.add_argument("--reps", type=int, default=9, help="timed repetitions per cell and round")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        m = measure(args)
        report(args, m)
    except (HarnessError, subprocess.TimeoutExpired, KeyError, OSError) as exc:
        print(f"harness error: {exc}", file=sys.stderr)
        return 2
    print(f"\n(total bench time {time.monotonic() - started:.0f} s; load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
