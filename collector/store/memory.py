"""An in-memory SpanStore: the reference semantics for the contract tests, and handy in unit tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from streamscope.collector import aggregates as agg
from streamscope.collector import codec
from streamscope.collector.model import (
    NS,
    Chunk,
    Cursor,
    ErrorRow,
    Filters,
    IngestBatch,
    LiveStream,
    SessionSummary,
    Span,
    Stream,
    TraceSummary,
)
from streamscope.collector.rollup import SpanHead, ascii_lower, rollup_trace


def _head(s: Span) -> SpanHead:
    return SpanHead(
        s.span_id,
        s.parent_span_id,
        s.name,
        s.service,
        s.start_ns,
        s.end_ns,
        s.status_code,
        s.session_id,
        s.user_id,
    )


def _page(items: Iterable[tuple[int, str, object]], limit: int | None, cursor: Cursor | None) -> list[object]:
    ordered = sorted(items, key=lambda t: (t[0], t[1]), reverse=True)
    if cursor is not None:
        ordered = [t for t in ordered if (t[0], t[1]) < (cursor.start_ns, cursor.key)]
    if limit is not None:
        ordered = ordered[:limit]
    return [t[2] for t in ordered]


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: dict[str, dict[str, Span]] = {}  # trace_id -> span_id -> span
        self._streams: dict[str, Stream] = {}
        self._chunks: dict[str, dict[int, Chunk]] = {}
        self._traces: dict[str, TraceSummary] = {}
        self._live: dict[str, LiveStream] = {}
        self._aggs: dict[agg.RowKey, agg.AggState] = {}

    # -- writing ---------------------------------------------------------------------------------
    def write(self, batch: IngestBatch) -> None:
        with self._lock:
            touched: set[str] = set()
            for s in batch.spans:
                bucket = self._spans.setdefault(s.trace_id, {})
                if s.span_id not in bucket:
                    bucket[s.span_id] = s
                    touched.add(s.trace_id)
            new_streams = []
            for st in batch.streams:
                if st.span_id not in self._streams:
                    self._streams[st.span_id] = st
                    touched.add(st.trace_id)
                    new_streams.append(st)
            self._add_aggregates(new_streams)
            for c in batch.chunks:
                self._chunks.setdefault(c.span_id, {}).setdefault(c.index, c)
            for lv in batch.live:
                if lv.span_id not in self._streams:
                    known = self._live.get(lv.span_id)
                    self._live[lv.span_id] = lv if known is None else known.merged(lv)
            for st in batch.streams:
                self._live.pop(st.span_id, None)
            for trace_id in touched:
                n_streams = sum(1 for st in self._streams.values() if st.trace_id == trace_id)
                summary = rollup_trace(
                    trace_id, map(_head, self._spans.get(trace_id, {}).values()), n_streams
                )
                if summary is not None:
                    self._traces[trace_id] = summary

    def delete_before(self, cutoff_ns: int) -> int:
        with self._lock:
            for sid in [sid for sid, lv in self._live.items() if lv.last_ns < cutoff_ns]:
                del self._live[sid]  # streams in flight whose process never sent their span
                self._chunks.pop(sid, None)
            return self._delete([t for t, s in self._traces.items() if s.start_ns < cutoff_ns])

    def delete_oldest(self, n: int) -> int:
        with self._lock:
            if n <= 0:
                return 0
            ordered = sorted(self._traces.values(), key=lambda t: (t.start_ns, t.trace_id))
            return self._delete([t.trace_id for t in ordered[:n]])

    def _delete(self, trace_ids: list[str]) -> int:
        old = set(trace_ids)
        minutes: set[int] = set()
        for trace_id in old:
            del self._traces[trace_id]
            self._spans.pop(trace_id, None)
        for sid in [sid for sid, st in self._streams.items() if st.trace_id in old]:
            minutes.add(agg.slot_of(self._streams[sid].start_ns, agg.MINUTE))
            del self._streams[sid]
            self._chunks.pop(sid, None)
        self._recompute_aggregates(minutes)
        return len(old)

    def storage_bytes(self) -> int:
        """An estimate of the memory the stored rows hold (attribute text plus a fixed cost per row)."""
        with self._lock:
            spans = sum(
                300 + len(codec.dumps(dict(s.attributes))) for ts in self._spans.values() for s in ts.values()
            )
            chunks = sum(64 + len(c.content or "") for cs in self._chunks.values() for c in cs.values())
            return spans + chunks + 400 * len(self._streams) + 200 * len(self._traces)

    # -- aggregates ------------------------------------------------------------------------------
    def _add_aggregates(self, streams: list[Stream]) -> None:
        for rk, delta in agg.build(streams).items():
            old = self._aggs.get(rk)
            if old is None:
                self._aggs[rk] = delta
            else:
                old.merge(delta)

    def _recompute_aggregates(self, minutes: set[int]) -> None:
        if not minutes:
            return
        width = agg.TIERS[0]
        fresh = agg.build(
            (st for st in self._streams.values() if agg.slot_of(st.start_ns, width) in minutes), (width,)
        )
        for rk in [rk for rk in self._aggs if rk[0] == width and rk[1] in minutes]:
            del self._aggs[rk]
        self._aggs.update(fresh)
        finer, slots = width, minutes
        for coarser in agg.TIERS[1:]:
            slots = {agg.slot_of(s, coarser) for s in slots}
            for rk in [rk for rk in self._aggs if rk[0] == coarser and rk[1] in slots]:
                del self._aggs[rk]
            rows = [agg.Aggregate(w, slot, *key, st.to_bytes()) for (w, slot, key), st in self._aggs.items()
                    if w == finer and agg.slot_of(slot, coarser) in slots]  # fmt: skip
            self._aggs.update(agg.rollup(rows, coarser))
            finer = coarser

    def aggregates(self, width_s: int, filters: Filters, *, rollup: int = 0) -> list[agg.Aggregate]:
        agg.check_filters(filters)
        agg.check_rollup(filters, rollup)
        if width_s not in agg.TIERS:
            raise ValueError(f"no aggregate tier of {width_s} s (tiers: {agg.TIERS})")
        lo, hi = filters.since_ns, filters.until_ns
        with self._lock:
            return [
                agg.Aggregate(w, slot, *key, st.to_bytes())
                for (w, slot, key), st in self._aggs.items()
                if w == width_s
                and (lo is None or slot >= lo)
                and (hi is None or slot < hi)
                and agg.matches(key, filters, rollup)
            ]

    def rebuild_aggregates(self) -> None:
        with self._lock:
            self._aggs = agg.build(self._streams.values())

    # -- reading ---------------------------------------------------------------------------------
    def _span_matches(self, span: Span, needle: str) -> bool:
        return needle in ascii_lower(span.name) or needle in ascii_lower(codec.dumps(dict(span.attributes)))

    def _trace_pred(self, f: Filters) -> Callable[[TraceSummary], bool]:
        def pred(t: TraceSummary) -> bool:
            dur = (t.end_ns - t.start_ns) / NS
            streams = [st for st in self._streams.values() if st.trace_id == t.trace_id]
            return (
                (f.trace_id is None or t.trace_id == f.trace_id)
                and (f.service is None or t.service == f.service)
                and (f.status is None or t.status == f.status)
                and (f.min_duration is None or dur >= f.min_duration)
                and (f.max_duration is None or dur <= f.max_duration)
                and (f.since_ns is None or t.start_ns >= f.since_ns)
                and (f.until_ns is None or t.start_ns < f.until_ns)
                and (f.session_id is None or t.session_id == f.session_id)
                and (f.user_id is None or t.user_id == f.user_id)
                and (f.model is None or any(st.model == f.model for st in streams))
                and (f.outcome is None or any(st.outcome == f.outcome for st in streams))
                and (f.provider is None or any(st.provider == f.provider for st in streams))
                and (
                    f.min_ttft is None or any(st.ttft is not None and st.ttft >= f.min_ttft for st in streams)
                )
                and (
                    f.search is None
                    or any(
                        self._span_matches(s, ascii_lower(f.search))
                        for s in self._spans.get(t.trace_id, {}).values()
                    )
                )
            )

        return pred

    def _stream_pred(self, f: Filters) -> Callable[[Stream], bool]:
        def pred(st: Stream) -> bool:
            trace = self._traces.get(st.trace_id)
            span = self._spans.get(st.trace_id, {}).get(st.span_id)
            return (
                (f.trace_id is None or st.trace_id == f.trace_id)
                and (f.service is None or st.service == f.service)
                and (f.model is None or st.model == f.model)
                and (f.outcome is None or st.outcome == f.outcome)
                and (f.provider is None or st.provider == f.provider)
                and (f.status is None or (trace is not None and trace.status == f.status))
                and (f.min_duration is None or st.duration >= f.min_duration)
                and (f.max_duration is None or st.duration <= f.max_duration)
                and (f.min_ttft is None or (st.ttft is not None and st.ttft >= f.min_ttft))
                and (f.since_ns is None or st.start_ns >= f.since_ns)
                and (f.until_ns is None or st.start_ns < f.until_ns)
                and (
                    f.session_id is None
                    or st.session_id == f.session_id
                    or (trace is not None and trace.session_id == f.session_id)
                )
                and (
                    f.user_id is None
                    or st.user_id == f.user_id
                    or (trace is not None and trace.user_id == f.user_id)
                )
                and (
                    f.search is None or (span is not None and self._span_matches(span, ascii_lower(f.search)))
                )
            )

        return pred

    def traces(self, filters: Filters, limit: int, cursor: Cursor | None = None) -> list[TraceSummary]:
        with self._lock:
            pred = self._trace_pred(filters)
            rows = [(t.start_ns, t.trace_id, t) for t in self._traces.values() if pred(t)]
            return _page(rows, limit, cursor)  # type: ignore[return-value]

    def trace_spans(self, trace_id: str) -> list[Span]:
        with self._lock:
            return list(self._spans.get(trace_id, {}).values())

    def streams(self, filters: Filters, limit: int | None, cursor: Cursor | None = None) -> list[Stream]:
        with self._lock:
            pred = self._stream_pred(filters)
            rows = [(st.start_ns, st.span_id, st) for st in self._streams.values() if pred(st)]
            return _page(rows, limit, cursor)  # type: ignore[return-value]

    def stream(self, span_id: str) -> Stream | None:
        with self._lock:
            return self._streams.get(span_id)

    def chunks(self, span_id: str) -> list[Chunk]:
        with self._lock:
            return [c for _, c in sorted(self._chunks.get(span_id, {}).items())]

    def live(self, since_ns: int, limit: int) -> list[LiveStream]:
        with self._lock:
            rows = [
                (lv.start_ns, lv.span_id, lv)
                for lv in self._live.values()
                if lv.last_ns >= since_ns and lv.span_id not in self._streams
            ]
            return _page(rows, limit, None)  # type: ignore[return-value]

    def error_rows(self, filters: Filters, limit: int) -> list[ErrorRow]:
        f = filters
        with self._lock:

            def keep(s: Span) -> bool:
                t = self._traces.get(s.trace_id)
                return (
                    s.status_code == 2
                    and (f.since_ns is None or s.start_ns >= f.since_ns)
                    and (f.until_ns is None or s.start_ns < f.until_ns)
                    and (f.service is None or s.service == f.service)
                    and (
                        f.session_id is None
                        or s.session_id == f.session_id
                        or (t is not None and t.session_id == f.session_id)
                    )
                    and (
                        f.user_id is None
                        or s.user_id == f.user_id
                        or (t is not None and t.user_id == f.user_id)
                    )
                )

            found = [s for spans in self._spans.values() for s in spans.values() if keep(s)]
        found.sort(key=lambda s: (s.start_ns, s.span_id), reverse=True)
        return [ErrorRow.of_span(s) for s in found[:limit]]

    def sessions(
        self, filters: Filters, limit: int, after: tuple[int, str] | None = None
    ) -> list[SessionSummary]:
        f = filters
        groups: dict[str, list[TraceSummary]] = {}
        with self._lock:
            for t in self._traces.values():
                if (
                    t.session_id is not None
                    and (f.user_id is None or t.user_id == f.user_id)
                    and (f.service is None or t.service == f.service)
                    and (f.session_id is None or t.session_id == f.session_id)
                    and (f.since_ns is None or t.start_ns >= f.since_ns)
                    and (f.until_ns is None or t.start_ns < f.until_ns)
                ):
                    groups.setdefault(t.session_id, []).append(t)
        out = [
            SessionSummary(
                session_id=sid,
                user_id=max((t.user_id for t in ts if t.user_id is not None), default=None),
                start_ns=min(t.start_ns for t in ts),
                end_ns=max(t.end_ns for t in ts),
                trace_count=len(ts),
                error_count=sum(t.status == "error" for t in ts),
                stream_count=sum(t.stream_count for t in ts),
                last_start_ns=max(t.start_ns for t in ts),
            )
            for sid, ts in groups.items()
        ]
        out.sort(key=lambda x: (-x.last_start_ns, x.session_id))
        if after is not None:
            out = [x for x in out if (-x.last_start_ns, x.session_id) > (-after[0], after[1])]
        return out[:limit]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "spans": sum(len(v) for v in self._spans.values()),
                "streams": len(self._streams),
                "chunks": sum(len(v) for v in self._chunks.values()),
                "traces": len(self._traces),
            }

    def settle(self) -> None:
        """Nothing to wait for: trace summaries and aggregates are written with the batch."""

    def close(self) -> None:
        pass
