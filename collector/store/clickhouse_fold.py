"""The minute aggregate states a collector folded last, so the next fold of a hot minute adds only new streams.

Folding a minute again from every stored stream costs the whole minute per pass: at a steady rate a minute holds
tens of thousands of streams, re-read and re-added several times a second. :class:`MinuteCache` keeps, for the
minutes a collector folded recently, the span ids it folded and the states they make; the next fold of such a
minute reads only the streams inserted since its last read (less ``margin`` seconds, for inserts that were slow
to commit), adds those it has not folded, and writes the minute's rows again: the same rows as a fold from
scratch, for the cost of the new streams. A stream that became visible more than ``margin`` after its insert
began, or a minute whose streams were deleted by another process, is caught by the deriver's sweep, whose fold
starts that minute from scratch (``forget``). The margin is 10 s: each pass of a hot minute reads the streams of
the margin again (and a collector parses every one of them), while a write that slow to commit means a server
far past its capacity; a minute such a write left short is folded again by the next sweep (every 30 s).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from streamscope.collector import aggregates as agg
from streamscope.collector.model import NS, Stream


@dataclass
class Minute:
    read_ns: int  # when the last read of this minute's streams began
    ids: set[str] = field(default_factory=set)
    states: dict[agg.RowKey, agg.AggState] = field(default_factory=dict)

    def add(self, streams: Iterable[Stream]) -> None:
        new = [st for st in streams if st.span_id not in self.ids]
        self.ids.update(st.span_id for st in new)
        for key, st in agg.build(new, (agg.MINUTE,)).items():
            acc = self.states.get(key)
            if acc is None:
                self.states[key] = st
            else:
                acc.merge(st)


class MinuteCache:
    def __init__(self, margin_s: float = 10.0, keep_s: float = 600.0, max_minutes: int = 240) -> None:
        self.margin_ns = int(margin_s * NS)
        self.keep_ns = int(keep_s * NS)
        self.max_minutes = max_minutes
        self.lock = threading.Lock()  # one fold at a time uses the cache
        self._minutes: dict[int, Minute] = {}

    def get(self, slot: int) -> Minute | None:
        return self._minutes.get(slot)

    def since_ns(self, slots: Iterable[int]) -> int:
        """Insert time from which to read the new streams of these cached minutes."""
        return min(self._minutes[s].read_ns for s in slots) - self.margin_ns

    def put(self, slot: int, minute: Minute) -> None:
        self._minutes[slot] = minute

    def forget(self, slots: Iterable[int]) -> None:
        for s in slots:
            self._minutes.pop(s, None)

    def trim(self, now_ns: int) -> None:
        """Drop minutes not read for ``keep_s`` seconds, and the oldest beyond ``max_minutes``."""
        old = [s for s, m in self._minutes.items() if now_ns - m.read_ns > self.keep_ns]
        self.forget(old)
        if len(self._minutes) > self.max_minutes:
            by_age = sorted(self._minutes, key=lambda s: self._minutes[s].read_ns)
            self.forget(by_age[: len(self._minutes) - self.max_minutes])
