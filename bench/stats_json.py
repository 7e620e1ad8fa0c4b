"""CPU time of ``GET /api/stats``'s body (query + JSON) against an earlier revision's query code, in one process.

Fills a SQLite store with a day of streams, loads ``collector/query.py`` of ``--before`` (default: the last
revision whose query layer answered plain dicts) and that revision's ``Metric.summary`` from git beside the
current code, checks that both
give the same JSON bytes, then times ``orjson.dumps`` of each side's answer alternately (``time.process_time``)
and prints the medians and their ratio (current / before), once with the servers' GC settings
(``collector/gc_tuning.py``: young collections every 50,000 allocations) and once with Python's defaults.

    python bench/stats_json.py                     # 20,000 streams over 24 h, by minute, every metric
    python bench/stats_json.py --before main       # against another revision

Exits non-zero on a harness error (git unavailable, different bytes).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard_queries import fill
from streamscope.collector import query
from streamscope.collector.histogram import Metric
from streamscope.collector.model import NS, Filters
from streamscope.collector.store.sqlite import SQLiteStore

BEFORE = "5b2ea0a^1"  # main before the typed boundary was merged


def load_before(rev: str, name: str, tmp: str) -> ModuleType:
    """``collector/<name>.py`` of revision ``rev`` as a module of its own (``<name>_before``)."""
    repo = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "-C", str(repo), "show", f"{rev}:collector/{name}.py"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    path = os.path.join(tmp, f"{name}_before.py")
    Path(path).write_text(source)
    spec = importlib.util.spec_from_file_location(f"{name}_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cpu_ms(fn: Callable[[], bytes]) -> float:
    t = time.process_time()
    fn()
    return (time.process_time() - t) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--before", default=BEFORE, help="git revision whose collector/query.py is the baseline"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="stats-json-") as tmp:
        try:
            before = load_before(args.before, "query", tmp)
            # the before side's query code reads a metric's summary as the dict its revision's histogram built
            old_summary = load_before(args.before, "histogram", tmp).Metric.summary
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"harness error: cannot load {args.before}:collector/query.py ({exc})", file=sys.stderr)
            return 1
        store = SQLiteStore(os.path.join(tmp, "bench.db"), synchronous="OFF")
        now = time.time()
        fill(store, args.streams, 2, now, span_s=24 * 3600)
        filters = Filters(since_ns=int((now - 24 * 3600) * NS), until_ns=int(now * NS))

        def new() -> bytes:
            return query.stats(store, "none", 60, filters).to_json()  # what /api/stats answers

        def old() -> bytes:
            current = Metric.summary
            Metric.summary = old_summary  # type: ignore[method-assign]
            try:
                result: Any = before.stats(store, "none", 60, filters)
            finally:
                Metric.summary = current  # type: ignore[method-assign]
            return orjson.dumps(result)

        if new() != old():
            print("harness error: the two revisions answer different bytes", file=sys.stderr)
            return 1
        rows = len(orjson.loads(new())["series"])
        print(f"/api/stats, 24 h by minute, every metric: {args.streams:,} streams, {rows:,} series rows")
        print(
            f"CPU ms per answer (process_time, median of {args.repeat}, alternating); before = {args.before}"
        )
        print(f"{'GC':<10} {'before':>8} {'current':>8} {'ratio':>6}")
        for label, thresholds in (("servers'", (50_000, 20, 100)), ("default", gc.get_threshold())):
            saved = gc.get_threshold()
            gc.collect()
            gc.set_threshold(*thresholds)
            try:
                t_old, t_new = [], []
                for _ in range(args.repeat):
                    t_old.append(cpu_ms(old))
                    t_new.append(cpu_ms(new))
            finally:
                gc.set_threshold(*saved)
            m_old, m_new = statistics.median(t_old), statistics.median(t_new)
            print(f"{label:<10} {m_old:>8.1f} {m_new:>8.1f} {m_new / m_old:>6.2f}")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
