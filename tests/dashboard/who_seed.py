"""Two users' traffic, written through the collector's real store API, for the user and session filters.

Each user has two sessions; streams differ per user in model, outcome, TTFT, duration, tokens and cost, so every
figure of a filtered page differs from the other user's and from the unfiltered one. Some streams carry the
session and user only on their trace's root step (as apps that set them on the request span do), so a filter must
match them through their trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamscope.collector.model import NS, Chunk, IngestBatch, Span, Stream

USERS = ("user-ada", "user-bob")
MODELS = ("gpt-4o-mini", "claude-haiku")


@dataclass
class Traffic:
    """What was written, per user: the streams (collector rows) and their sessions."""

    streams: dict[str, list[Stream]] = field(default_factory=dict)
    sessions: dict[str, list[str]] = field(default_factory=dict)
    traces: dict[str, list[str]] = field(default_factory=dict)


def seed_users(store: object, now: float) -> Traffic:
    out = Traffic()
    write = store.write  # type: ignore[attr-defined]
    n = 0
    for u, user in enumerate(USERS):
        out.streams[user], out.sessions[user], out.traces[user] = [], [], []
        count = 7 if u == 0 else 11
        for i in range(count):
            n += 1
            session = f"{user}-conv-{i % 2}"
            if session not in out.sessions[user]:
                out.sessions[user].append(session)
            tid, root, llm = f"{0xEE000 + n:032x}", f"{0xF1000 + n:016x}", f"{0xF2000 + n:016x}"
            t0 = now - 1800 + n * 37.0
            model = MODELS[(i + u) % 2]
            outcome = ("completed", "error", "completed", "abandoned", "timeout")[(i * (u + 1)) % 5]
            ttft = round(0.08 + 0.031 * i + 0.4 * u, 4)
            duration = round(0.9 + 0.17 * i + 1.1 * u, 4)
            chunks = 3 + (i * 3 + u) % 8
            on_stream = i % 3 != 0  # otherwise only the root step says whose it is
            st = Stream(
                trace_id=tid,
                span_id=llm,
                start_ns=int((t0 + 0.01) * NS),
                end_ns=int((t0 + 0.01 + duration) * NS),
                service="chat-api",
                model=model,
                provider="openai",
                outcome=outcome,
                ttft=ttft,
                time_to_first_chunk=ttft - 0.01,
                chunk_count=chunks,
                gap_p50=0.02,
                gap_p95=0.03 + 0.01 * i,
                gap_max=0.05,
                stall_count=i % 2,
                output_tokens=chunks * 2,
                input_tokens=10 + i + 50 * u,
                output_tokens_per_second=chunks * 2 / duration,
                usage_source="provider",
                cost_usd=0.0003 * (i + 1) * (u + 1),
                name=f"chat {model}",
                session_id=session if on_stream else None,
                user_id=user if on_stream else None,
            )
            status = 2 if outcome in ("error", "timeout") else 0
            spans = (
                Span(
                    tid,
                    root,
                    None,
                    "answer",
                    2,
                    int(t0 * NS),
                    int((t0 + duration + 0.05) * NS),
                    status_code=status,
                    status_message="boom" if status else "",
                    service="chat-api",
                    session_id=session,
                    user_id=user,
                ),
                Span(
                    tid,
                    llm,
                    root,
                    f"chat {model}",
                    3,
                    st.start_ns,
                    st.end_ns,
                    status_code=status,
                    status_message="boom" if status else "",
                    service="chat-api",
                    attributes={"gen_ai.request.model": model},
                    session_id=st.session_id,
                    user_id=st.user_id,
                ),
            )
            rows = tuple(
                Chunk(llm, k, ttft + 0.02 * k, None if k == 0 else 0.02, "content", 2, None, "ab")
                for k in range(chunks)
            )
            write(IngestBatch(spans=spans, streams=(st,), chunks=rows))
            out.streams[user].append(st)
            out.traces[user].append(tid)
    return out
