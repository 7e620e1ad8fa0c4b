"""Deterministic dashboard test data written through the collector's real store API.

Times are relative to ``now`` so the overview's default 24-hour range covers them. Hostile values (XSS payloads
in chunk content, span names, attribute values and a model name) are part of the normal data set, so every
page is exercised with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamscope.collector.model import NS, Chunk, IngestBatch, Span, Stream

XSS_CONTENT = ("<script>window.__xss=1</script>", '"><img src=x onerror="window.__xss=2">')
XSS_NAME = "<script>window.__xss=3</script>"
XSS_ATTR = "</script><script>window.__xss=4</script>"
XSS_MODEL = "<img src=x onerror=window.__xss=5>"

MODELS = (("gpt-4o-mini", "openai"), ("claude-haiku", "anthropic"), ("llama-3-8b", "ollama"))
OUTCOMES = ("completed", "completed", "completed", "abandoned", "error", "timeout", "completed", "cancelled")


@dataclass
class Seeded:
    """Ids of interesting traces in the seeded data."""

    trace_ids: list[str] = field(default_factory=list)
    stream_ids: list[str] = field(default_factory=list)
    xss_trace: str = ""
    xss_stream: str = ""
    stall_trace: str = ""
    stall_stream: str = ""
    stall_chunks: int = 0
    services: tuple[str, ...] = ("chat-api", "agent-worker")


def _tid(n: int) -> str:
    return f"{0xABC0000 + n:032x}"


def _sid(n: int, k: int) -> str:
    return f"{(0xD000000 + n) * 16 + k:016x}"


def one_trace(
    n: int,
    now: float,
    *,
    model: str,
    provider: str,
    outcome: str,
    service: str,
    n_chunks: int,
    stall_at: int | None = None,
    contents: tuple[str, ...] = (),
    root_name: str = "handle request",
    attrs: dict[str, Any] | None = None,
    usage_source: str = "provider",
) -> IngestBatch:
    """One trace: a root step, a prompt step and an LLM stream with chunks."""
    tid, root, prompt, llm = _tid(n), _sid(n, 1), _sid(n, 2), _sid(n, 3)
    t0 = now - 3000 + n * 60.0
    ttft = 0.2 + 0.05 * (n % 5)
    gap = 0.03
    offsets, gaps = [], []
    t = ttft
    for i in range(n_chunks):
        g = 2.5 if i == stall_at else (None if i == 0 else gap)
        if g is not None:
            t += g
        offsets.append(t)
        gaps.append(g)
    duration = offsets[-1] + 0.01 if offsets else 0.5
    ns = lambda s: int(s * NS)  # noqa: E731
    status = 2 if outcome in ("error", "timeout") else 0
    span_attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.provider.name": provider,
        "streamscope.stream.outcome": outcome,
        "streamscope.stream.chunk_count": n_chunks,
        "streamscope.stream.time_to_first_token": ttft,
        **(attrs or {}),
    }
    spans = (
        Span(
            trace_id=tid,
            span_id=root,
            parent_span_id=None,
            name=root_name,
            kind=1,
            start_ns=ns(t0),
            end_ns=ns(t0 + duration + 0.2),
            status_code=status,
            service=service,
            attributes={"streamscope.run.type": "chain"},
            session_id=f"session-{n % 3}",
            user_id=f"user-{n % 2}",
        ),
        Span(
            trace_id=tid,
            span_id=prompt,
            parent_span_id=root,
            name="ChatPromptTemplate",
            kind=1,
            start_ns=ns(t0 + 0.01),
            end_ns=ns(t0 + 0.02),
            service=service,
            attributes={"streamscope.run.type": "prompt"},
        ),
        Span(
            trace_id=tid,
            span_id=llm,
            parent_span_id=root,
            name=f"chat {model}",
            kind=3,
            start_ns=ns(t0 + 0.05),
            end_ns=ns(t0 + 0.05 + duration),
            status_code=status,
            service=service,
            attributes=span_attrs,
        ),
    )
    texts = [contents[i % len(contents)] if contents else f"tok{i} " for i in range(n_chunks)]
    chunks = tuple(
        Chunk(
            span_id=llm,
            index=i,
            offset=offsets[i],
            gap=gaps[i],
            kind="role" if i == 0 else "content",
            size=0 if i == 0 else len(texts[i]),
            content=None if i == 0 else texts[i],
        )
        for i in range(n_chunks)
    )
    stream = Stream(
        trace_id=tid,
        span_id=llm,
        start_ns=ns(t0 + 0.05),
        end_ns=ns(t0 + 0.05 + duration),
        service=service,
        model=model,
        provider=provider,
        outcome=outcome,
        ttft=ttft if n_chunks > 1 else None,
        time_to_first_chunk=offsets[0] if offsets else None,
        chunk_count=n_chunks,
        gap_p50=gap,
        gap_p95=gap,
        gap_max=2.5 if stall_at is not None else gap,
        stall_count=1 if stall_at is not None else 0,
        output_tokens=n_chunks,
        input_tokens=12,
        output_tokens_per_second=n_chunks / duration,
        usage_source=usage_source,
        cost_usd=0.0001 * n_chunks,
        name=f"chat {model}",
        session_id=f"session-{n % 3}",
        user_id=f"user-{n % 2}",
    )
    return IngestBatch(spans=spans, streams=(stream,), chunks=chunks)


def seed(store: Any, now: float, *, traces: int = 40) -> Seeded:
    """Write ``traces`` traces (plus one XSS trace and one stalled trace) into ``store``."""
    out = Seeded()
    for n in range(traces):
        model, provider = MODELS[n % len(MODELS)]
        batch = one_trace(
            n,
            now,
            model=model,
            provider=provider,
            outcome=OUTCOMES[n % len(OUTCOMES)],
            service=out.services[n % 2],
            n_chunks=5 + n % 7,
        )
        store.write(batch)
        out.trace_ids.append(batch.spans[0].trace_id)
        out.stream_ids.append(batch.streams[0].span_id)
    xss = one_trace(
        traces,
        now,
        model=XSS_MODEL,
        provider="evil",
        outcome="completed",
        service="chat-api",
        n_chunks=6,
        contents=XSS_CONTENT,
        root_name=XSS_NAME,
        attrs={"app.note": XSS_ATTR},
    )
    store.write(xss)
    out.xss_trace, out.xss_stream = xss.spans[0].trace_id, xss.streams[0].span_id
    stall = one_trace(
        traces + 1,
        now,
        model="gpt-4o-mini",
        provider="openai",
        outcome="completed",
        service="chat-api",
        n_chunks=20,
        stall_at=10,
    )
    store.write(stall)
    out.stall_trace, out.stall_stream, out.stall_chunks = (
        stall.spans[0].trace_id,
        stall.streams[0].span_id,
        20,
    )
    out.trace_ids += [out.xss_trace, out.stall_trace]
    out.stream_ids += [out.xss_stream, out.stall_stream]
    return out
