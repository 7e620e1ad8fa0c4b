"""Retention by age and by size (``streamscope collector --retention HOURS --max-db-size SIZE``).

:class:`Retention` is store-agnostic: it uses only the ``SpanStore`` Protocol (``delete_before``,
``delete_oldest``, ``storage_bytes``, ``counts``), and ``CollectorServer`` runs it on a background thread.
Every delete is one store transaction that also fixes the aggregate rows of the deleted streams, and size
trimming deletes in slices so the ingest writer never waits long for the store.

Size: SQLite reuses the pages that deletes free but never shrinks its file. So when the database reaches
:data:`HIGH_WATER` of the limit, the number of traces that fit in :data:`LOW_WATER` of it is estimated from the
current bytes per trace, the oldest traces beyond that are deleted, and from then on the trace count is kept
under that capacity (recalibrated whenever the file still grows). See ``docs/collector.md``, "Retention".
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time

from streamscope.collector.model import NS
from streamscope.collector.store import SpanStore

log = logging.getLogger(__name__)

HIGH_WATER = 0.95  # start deleting when the database reaches this fraction of the limit
LOW_WATER = 0.85  # ... and keep what fits in this fraction
SLICE_TRACES = 2000  # traces per delete transaction
GROWTH_SLACK = 0.01  # the file must grow by more than this fraction before the capacity is estimated again

_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "M": 1000**2, "MB": 1000**2, "G": 1000**3, "GB": 1000**3,
          "T": 1000**4, "TB": 1000**4, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}  # fmt: skip
_SIZE = re.compile(r"^\s*([0-9]{1,20})(?:\.([0-9]{1,20}))?\s*([A-Za-z]{0,3})\s*$")
MIN_BYTES = 1_000_000
MAX_BYTES = 10**18  # 1 EB: more than any disk, and still a 64-bit integer
MIN_AGE_S = 60.0  # --retention below a minute would delete traces while they are still arriving
MAX_AGE_S = 1e6 * 3600  # a million hours (114 years)
SIZE_CHECK_S = 1.0  # the size bound is checked every second: the overshoot is what arrives in that time


def parse_size(text: str) -> int:
    """``"2GB"``, ``"500 MB"``, ``"1.5GiB"``, ``"1000000"`` -> bytes (KB/MB/GB/TB are powers of 1000).

    Raises:
        ValueError: with a one-sentence reason, for anything else or less than 1 MB.
    """
    m = _SIZE.match(text) if len(text) <= 64 else None
    unit = m.group(3).upper() if m else ""
    shown = text if len(text) <= 64 else text[:60] + "..."
    if m is None or unit not in _UNITS:
        raise ValueError(
            f"{shown!r} is not a size; use a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB."
        )
    frac = m.group(2) or ""
    # exact integer arithmetic (a float of a long number is inf, and int(inf) raises)
    value: int = (int(m.group(1) + frac) * _UNITS[unit]) // 10 ** len(frac)
    if value < MIN_BYTES:
        raise ValueError(f"{shown!r} is below the smallest database size limit, 1 MB.")
    if value > MAX_BYTES:
        raise ValueError(f"{shown!r} is above the largest database size limit, 1 EB.")
    return value


def check_age(seconds: float) -> None:
    """Raise ValueError with a one-sentence reason for a retention age that is not finite or out of range."""
    if not math.isfinite(seconds) or not MIN_AGE_S <= seconds <= MAX_AGE_S:
        raise ValueError("the retention must be a finite number of hours from 1/60 (a minute) to 1,000,000.")


def _human(size: int) -> str:
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size:,} bytes"


class StoreFull(Exception):
    """The database is at ``--max-db-size`` and still growing: the write is refused (503 + Retry-After) while the
    size pass deletes the oldest traces."""


class Retention:
    """Deletes traces older than ``max_age_s`` and the oldest traces while the store is above ``max_bytes``."""

    def __init__(
        self,
        max_age_s: float | None = None,
        max_bytes: int | None = None,
        *,
        slice_traces: int = SLICE_TRACES,
        check_every: float | None = None,
    ) -> None:
        if max_age_s is not None and not (math.isfinite(max_age_s) and max_age_s > 0):
            raise ValueError("the retention age must be a positive, finite number of seconds")
        if max_bytes is not None and not 0 < max_bytes <= MAX_BYTES:
            raise ValueError("the size limit must be positive and at most 1 EB")
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.slice_traces = slice_traces
        self._check_every = check_every
        self._capacity: int | None = None  # traces that fit in LOW_WATER * max_bytes
        self._calibrated_at: int = 0  # storage bytes when the capacity was estimated
        self._after_pass: int | None = None  # storage bytes after the last size pass at the high-water mark
        #: set by :meth:`admit` when it refuses a write: the size pass should run now, not at its next tick
        self.wake = threading.Event()

    def admit(self, store: SpanStore) -> None:
        """Before a write: refuse it while the database (file + WAL) is at or over the size limit and has grown
        since the last size pass, and wake that pass. Writes that fit in the room the pass freed inside the file
        (SQLite reuses deleted pages without growing it) go on.

        Raises:
            StoreFull: the write must wait for the oldest traces to go.
        """
        if self.max_bytes is None:
            return
        size = store.storage_bytes()
        if size < self.max_bytes:
            return
        after = self._after_pass
        if after is not None and size <= after:
            return
        self.wake.set()
        raise StoreFull("the database is at its size limit (--max-db-size) while the oldest traces are deleted; "
                        "retry later.")  # fmt: skip

    def describe(self) -> str:
        """One line for the command line: what is deleted, in the background."""
        rules = []
        if self.max_age_s is not None:
            hours = self.max_age_s / 3600
            rules.append(
                f"traces older than {hours:g} h" if hours >= 1 else f"traces older than {self.max_age_s:g} s"
            )
        if self.max_bytes is not None:
            rules.append(f"the oldest traces while the database is over {_human(self.max_bytes)}")
        return "retention: " + (" and ".join(rules) or "nothing") + " are deleted in the background"

    @property
    def interval(self) -> float:
        """Seconds between checks: size every second (it can grow fast), age at most once a minute and at least
        once a second (a tiny age must not spin a core)."""
        if self._check_every is not None:
            return self._check_every
        if self.max_bytes is not None:
            return SIZE_CHECK_S
        return max(1.0, min(60.0, self.max_age_s or 60.0))

    def enforce(self, store: SpanStore, now_ns: int | None = None) -> dict[str, int]:
        """One check; returns how many traces each bound deleted."""
        return {"age": self.enforce_age(store, now_ns), "size": self.enforce_size(store)}

    def enforce_age(self, store: SpanStore, now_ns: int | None = None) -> int:
        if self.max_age_s is None:
            return 0
        now = time.time_ns() if now_ns is None else now_ns
        return store.delete_before(now - int(self.max_age_s * NS))

    def enforce_size(self, store: SpanStore) -> int:
        if self.max_bytes is None:
            return 0
        size = store.storage_bytes()
        if size < HIGH_WATER * self.max_bytes:
            self._capacity = None  # below the mark (a new or vacuumed database): estimate afresh next time
            self._after_pass = None
            return 0
        traces = store.counts()["traces"]
        if self._capacity is None or size > self._calibrated_at * (1 + GROWTH_SLACK):
            estimate = int(traces * LOW_WATER * self.max_bytes / size)
            self._capacity = estimate if self._capacity is None else min(self._capacity, estimate)
            self._calibrated_at = size
        excess = traces - self._capacity
        deleted = 0
        while excess > 0:
            n = store.delete_oldest(min(excess, self.slice_traces))
            if n <= 0:
                break
            deleted += n
            excess -= n
        if deleted:
            # Deleting writes too (SQLite's WAL): that growth is ours, not new data, so it does not recalibrate.
            self._calibrated_at = max(self._calibrated_at, store.storage_bytes())
        self._after_pass = store.storage_bytes()
        if deleted:
            log.info(
                "size retention removed %d traces (%d bytes stored, limit %d)", deleted, size, self.max_bytes
            )
        return deleted
