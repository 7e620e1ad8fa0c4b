"""Small builders of model objects for collector tests."""

from __future__ import annotations

import itertools
from typing import Any

from streamscope.collector.model import NS, Chunk, IngestBatch, Span, Stream

_ids = itertools.count(1)
T0 = 1_800_000_000 * NS


def trace_id(n: int | None = None) -> str:
    return f"{n if n is not None else next(_ids):032x}"


def span_id(n: int | None = None) -> str:
    return f"{n if n is not None else next(_ids):016x}"


def span(tid: str, sid: str, parent: str | None = None, *, name: str = "step", start: float = 0.0,
         dur: float = 1.0, status: int = 0, service: str = "app", attrs: dict[str, Any] | None = None,
         session: str | None = None, user: str | None = None) -> Span:  # fmt: skip
    return Span(
        trace_id=tid, span_id=sid, parent_span_id=parent, name=name, kind=1, start_ns=T0 + int(start * NS),
        end_ns=T0 + int((start + dur) * NS), status_code=status, service=service, attributes=attrs or {},
        session_id=session, user_id=user,
    )  # fmt: skip


def stream(tid: str, sid: str, *, start: float = 0.0, dur: float = 1.0, model: str = "gpt-4o-mini",
           outcome: str = "completed", ttft: float | None = 0.2, **kw: Any) -> Stream:  # fmt: skip
    return Stream(
        trace_id=tid, span_id=sid, start_ns=T0 + int(start * NS), end_ns=T0 + int((start + dur) * NS),
        service=kw.pop("service", "app"), model=model, provider=kw.pop("provider", "openai"), outcome=outcome,
        ttft=ttft, **kw,
    )  # fmt: skip


def llm_trace(n_chunks: int = 3, *, start: float = 0.0, model: str = "gpt-4o-mini", outcome: str = "completed",
              ttft: float | None = 0.2, service: str = "app", status: int = 0, session: str | None = None,
              root_name: str = "handle request", root_attrs: dict[str, Any] | None = None) -> IngestBatch:  # fmt: skip
    tid, root, llm = trace_id(), span_id(), span_id()
    spans = (
        span(tid, root, None, name=root_name, start=start, dur=2.0, service=service, session=session,
             attrs=root_attrs, status=status),
        span(tid, llm, root, name=f"chat {model}", start=start + 0.1, dur=1.5, service=service,
             attrs={"gen_ai.request.model": model}),
    )  # fmt: skip
    st = stream(tid, llm, start=start + 0.1, dur=1.5, model=model, outcome=outcome, ttft=ttft, service=service,
                chunk_count=n_chunks, gap_p95=0.05, output_tokens=10, input_tokens=5, name=f"chat {model}")  # fmt: skip
    chunks = tuple(
        Chunk(span_id=llm, index=i, offset=0.2 + 0.05 * i, gap=None if i == 0 else 0.05, kind="content", size=3,
              content=f"c{i}")
        for i in range(n_chunks)
    )  # fmt: skip
    return IngestBatch(spans=spans, streams=(st,), chunks=chunks)
