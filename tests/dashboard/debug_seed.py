"""Traces for the debugging views, written through the collector's real store API: a failed trace (HTTP 500 with
an exception event, stack trace and Retry-After), a conversation with a tool call and its result, sessions and
users, and a trace whose root has not arrived yet. Hostile values sit in every field these views render."""

from __future__ import annotations

import json
from dataclasses import dataclass

from streamscope.collector.model import NS, Chunk, IngestBatch, Span, SpanEvent, Stream

XSS_MESSAGE = "<img src=x onerror=window.__xss=11>"
XSS_STACK = 'Traceback\n  File "<script>window.__xss=12</script>", line 1'
XSS_PROMPT = "<script>window.__xss=13</script> what is the weather?"
XSS_ARGS = '{"city": "<img src=x onerror=window.__xss=14>"}'
XSS_RESULT = "</pre><script>window.__xss=15</script>"
XSS_SESSION = "sess-<b>bold</b>\"'"
XSS_USER = "user-<img src=x onerror=window.__xss=16>"
XSS_OUTPUT = "<svg onload=window.__xss=17>It is sunny."
PAYLOADS = (XSS_MESSAGE, XSS_STACK, XSS_PROMPT, XSS_RESULT, XSS_SESSION, XSS_USER, XSS_OUTPUT)


@dataclass
class Debugging:
    error_trace: str
    error_stream: str
    chat_trace: str
    chat_stream: str
    tool_span: str
    session_id: str
    user_id: str
    waiting_trace: str
    quiet_session: str  # a second session, one trace, no errors


def _ids(n: int) -> tuple[str, str, str, str]:
    return (
        f"{0xDEB0000 + n:032x}",
        f"{0xDEB000 * 16 + n * 4 + 1:016x}",
        f"{0xDEB000 * 16 + n * 4 + 2:016x}",
        f"{0xDEB000 * 16 + n * 4 + 3:016x}",
    )


def seed_debugging(store: object, now: float) -> Debugging:
    """Write the debugging traces into ``store`` (any SpanStore); times are recent so default ranges cover them."""
    ns = lambda s: int(s * NS)  # noqa: E731
    write = store.write  # type: ignore[attr-defined]

    # 1. a stream that failed with an HTTP 500 after two chunks
    tid, root, llm, _ = _ids(1)
    t0 = now - 600
    exc = SpanEvent(
        "exception",
        ns(t0 + 0.4),
        {
            "exception.type": "openai.InternalServerError",
            "exception.message": "Error code: 500 - " + XSS_MESSAGE,
            "exception.stacktrace": XSS_STACK,
        },
    )
    spans = (
        Span(
            tid,
            root,
            None,
            "answer question",
            1,
            ns(t0),
            ns(t0 + 0.5),
            status_code=2,
            status_message="Error code: 500 - " + XSS_MESSAGE,
            service="chat-api",
            events=(exc,),
            session_id=XSS_SESSION,
            user_id=XSS_USER,
        ),
        Span(
            tid,
            llm,
            root,
            "chat gpt-4o-mini",
            3,
            ns(t0 + 0.05),
            ns(t0 + 0.45),
            status_code=2,
            status_message="Error code: 500 - " + XSS_MESSAGE,
            service="chat-api",
            events=(exc,),
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.provider.name": "openai",
                "error.type": "InternalServerError",
                "http.response.status_code": 500,
                "http.response.header.retry-after": ("7",),
                "streamscope.stream.outcome": "error",
                "streamscope.stream.chunk_count": 2,
                "streamscope.stream.gap_p95": 0.12494888100000001,
                "gen_ai.request.stream": True,
                "streamscope.stream.partial_output": "Hel",
            },
            session_id=XSS_SESSION,
            user_id=XSS_USER,
        ),
    )
    stream = Stream(
        tid,
        llm,
        ns(t0 + 0.05),
        ns(t0 + 0.45),
        service="chat-api",
        model="gpt-4o-mini",
        provider="openai",
        outcome="error",
        ttft=0.1,
        chunk_count=2,
        error_type="InternalServerError",
        cost_usd=0.000042,
        name="chat gpt-4o-mini",
        session_id=XSS_SESSION,
        user_id=XSS_USER,
        input_tokens=9,
        output_tokens=1,
    )
    chunks = (
        Chunk(llm, 0, 0.08, None, "role", 0, None, None),
        Chunk(llm, 1, 0.1, 0.02, "content", 3, 1, "Hel"),
    )
    write(IngestBatch(spans=spans, streams=(stream,), chunks=chunks))

    # 2. a conversation: prompt, a tool call, the tool's result, the answer (same session and user)
    ctid, croot, cllm, ctool = _ids(2)
    t1 = now - 300
    prompt = json.dumps(
        [
            {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
            {"role": "user", "parts": [{"type": "text", "content": XSS_PROMPT}]},
        ]
    )
    output = json.dumps(
        [
            {
                "role": "assistant",
                "finish_reason": "stop",
                "parts": [
                    {
                        "type": "tool_call",
                        "id": "call_1",
                        "name": "get_weather",
                        "arguments": json.loads(XSS_ARGS),
                    },
                    {"type": "text", "content": XSS_OUTPUT},
                ],
            }
        ]
    )
    spans = (
        Span(
            ctid,
            croot,
            None,
            "agent turn",
            1,
            ns(t1),
            ns(t1 + 2.0),
            service="chat-api",
            session_id=XSS_SESSION,
            user_id=XSS_USER,
        ),
        Span(
            ctid,
            cllm,
            croot,
            "chat gpt-4o",
            3,
            ns(t1 + 0.1),
            ns(t1 + 1.0),
            service="chat-api",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.provider.name": "openai",
                "gen_ai.input.messages": prompt,
                "gen_ai.output.messages": output,
                "streamscope.stream.outcome": "completed",
                "streamscope.stream.chunk_count": 3,
                "gen_ai.response.finish_reasons": ("stop",),
            },
            session_id=XSS_SESSION,
            user_id=XSS_USER,
        ),
        Span(
            ctid,
            ctool,
            croot,
            "execute_tool get_weather",
            1,
            ns(t1 + 1.1),
            ns(t1 + 1.3),
            service="chat-api",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.call.arguments": XSS_ARGS,
                "gen_ai.tool.call.result": XSS_RESULT,
            },
        ),
    )
    stream = Stream(
        ctid,
        cllm,
        ns(t1 + 0.1),
        ns(t1 + 1.0),
        service="chat-api",
        model="gpt-4o",
        provider="openai",
        outcome="completed",
        ttft=0.3,
        chunk_count=3,
        name="chat gpt-4o",
        cost_usd=0.0031,
        session_id=XSS_SESSION,
        user_id=XSS_USER,
        input_tokens=20,
        output_tokens=12,
    )
    chunks = tuple(
        Chunk(cllm, i, 0.3 + 0.1 * i, None if i == 0 else 0.1, "content", 4, 1, f"w{i} ") for i in range(3)
    )
    write(IngestBatch(spans=spans, streams=(stream,), chunks=chunks))

    # 3. another session with one quiet trace
    qtid, qroot, _, _ = _ids(3)
    write(
        IngestBatch(
            spans=(
                Span(
                    qtid,
                    qroot,
                    None,
                    "ping",
                    1,
                    ns(now - 200),
                    ns(now - 199.5),
                    service="chat-api",
                    session_id="sess-quiet",
                    user_id="user-quiet",
                ),
            )
        )
    )

    # 4. a trace still running: only a child has arrived, its parent (the root) has not
    wtid, wroot, wchild, _ = _ids(4)
    write(
        IngestBatch(
            spans=(
                Span(
                    wtid,
                    wchild,
                    wroot,
                    "ChatPromptTemplate",
                    1,
                    ns(now - 5),
                    ns(now - 4.9),
                    service="chat-api",
                ),
            )
        )
    )
    return Debugging(
        error_trace=tid,
        error_stream=llm,
        chat_trace=ctid,
        chat_stream=cllm,
        tool_span=ctool,
        session_id=XSS_SESSION,
        user_id=XSS_USER,
        waiting_trace=wtid,
        quiet_session="sess-quiet",
    )
