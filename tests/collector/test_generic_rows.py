"""Spans that are not ours, stored through the fast path (C walker, span rows made in the receiving process and
written by the writer process) and through the reference path (the Python decoder, ``SQLiteStore.write`` in
process): every row of every table is the same."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path
from typing import Any

from otlp import GENERIC_LLM, NS, generic_stream, new_span_id, new_trace_id, pb_span, request

from streamscope.collector import decode
from streamscope.collector.decode import decode_body, decode_request, parse_protobuf
from streamscope.collector.normalise import normalise
from streamscope.collector.store.sqlite import SQLiteStore, span_rows
from streamscope.collector.store.writer import SQLiteProcessStore

NOW = time.time_ns()


def tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted (row order on disk is not part of what is stored)."""
    con = sqlite3.connect(path)
    try:
        names = [
            r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        return {n: sorted(con.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}
    finally:
        con.close()


def bodies() -> list[bytes]:
    """The generic workload's shape (every dialect, chunk-like children), and what a real export stream adds: a
    span with events (Python decodes it), a span that arrives before its parent, a re-delivered body, a later
    body adding spans to traces already stored."""
    t0 = NOW - 60 * NS
    out: list[bytes] = []
    late_tid, late_parent = new_trace_id(), new_span_id()
    spans = []
    for i, dialect in enumerate(GENERIC_LLM):
        part, _ = generic_stream(dialect, 20, start_ns=t0 + i * NS, parent=late_parent if i == 0 else None,
                                 trace_id=late_tid if i == 0 else None)  # fmt: skip
        spans += part
    spans.append(pb_span(late_tid, new_span_id(), late_parent, name="tool", start_ns=t0, status=2, message="boom",
                         events=[("exception", t0 + 5, {"exception.type": "ValueError"})]))  # fmt: skip
    out.append(request(spans, "generic-app", {"deployment.environment": "test"}).SerializeToString())
    out.append(out[0])  # an exporter's retry
    later = [pb_span(late_tid, late_parent, None, name="GET /", start_ns=t0 - NS, dur=5.0, kind=2)]
    more, _ = generic_stream("openlit", 3, trace_id=late_tid, start_ns=t0 + 2 * NS)
    out.append(request(later + more, "generic-app").SerializeToString())
    return out


def test_fast_and_reference_paths_store_the_same_rows(tmp_path: Path) -> None:
    fast = SQLiteProcessStore(str(tmp_path / "fast.db"))
    ref = SQLiteStore(str(tmp_path / "ref.db"))
    fast.clock = ref.clock = lambda: NOW  # aggregate sealing follows the writer's clock
    try:
        for i, body in enumerate(bodies()):
            batch = normalise(decode_body(body, NOW))
            if i < 2:
                fast.write(batch)
            else:  # rows made by the caller, as the writer process's own parent does
                fast.write(dataclasses.replace(batch, spans=()), span_rows(batch.spans))
            ref.write(normalise(decode_request(parse_protobuf(body), NOW)))
    finally:
        fast.close()
        ref.close()
    stored = tables(tmp_path / "fast.db")
    assert stored == tables(tmp_path / "ref.db")
    assert len(stored["spans"]) == 4 * 22 + 1 + 1 + 5 and len(stored["streams"]) == 5
    if decode._fastotlp is not None:  # the walker built every span but the one with events
        walked = decode._fastotlp.walk(bodies()[0], NOW + decode.MAX_FUTURE_NS)
        assert walked is not None and len(walked[5]) == 1
