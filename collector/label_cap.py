"""A cap on the label values of the stream metrics on ``/metrics`` (hostile or careless input cannot grow them).

Stream metrics are labelled by ``(service, provider, model, operation)``. The first ``max_sets`` distinct sets are
kept as sent. Past that, a new set keeps its service, provider and operation with ``model="_other"`` (up to a
quarter more sets), and past that every label is ``"_other"``. ``error_type`` keeps its first ``max_error_types``
values; later ones become ``"_OTHER"`` (the OpenTelemetry semantic conventions' fallback for ``error.type``).
A series, once shown, keeps its labels: folding never moves counts between existing series.
"""

from __future__ import annotations

import threading

OVERFLOW = "_other"
OVERFLOW_ERROR_TYPE = "_OTHER"
DEFAULT_MAX_SETS = 200
DEFAULT_MAX_ERROR_TYPES = 32


class LabelCap:
    def __init__(
        self, max_sets: int = DEFAULT_MAX_SETS, max_error_types: int = DEFAULT_MAX_ERROR_TYPES
    ) -> None:
        self.max_sets = max_sets
        self.max_error_types = max_error_types
        self._sets: set[tuple[str, ...]] = set()
        self._folded: set[tuple[str, ...]] = set()
        self._errors: set[str] = set()
        self._lock = threading.Lock()

    def stream(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        """``(service, provider, model, operation)``, or its folded form past the cap."""
        if labels in self._sets or labels in self._folded:
            return labels
        with self._lock:
            if len(self._sets) < self.max_sets:
                self._sets.add(labels)
                return labels
            folded = (labels[0], labels[1], OVERFLOW, *labels[3:])
            if folded in self._folded or len(self._folded) < max(1, self.max_sets // 4):
                self._folded.add(folded)
                return folded
            return tuple(OVERFLOW for _ in labels)

    def error_type(self, value: str) -> str:
        if not value or value in self._errors:
            return value
        with self._lock:
            if len(self._errors) < self.max_error_types:
                self._errors.add(value)
                return value
        return OVERFLOW_ERROR_TYPE
