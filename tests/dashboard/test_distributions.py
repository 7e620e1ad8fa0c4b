"""Shared-bin histograms for the compare page."""

from __future__ import annotations

from streamscope.collector.query import percentile
from streamscope.dashboard.distributions import pair


def test_both_sides_share_log_bins_and_keep_every_value() -> None:
    p = pair([0.01, 0.1, 1.0, None, float("nan")], [10.0, 10.0], percentile, bins=3)
    assert [round(e, 6) for e in p.edges] == [0.01, 0.1, 1.0, 10.0]
    assert p.a.counts == [1, 1, 1] and p.b.counts == [0, 0, 2]
    assert (p.a.n, p.b.n) == (3, 2) and p.a.p50 == 0.1 and p.b.p95 == 10.0
    assert p.peak == 2


def test_empty_and_zero_samples() -> None:
    p = pair([], [], percentile)
    assert p.a.n == 0 and p.a.p50 is None and sum(p.b.counts) == 0
    z = pair([0.0, 0.0], [0.5], percentile, bins=4)
    assert sum(z.a.counts) == 2 and z.a.counts[0] == 2 and sum(z.b.counts) == 1
