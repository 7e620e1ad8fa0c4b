"""AggState's one merge: any grouping and order of merges (objects or stored bytes) equals adding every stream."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from streamscope.collector.aggregate_state import METRICS, AggState, decode
from streamscope.collector.model import NS, OUTCOMES, Stream

T0 = 1_700_000_000 * NS

value = st.one_of(
    st.none(),
    st.just(0.0),
    st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e-9, max_value=1e9),  # below LOW_VALUE and above HIGH_VALUE too
    st.sampled_from([math.nan, math.inf, -math.inf]),  # count as missing
)
count = st.one_of(st.none(), st.integers(min_value=0, max_value=10_000))


@st.composite
def streams(draw: st.DrawFn, n: int) -> Stream:
    start = T0 + draw(st.integers(min_value=0, max_value=10**13))
    return Stream(
        trace_id=f"{n + 1:032x}", span_id=f"{n + 1:016x}", start_ns=start,
        end_ns=start + draw(st.integers(min_value=-NS, max_value=600 * NS)),
        outcome=draw(st.sampled_from([*OUTCOMES, "exploded \u2603", ""])),
        ttft=draw(value), time_to_first_chunk=draw(value), gap_p95=draw(value), gap_max=draw(value),
        output_tokens_per_second=draw(value), chunk_count=draw(count), stall_count=draw(count),
        output_tokens=draw(count), input_tokens=draw(count),
        cost_usd=draw(st.one_of(st.none(), st.floats(min_value=0, max_value=10))),
    )  # fmt: skip


def _exact(s: AggState) -> tuple[object, ...]:
    """Everything but the float sums, which round differently in another order."""
    return (s.n, s.outcomes, s.chunks, s.stalls, s.input_tokens, s.output_tokens, s.cost_n, s.start_min_ns,
            s.start_max_ns, [(m.n, m.min, m.max, m.bins()) for m in s.metrics])  # fmt: skip


def _sums_close(got: AggState, want: AggState, values: list[Stream]) -> None:
    scale = sum(st.cost_usd or 0 for st in values)
    assert math.isclose(got.cost_sum, want.cost_sum, rel_tol=1e-9, abs_tol=1e-9 * scale + 1e-12)
    for g, w in zip(got.metrics, want.metrics, strict=True):
        bound = 1e-9 * (abs(g.min or 0) + abs(g.max or 0)) * g.n
        assert math.isclose(g.sum, w.sum, rel_tol=1e-9, abs_tol=bound)


def _merge_tree(parts: list[AggState], how: list[int]) -> AggState:
    """Merge ``parts`` pairwise in the order ``how`` picks, each time by object, by stored bytes or both."""
    parts = list(parts)
    for i, h in enumerate(how):
        if len(parts) == 1:
            break
        j = h % (len(parts) - 1)
        a, b = parts[j], parts.pop(j + 1)
        style = (h + i) % 3
        if style == 0:
            a.merge(b)
        elif style == 1:
            a.merge_rows([b.to_bytes()])
        else:
            merged = AggState()
            merged.merge_rows([a.to_bytes(), b.to_bytes()])
            parts[j] = merged
    while len(parts) > 1:
        parts[0].merge(parts.pop())
    return parts[0]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_grouping_and_order_of_merges_equals_adding_everything(data: st.DataObject) -> None:
    values = [data.draw(streams(i)) for i in range(data.draw(st.integers(min_value=0, max_value=25)))]
    whole = AggState()
    for s in values:
        whole.add(s)
    order = data.draw(st.permutations(range(len(values))))
    cuts = sorted(data.draw(st.sets(st.integers(min_value=0, max_value=len(values)), max_size=8)))
    groups: list[AggState] = []
    for lo, hi in zip([0, *cuts], [*cuts, len(values)], strict=True):
        g = AggState()
        for k in order[lo:hi]:
            g.add(values[k])
        groups.append(g)
    how = data.draw(st.lists(st.integers(min_value=0, max_value=1000), max_size=12))
    got = _merge_tree(groups, how)
    assert _exact(got) == _exact(whole)
    _sums_close(got, whole, values)
    # and what it stores reads back as itself
    assert _exact(AggState.from_bytes(got.to_bytes())) == _exact(got)
    assert AggState.from_bytes(got.to_bytes()).to_bytes() == got.to_bytes()


def test_a_stored_row_is_decoded_field_by_field() -> None:
    s = AggState()
    s.add(Stream(trace_id="1" * 32, span_id="1" * 16, start_ns=T0, end_ns=T0 + 2 * NS, outcome="error",
                 ttft=-0.5, gap_p95=0.0, gap_max=3.0, chunk_count=7, stall_count=1, input_tokens=3,
                 output_tokens=9, cost_usd=0.25))  # fmt: skip
    got = decode(s.to_bytes())
    assert (got.n, got.outcomes, got.chunks, got.stalls, got.input_tokens, got.output_tokens, got.cost_sum,
            got.cost_n, got.start_min_ns, got.start_max_ns) == (1, {"error": 1}, 7, 1, 3, 9, 0.25, 1, T0, T0)  # fmt: skip
    by_name = dict(zip(METRICS, got.metrics, strict=True))
    assert (by_name["ttft"].n, by_name["ttft"].min, by_name["ttft"].neg) == (1, -0.5, s.metric("ttft").neg)
    assert (by_name["gap_p95"].zeros, by_name["duration"].max) == (1, 2.0)
    assert by_name["time_to_first_chunk"].n == 0
    assert by_name["gap_max"].bins() == s.metric("gap_max").bins() and by_name["gap_max"].lanes
    assert decode(b"").n == 0 and decode(AggState().to_bytes()).n == 0
