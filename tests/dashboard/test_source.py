"""Every ``DataSource`` method answers the type it declares, all the way down, over both real stores.

The check reads the Protocol's annotations and walks each answer against them: containers item by item,
dataclasses and named tuples field by field, so a dict where a dataclass is declared (or a dataclass whose field
holds a dict where a row is declared) fails. ``tests/collector/test_clickhouse_parity.py`` checks that the
ClickHouse store's answers through the same source are of the same types, field by field, as SQLite's.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import time
import types
import typing
from typing import Any, Union

import pytest
from dashboard_seed import Seeded
from who_seed import Traffic, seed_users

from streamscope.collector.model import NS, IngestBatch, LiveStream
from streamscope.dashboard import source as source_module
from streamscope.dashboard.collector_source import CollectorSource
from streamscope.dashboard.params import Filters
from streamscope.dashboard.source import DataSource


def conforms(value: Any, hint: Any, path: str = "value") -> None:
    """Assert ``value`` is of the type ``hint`` (as far as the annotations say), recursively."""
    if hint is Any:
        return
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        errors = []
        for arm in args:
            try:
                conforms(value, arm, path)
                return
            except AssertionError as e:
                errors.append(str(e))
        raise AssertionError(f"{path}: {value!r:.80} is none of {hint}: {errors}")
    if hint is type(None):
        assert value is None, f"{path}: {value!r:.80} is not None"
        return
    if origin is not None:
        _conforms_generic(value, origin, args, path)
        return
    if hint is float:
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (
            f"{path}: {value!r} is not a float"
        )
        return
    if hint is int:
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: {value!r} is not an int"
        return
    assert isinstance(value, hint), f"{path}: {type(value).__name__} where {hint.__name__} is declared"
    if dataclasses.is_dataclass(hint) or (issubclass(hint, tuple) and hasattr(hint, "_fields")):
        for name, field_hint in typing.get_type_hints(type(value)).items():
            conforms(getattr(value, name), field_hint, f"{path}.{name}")


def _conforms_generic(value: Any, origin: type, args: tuple[Any, ...], path: str) -> None:
    assert isinstance(value, origin), f"{path}: {type(value).__name__} where {origin.__name__} is declared"
    if issubclass(origin, collections.abc.Mapping):
        for k, v in value.items():
            conforms(k, args[0], f"{path} key")
            conforms(v, args[1], f"{path}[{k!r}]")
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        for i, item in enumerate(value):
            conforms(item, args[0], f"{path}[{i}]")
    elif origin is tuple:
        assert len(value) == len(args), f"{path}: {len(value)} items, {len(args)} declared"
        for i, (item, arm) in enumerate(zip(value, args, strict=True)):
            conforms(item, arm, f"{path}[{i}]")
    else:
        for i, item in enumerate(value):
            conforms(item, args[0], f"{path}[{i}]")


def test_the_checker_catches_a_dict_where_a_dataclass_is_declared() -> None:
    """The check itself can fail: a dict, a dict inside a page, a wrong scalar."""
    hints = typing.get_type_hints(DataSource.traces, vars(source_module))
    with pytest.raises(AssertionError, match="dict where TracePage"):
        conforms({"traces": [], "next": None}, hints["return"])
    page = source_module.TracePage(({"trace_id": "x"},), None)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match=r"traces\[0\]: dict where TraceSummary"):
        conforms(page, hints["return"])
    with pytest.raises(AssertionError, match="is not an int"):
        conforms(True, int)
    conforms(source_module.TracePage((), "cursor"), hints["return"])


def _live(now: float, trace_id: str) -> LiveStream:
    start = int((now - 3) * NS)
    return LiveStream(trace_id, "f" * 16, "chat-api", "gpt-4o-mini", "openai", "chat", start,
                      int((now - 0.5) * NS), 12, 2.5, 6, 1.5)  # fmt: skip


@pytest.fixture
def traffic(store: Any, seeded: Seeded) -> Traffic:
    return seed_users(store, time.time())


def _calls(src: CollectorSource, seeded: Seeded, traffic: Traffic) -> dict[str, Any]:
    """One answer (or more) per DataSource method, on data that makes each non-trivial."""
    user = next(iter(traffic.sessions))
    session = traffic.sessions[user][0]
    some = Filters(range="7d")
    return {
        "traces": [src.traces(Filters()), src.traces(Filters(user=user, limit=2))],
        "trace": [src.trace(seeded.trace_ids[0]), src.trace("0" * 32)],
        "streams": [src.streams(Filters()), src.streams(Filters(session=session))],
        "stream": [src.stream(seeded.stream_ids[0]), src.stream("0" * 16)],
        "timings": [src.timings(Filters(limit=50), ("ttft", "duration", "gap_p95"))],
        "chunks": [src.chunks(seeded.stream_ids[0]), src.chunks("0" * 16)],
        "stats": [src.stats(some, bucket=300), src.stats(Filters(range="7d", user=user), bucket=60)],
        "percentile": [src.percentile([1.0, 2.0, 4.0], 50), src.percentile([], 50)],
        "stall_threshold": [src.stall_threshold],
        "live_supported": [src.live_supported],
        "live": [src.live(window=30.0), src.live(window=30.0, user=user)],
        "error_rows": [src.error_rows(some, limit=100)],
        "sessions": [src.sessions(some), src.sessions(Filters(range="7d", limit=1))],
        "session": [src.session(session), src.session("no such session")],
        "is_empty": [src.is_empty()],
        "facets": [src.facets()],
    }


def test_every_data_source_method_answers_its_declared_type(
    store: Any, seeded: Seeded, traffic: Traffic
) -> None:
    now = time.time()
    store.write(IngestBatch(live=(_live(now, seeded.trace_ids[0]),)))
    src = CollectorSource(store, stats_ttl=0, clock=lambda: now)
    answers = _calls(src, seeded, traffic)
    declared = {
        name: member
        for name, member in inspect.getmembers(DataSource)
        if not name.startswith("_") and (callable(member) or isinstance(member, property))
    }
    assert set(answers) == set(declared), "a DataSource method this test does not call"
    for name, member in declared.items():
        fn = member.fget if isinstance(member, property) else member
        hint = typing.get_type_hints(fn, vars(source_module))["return"]
        for i, value in enumerate(answers[name]):
            conforms(value, hint, f"{name}#{i}")
    # the answers are not all empty: the walk went through rows of every kind
    assert answers["trace"][0] is not None and answers["trace"][0].spans and answers["trace"][0].streams
    assert answers["chunks"][0] and answers["stats"][0].models and answers["stats"][0].series.by_model
    assert answers["live"][0] and answers["error_rows"][0] and answers["sessions"][0].sessions
    assert answers["session"][0] is not None and answers["session"][0].traces
