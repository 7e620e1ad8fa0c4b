"""streamscope.context(): session/user/tags/metadata on every span started inside, sync and async."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import streamscope
from streamscope.testing import capture_spans
from streamscope.tracing.streams import CONTENT, start_stream


@streamscope.trace
def step() -> None:
    rec = start_stream(model="m")
    rec.chunk(CONTENT, "x")
    rec.end()


def _a(span: object) -> dict[str, object]:
    return dict(span.attributes or {})  # type: ignore[attr-defined]


def test_values_land_on_every_span_including_chunk_spans() -> None:
    with (
        capture_spans() as spans,
        streamscope.context(
            session_id="conv-1", user_id="u-1", tags=["a"], metadata={"plan": "pro", "n": 3, "obj": [1]}
        ),
    ):
        step()
    assert len(spans) == 3
    for s in spans:
        a = _a(s)
        assert a["session.id"] == "conv-1"
        assert a["user.id"] == "u-1"
        assert a["streamscope.tags"] == ("a",)
        assert a["streamscope.metadata.plan"] == "pro"
        assert a["streamscope.metadata.n"] == 3
        assert a["streamscope.metadata.obj"] == "[1]"


def test_nesting_overrides_and_accumulates_tags_then_restores() -> None:
    with capture_spans() as spans:
        with streamscope.context(session_id="outer", tags=["x"]):
            with streamscope.context(user_id="u", tags=["y", "x"]):
                step()
            step()
        step()
    fns = [s for s in spans if s.name.endswith("step")]
    assert _a(fns[0])["session.id"] == "outer" and _a(fns[0])["user.id"] == "u"
    assert _a(fns[0])["streamscope.tags"] == ("x", "y")
    assert "user.id" not in _a(fns[1]) and _a(fns[1])["streamscope.tags"] == ("x",)
    assert "session.id" not in _a(fns[2])


def test_async_with_and_tasks() -> None:
    async def main() -> None:
        async with streamscope.context(session_id="async-s"):
            await asyncio.gather(asyncio.to_thread(step), asyncio.create_task(asyncio.to_thread(step)))
        step()

    with capture_spans() as spans:
        asyncio.run(main())
    sessions = [_a(s).get("session.id") for s in spans if s.name.endswith("step")]
    assert sorted(map(str, sessions)) == ["None", "async-s", "async-s"]


def test_threads_started_with_a_copied_context_inherit_values() -> None:
    with capture_spans() as spans, streamscope.context(user_id="t-user"):
        ctx = contextvars.copy_context()
        t = threading.Thread(target=ctx.run, args=(step,))
        t.start()
        t.join()
    assert all(_a(s)["user.id"] == "t-user" for s in spans)
