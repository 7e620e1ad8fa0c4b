"""The derive thread's sweep window (``clickhouse_derive.Deriver``): what each sweep compares."""

from __future__ import annotations

from typing import Any

import pytest

from streamscope.collector.model import NS
from streamscope.collector.store.clickhouse_derive import Deriver


class _Writer:
    """Records the traces a pass refreshes; fails the first ``failures`` refreshes."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.refreshed: list[list[str]] = []

    def refresh_traces(self, trace_ids: list[str], left: Any = None) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the store is down")
        self.refreshed.append(list(trace_ids))

    def fold(self, minutes: set[int], *, forget: bool = False) -> None:
        pass


class _Sweeps(Deriver):
    """A deriver whose comparisons record the window they were asked for and find ``stale`` traces stale."""

    def __init__(self, writer: _Writer, clock: list[int], stale: set[str]) -> None:
        super().__init__(writer, sweep_every=0.0, window_s=900.0, margin_s=60.0, clock=lambda: clock[0])  # type: ignore[arg-type]
        self.since: list[int] = []
        self.found = stale

    def stale(self, since_ns: int) -> tuple[set[str], set[int]]:
        self.since.append(since_ns)
        return set(self.found), set()

    def stale_sessions(self, since_ns: int) -> dict[str, set[str]]:
        return {}


def test_the_first_sweep_compares_the_whole_window_and_each_later_one_what_came_since_the_last_less_a_margin() -> (
    None
):
    clock = [10_000 * NS]
    d = _Sweeps(_Writer(), clock, set())
    d.run_pass(set(), set())
    clock[0] += 10 * NS
    d.run_pass(set(), set())
    clock[0] += 7 * NS
    d.run_pass(set(), set())
    assert d.since == [(10_000 - 900) * NS, (10_000 - 60) * NS, (10_010 - 60) * NS]


def test_a_sweep_never_reaches_back_past_the_window() -> None:
    clock = [10_000 * NS]
    d = _Sweeps(_Writer(), clock, set())
    d.run_pass(set(), set())
    clock[0] += 5_000 * NS  # a long pause (a store that was down): still only the last window_s seconds
    d.run_pass(set(), set())
    assert d.since[-1] == (15_000 - 900) * NS


def test_a_sweep_whose_pass_failed_is_compared_again_from_the_same_start() -> None:
    clock = [10_000 * NS]
    writer = _Writer()
    d = _Sweeps(writer, clock, {"t1"})
    d.run_pass(set(), set())  # the first sweep finds t1 and refreshes it
    writer.failures = 1  # the next refresh fails
    clock[0] += 10 * NS
    traces: set[str] = set()
    with pytest.raises(ConnectionError):
        d.run_pass(traces, set())
    assert traces == {"t1"}  # the thread keeps these marks for its next pass
    clock[0] += 10 * NS
    d.run_pass(traces, set())
    # the failed sweep (started at 10,010 s) did not move the start: the next one compares from the first's
    assert d.since == [(10_000 - 900) * NS, (10_000 - 60) * NS, (10_000 - 60) * NS]
    assert writer.refreshed == [["t1"], ["t1"]]
