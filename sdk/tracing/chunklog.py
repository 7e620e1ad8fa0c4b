"""A stream's chunk log: what arrived when, appended on the consumer's thread, classified later off it.

Per chunk the consumer's thread only appends ``perf_counter_ns()`` to :attr:`ChunkLog.arrived` and then the
chunk's payload to :attr:`ChunkLog.payloads`: the text itself for a content chunk, a ``(kind, text)`` or
``(RAW, obj)`` pair for anything else. No lock or dict is touched, and a text chunk allocates no object that the
garbage collector tracks (a tuple per chunk sets off a collection every few hundred chunks, on the consumer's
thread). A record is complete once its payload is appended, its time having been appended just before, so
``len(payloads)`` records can always be read from another thread.

:meth:`ChunkLog.classify_upto` turns the records into three classified columns (times, kinds, texts), calling the
log's ``classify`` function for the ``RAW`` ones; what it learns (usage, response facts) goes to
:attr:`ChunkLog.learned`. :attr:`ChunkLog.exported` counts the classified chunks already handed to an exporter.
One thread at a time classifies: the owner (:class:`streamscope.tracing.streams.StreamRecorder`) holds its work
lock around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress, repeat
from operator import is_
from typing import Any

from streamscope.tracing.facts import Classifier, StreamFacts
from streamscope.tracing.rollups import CONTENT, EMPTY

__all__ = ["RAW", "ChunkLog"]

RAW = -1  # the kind of a record whose payload ``classify`` turns into (kind, text) later


class ChunkLog:
    """The records of one stream and their classified columns (see the module docstring)."""

    __slots__ = ("arrived", "classify", "exported", "kinds", "learned", "payloads", "texts", "times")

    def __init__(self, classify: Classifier | None = None) -> None:
        self.arrived: list[int] = []
        self.payloads: list[Any] = []
        self.classify = classify
        self.learned = StreamFacts()
        self.times: list[int] = []
        self.kinds: list[int] = []
        self.texts: list[str] = []
        self.exported = 0

    def classify_upto(self, n: int) -> None:
        """Classify records ``len(times)`` to ``n`` into the columns.

        The consumer keeps appending meanwhile; slicing a list is atomic, and only records that were complete
        (payload appended) when this started are read. If ``classify`` raises, the records before it stay
        classified and the exception propagates.
        """
        done = len(self.times)
        if done >= n:
            return
        times = self.arrived[done:n]
        texts = self.payloads[done:n]
        kinds = [CONTENT] * len(texts)
        types = list(map(type, texts))
        if tuple in types:
            classify = self.classify
            learned = self.learned
            for i in compress(range(len(types)), map(is_, types, repeat(tuple))):
                kind, payload = texts[i]
                if kind == RAW:
                    try:
                        if classify is None:
                            kind, payload = (
                                (CONTENT, payload) if isinstance(payload, str) and payload else (EMPTY, "")
                            )
                        else:
                            kind, payload = classify(payload, learned)
                    except Exception:
                        self._append(times[:i], kinds[:i], texts[:i])
                        raise
                kinds[i] = kind
                texts[i] = payload
        self._append(times, kinds, texts)

    def _append(self, times: Sequence[int], kinds: Sequence[int], texts: Sequence[Any]) -> None:
        self.times.extend(times)
        self.kinds.extend(kinds)
        if set(map(type, texts)) <= {str}:
            self.texts.extend(texts)
        else:
            self.texts.extend(t if isinstance(t, str) else str(t) for t in texts)

    def classify_all(self) -> None:
        """Classify every complete record."""
        self.classify_upto(len(self.payloads))
