"""The C per-chunk loop of traced synchronous openai streams (``_fastrecord.Recorder``).

Two halves:

- the Recorder alone, over model-like objects: which chunks it records as text, the clock it stamps with, and
  every way a stream can stop (exhaustion, a producer error, ``close()``, ``throw()``, collection), each reported
  exactly once, with nothing from the tracing's callbacks reaching the consumer;
- differential: the same chunk sequences (generated) through the real ``openai`` client, once with the C loop and
  once with the Python loop it stands in for, give the user the same items and the same spans.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamscope.instrumentation import _openai_streams
from streamscope.testing import capture_spans
from streamscope.tracing.streams import RAW

fastrecord = pytest.importorskip("streamscope.instrumentation._fastrecord")
Recorder = fastrecord.Recorder


class Model:
    """Stands in for a pydantic model: its fields live in ``__dict__``."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


def chunk(
    content: Any = "t",
    *,
    cid: Any = "c",
    model: Any = "m",
    finish: Any = None,
    usage: Any = None,
    choices: int = 1,
) -> Model:
    def choice() -> Model:
        return Model(index=0, finish_reason=finish, delta=Model(content=content, role=None))

    return Model(id=cid, model=model, usage=usage, choices=[choice() for _ in range(choices)])


class Run:
    """A Recorder over ``items`` and what it reported."""

    def __init__(self, items: Any, hide: Any = None, done: Any = None, abandoned: Any = None) -> None:
        self.arrived: list[int] = []
        self.payloads: list[Any] = []
        self.events: list[tuple[str, Any]] = []
        self.owner = object()
        self.recorder = Recorder(
            iter(items),
            self.arrived,
            self.payloads,
            RAW,
            hide,
            done or (lambda exc: self.events.append(("done", exc))),
            abandoned or (lambda: self.events.append(("abandoned", None))),
            self.owner,
        )

    def texts(self) -> list[Any]:
        """Each record: the text of a plain text chunk, or "RAW" for a chunk recorded as it came."""
        return [p if isinstance(p, str) else ("RAW" if p[0] == RAW else p) for p in self.payloads]


def test_plain_text_chunks_are_recorded_as_their_text_and_everything_else_as_it_came() -> None:
    items = [
        chunk(""),  # the role delta: first, so recorded as it came (gives the response id and model)
        chunk("Hello"),
        chunk(" world"),
        chunk("x", cid="c2"),  # a new id
        chunk("y", cid="c2"),
        chunk("z", cid="c2", model="m2"),  # a new model
        chunk("a", cid="c2", model="m2", choices=2),
        chunk("b", cid="c2", model="m2", finish="length"),
        chunk("c", cid="c2", model="m2", usage={"completion_tokens": 3}),
        chunk(7, cid="c2", model="m2"),  # not a str
        chunk(None, cid="c2", model="m2"),
        chunk("d", cid="c2", model="m2"),
        (1, 2),  # no __dict__: recorded as it came, and the next chunk has no previous id to match
        chunk("e", cid="c2", model="m2"),
        chunk("f", cid=None, model=None),  # ids that are not str never match
        chunk("g", cid=None, model=None),
    ]
    run = Run(items)
    before = time.perf_counter_ns()
    seen = list(run.recorder)
    after = time.perf_counter_ns()
    assert seen == items
    assert run.texts() == [
        "RAW",
        "Hello",
        " world",
        "RAW",
        "y",
        "RAW",
        "RAW",
        "RAW",
        "RAW",
        "RAW",
        "RAW",
        "d",
        "RAW",
        "RAW",
        "RAW",
        "RAW",
    ]
    raws = [p[1] for p in run.payloads if not isinstance(p, str)]
    assert raws == [i for i, t in zip(items, run.texts(), strict=True) if t == "RAW"]
    assert len(run.arrived) == len(items)
    # stamped with time.perf_counter_ns's clock, in order
    assert before <= run.arrived[0] and run.arrived == sorted(run.arrived) and run.arrived[-1] <= after
    assert run.events == [("done", None)]


def test_exhaustion_is_reported_once_and_the_iterator_stays_exhausted() -> None:
    run = Run([chunk("a")])
    assert next(run.recorder) is not None
    with pytest.raises(StopIteration):
        next(run.recorder)
    with pytest.raises(StopIteration):
        next(run.recorder)
    run.recorder.close()
    del run.recorder
    gc.collect()
    assert run.events == [("done", None)]


def test_a_producer_error_reaches_the_consumer_unchanged_and_is_reported() -> None:
    boom = ConnectionError("dropped")

    def source() -> Iterator[Any]:
        yield chunk("a")
        raise boom

    run = Run(source())
    assert len(list(_take(run.recorder, 1))) == 1
    with pytest.raises(ConnectionError) as caught:
        next(run.recorder)
    assert caught.value is boom
    assert run.events == [("done", boom)]
    assert boom.__traceback__ is not None
    with pytest.raises(StopIteration):
        next(run.recorder)
    assert len(run.payloads) == 1


def _take(it: Iterator[Any], n: int) -> Iterator[Any]:
    for _ in range(n):
        yield next(it)


def test_break_abandons_the_stream_when_the_iterator_is_dropped() -> None:
    run = Run([chunk("a"), chunk("b"), chunk("c")])
    for _ in run.recorder:
        break
    assert run.events == []
    del run.recorder
    assert run.events == [("abandoned", None)]
    assert len(run.payloads) == 1


def test_close_abandons_once_and_ends_the_iteration() -> None:
    run = Run([chunk("a"), chunk("b")])
    next(run.recorder)
    run.recorder.close()
    run.recorder.close()
    with pytest.raises(StopIteration):
        next(run.recorder)
    del run.recorder
    assert run.events == [("abandoned", None)]


def test_throw_abandons_and_raises_what_was_thrown() -> None:
    run = Run([chunk("a"), chunk("b")])
    next(run.recorder)
    err = KeyError("mine")
    with pytest.raises(KeyError) as caught:
        run.recorder.throw(err)
    assert caught.value is err
    with pytest.raises(ValueError, match="bad"):
        run.recorder.throw(ValueError, "bad")
    with pytest.raises(TypeError):
        run.recorder.throw(42)
    assert run.events == [("abandoned", None)]


def test_a_recorder_in_a_reference_cycle_is_abandoned_when_collected() -> None:
    events: list[str] = []
    owner: list[Any] = []  # the traced stream, say, refers back to its iterator: a cycle through the Recorder
    rec = Recorder(
        iter([chunk("a"), chunk("b")]),
        [],
        [],
        RAW,
        None,
        lambda exc: events.append("done"),
        lambda: events.append("abandoned"),
        owner,
    )
    owner.append(rec)
    next(rec)
    del rec, owner
    assert events == []
    gc.collect()
    assert events == ["abandoned"]


def test_the_owner_lives_as_long_as_the_iterator() -> None:
    class Owner:
        pass

    owner = Owner()
    import weakref

    ref = weakref.ref(owner)
    rec = Recorder(iter([chunk("a")]), [], [], RAW, None, lambda exc: None, lambda: None, owner)
    del owner
    gc.collect()
    assert ref() is not None
    del rec
    assert ref() is None


def test_nothing_the_tracing_callbacks_raise_reaches_the_consumer() -> None:
    def fail(*args: Any) -> None:
        raise RuntimeError("tracing bug")

    items = [chunk("a"), chunk("b")]
    run = Run(items, hide=fail, done=fail)
    assert list(run.recorder) == items  # hide raised: not hidden
    run = Run(items, abandoned=fail)
    next(run.recorder)
    run.recorder.close()  # no error
    err = OSError("mine")

    def source() -> Iterator[Any]:
        raise err
        yield

    run = Run(source(), done=fail)
    with pytest.raises(OSError) as caught:
        next(run.recorder)
    assert caught.value is err


def test_hidden_chunks_are_recorded_but_not_returned() -> None:
    items = [chunk("a"), chunk("b", usage={"prompt_tokens": 1}), chunk("c")]
    run = Run(items, hide=lambda item: item.usage is not None)
    assert list(run.recorder) == [items[0], items[2]]
    assert len(run.payloads) == 3


def test_reentrant_next_is_refused_as_for_a_generator() -> None:
    holder: list[Any] = []

    def source() -> Iterator[Any]:
        yield next(holder[0])

    run = Run(source())
    holder.append(run.recorder)
    with pytest.raises(ValueError, match="already executing"):
        next(run.recorder)
    assert run.events and run.events[0][0] == "done"


def test_bad_arguments_are_type_errors() -> None:
    ok: dict[str, Any] = {
        "source": iter([]),
        "arrived": [],
        "payloads": [],
        "raw_kind": RAW,
        "hide": None,
        "done": print,
        "abandoned": print,
        "owner": None,
    }
    Recorder(**ok)
    for key, bad in (
        ("source", [1]),
        ("arrived", ()),
        ("payloads", None),
        ("done", 1),
        ("abandoned", None),
        ("hide", "x"),
    ):
        with pytest.raises(TypeError):
            Recorder(**{**ok, key: bad})


# -- differential, through the real openai client ---------------------------------------------------------

_delta = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["assistant", None]),
        "content": st.one_of(
            st.none(), st.sampled_from(["", "Hi", " there", "é\u2028<b>", "x" * 50]), st.integers()
        ),
        "reasoning_content": st.sampled_from(["thinking", ""]),
        "tool_calls": st.just(
            [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "f", "arguments": '{"a": 1}'},
                }
            ]
        ),
    },
)
_body = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["c1", "c2"]),
        "model": st.sampled_from(["m1", "m2"]),
        "choices": st.lists(
            st.fixed_dictionaries(
                {
                    "index": st.just(0),
                    "delta": _delta,
                    "finish_reason": st.sampled_from([None, None, None, "", "stop", "length"]),
                }
            ),
            max_size=2,
        ),
    },
    optional={"usage": st.just({"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7})},
)


@contextlib.contextmanager
def _loop(python: bool) -> Iterator[None]:
    """Traced openai ``for`` loops run in Python (the C loop's reference) inside, when ``python``."""
    saved = _openai_streams._Recorder
    if python:
        _openai_streams._Recorder = None
    try:
        yield
    finally:
        _openai_streams._Recorder = saved


def _consume(client: Any, comparable: Any, python_loop: bool, stop_after: int | None) -> Any:
    with _loop(python_loop), capture_spans() as spans:
        seen = []
        for item in client.chat.completions.create(model="m", messages=[], stream=True):
            seen.append(item.model_dump(warnings=False))
            if stop_after is not None and len(seen) >= stop_after:
                break
    return seen, comparable(spans)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(bodies=st.lists(_body, min_size=1, max_size=10), stop_after=st.one_of(st.none(), st.integers(1, 10)))
def test_the_c_loop_gives_what_the_python_loop_gives(
    bodies: list[dict[str, Any]], stop_after: int | None, replay_openai: Any, comparable: Any
) -> None:
    # the fixtures are factories, safe to share between examples
    c_loop = _consume(replay_openai(bodies), comparable, False, stop_after)
    assert c_loop == _consume(replay_openai(bodies), comparable, True, stop_after)


def test_no_reference_is_leaked_and_text_chunks_die_as_the_consumer_drops_them() -> None:
    import weakref

    def source(refs: list[Any]) -> Iterator[Any]:
        for i in range(200):
            item = chunk("" if i == 0 else f"t{i}", finish="stop" if i == 199 else None)
            refs.append(weakref.ref(item))
            yield item

    refs: list[Any] = []
    run = Run(source(refs))
    alive_during = []
    for i, _item in enumerate(run.recorder):
        if i == 100:
            alive_during = [r() is not None for r in refs[1:100]]
    del _item
    assert alive_during and not any(alive_during)  # recorded as their text: nothing keeps them
    assert refs[0]() is not None and refs[199]() is not None  # recorded as they came, held by the payloads
    texts = [p for p in run.payloads if isinstance(p, str)]
    assert texts == [f"t{i}" for i in range(1, 199)]
    del run
    gc.collect()
    assert all(r() is None for r in refs)


@pytest.mark.parametrize("python_loop", [False, True])
def test_a_client_stream_whose_own_iter_raises_ends_as_an_error(
    python_loop: bool, replay_openai: Any
) -> None:
    """A Stream subclass whose ``__iter__`` raises before any chunk: the user gets that exception, the span says
    error (not abandoned, later, by the garbage collector)."""
    import openai

    class Broken(openai.Stream):  # type: ignore[type-arg]
        def __iter__(self) -> Any:
            raise ConnectionResetError("reset before the first chunk")

    client = replay_openai(
        [{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": []}]
    )
    with _loop(python_loop), capture_spans() as spans:
        stream = client.chat.completions.create(model="m", messages=[], stream=True)
        stream._ss_wrapped.__class__ = Broken
        with pytest.raises(ConnectionResetError):
            for _ in stream:
                pass
        (llm,) = spans.llm_spans()
    assert llm.attributes["streamscope.stream.outcome"] == "error"
    assert llm.attributes["error.type"] == "ConnectionResetError"


def test_send_behaves_as_the_clients_generator_does() -> None:
    items = [chunk("a"), chunk("b"), chunk("c")]
    run = Run(items)
    with pytest.raises(TypeError, match="just-started"):
        run.recorder.send("x")
    assert run.recorder.send(None) is items[0]
    assert run.recorder.send("ignored") is items[1]
    assert next(run.recorder) is items[2]
    with pytest.raises(StopIteration):
        run.recorder.send(None)
    assert run.events == [("done", None)] and len(run.payloads) == 3
