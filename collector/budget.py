"""A byte budget shared by all requests being decoded: the bound on what decoding can make the collector hold.

lease = budget.lease()
try:
    lease.grow(len(raw))   # raises OverBudget when the budget has no room now (retry later)
    ...
finally:
    lease.release()
"""

from __future__ import annotations

import threading


class OverBudget(Exception):
    """No room in the decode budget now; ``fits_ever`` is False when the request is larger than the whole budget."""

    def __init__(self, fits_ever: bool) -> None:
        super().__init__("the collector is decoding as much as it may hold at once; retry later.")
        self.fits_ever = fits_ever


class DecodeBudget:
    def __init__(self, total: int) -> None:
        self.total = total
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def lease(self) -> Lease:
        return Lease(self)

    def _take(self, n: int, held: int) -> None:
        with self._lock:
            if self._used + n > self.total:
                raise OverBudget(held + n <= self.total)
            self._used += n

    def _give(self, n: int) -> None:
        with self._lock:
            self._used -= n


class Lease:
    """The part of the budget one request holds; :meth:`release` gives it all back (idempotent)."""

    __slots__ = ("_budget", "held")

    def __init__(self, budget: DecodeBudget) -> None:
        self._budget = budget
        self.held = 0

    def grow(self, n: int) -> None:
        """Take ``n`` more bytes (a negative ``n`` gives bytes back); raises :class:`OverBudget`."""
        if n > 0:
            self._budget._take(n, self.held)
            self.held += n
        elif n < 0:
            n = max(n, -self.held)
            self._budget._give(-n)
            self.held += n

    def release(self) -> None:
        if self.held:
            self._budget._give(self.held)
            self.held = 0
