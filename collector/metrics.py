"""Prometheus metrics: GenAI semconv histograms (Prometheus names), stream metrics, collector self-metrics.

Each collector has its own ``CollectorRegistry`` (several can run in one process). Histograms fed per chunk use
a small bulk histogram (one lock per batch, not per observation) and keep the latest trace id per bucket as an
OpenMetrics exemplar. Labels are low-cardinality; past ``MAX_SERIES`` label sets per metric, new models are
folded into ``model="_other"`` so hostile input cannot grow memory.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import threading
import time
from collections import Counter as _Tally
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.samples import Exemplar

from streamscope.collector.model import IngestBatch, Stream, by_stream

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
TPS_BUCKETS = (1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 1000)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
MAX_SERIES = 2000
STREAM_LABELS = ("service", "provider", "model", "operation")
_index = operator.attrgetter("index")
_gap = operator.attrgetter("gap")


class BulkHistogram:
    """A classic histogram with explicit buckets that takes many observations under one lock."""

    def __init__(self, name: str, doc: str, labelnames: Sequence[str], buckets: Sequence[float]) -> None:
        self.name, self.doc, self.labelnames = name, doc, tuple(labelnames)
        self.bounds = list(buckets)
        self._lock = threading.Lock()
        # labels -> [counts per bucket (+Inf last), sum, exemplars per bucket]
        self._series: dict[
            tuple[str, ...], tuple[list[int], list[float], list[tuple[str, float, float] | None]]
        ] = {}

    def _get(
        self, labels: tuple[str, ...]
    ) -> tuple[list[int], list[float], list[tuple[str, float, float] | None]]:
        s = self._series.get(labels)
        if s is None:
            if len(self._series) >= MAX_SERIES and "model" in self.labelnames:
                i = self.labelnames.index("model")
                labels = (*labels[:i], "_other", *labels[i + 1 :])
                s = self._series.get(labels)
            if s is None:
                n = len(self.bounds) + 1
                s = ([0] * n, [0.0], [None] * n)
                self._series[labels] = s
        return s

    def observe_many(
        self, labels: tuple[str, ...], values: Sequence[float], trace_id: str | None = None
    ) -> None:
        """Observe every value; each bucket's exemplar becomes the last of the values that fell in it."""
        now = time.time()
        bounds = self.bounds
        if len(values) < 8:
            with self._lock:
                counts, total, exemplars = self._get(labels)
                for v in values:
                    i = bisect.bisect_left(bounds, v)
                    counts[i] += 1
                    total[0] += v
                    if trace_id is not None:
                        exemplars[i] = (trace_id, v, now)
            return
        # many values (a stream's gaps): bucket them in C, then one update per bucket
        where = list(map(bisect.bisect_left, itertools.repeat(bounds, len(values)), values))
        tally = _Tally(where)
        last = dict(zip(where, values, strict=True)) if trace_id is not None else {}
        with self._lock:
            counts, total, exemplars = self._get(labels)
            for i, k in tally.items():
                counts[i] += k
            total[0] = sum(values, total[0])
            if trace_id is not None:
                for i, v in last.items():
                    exemplars[i] = (trace_id, v, now)

    def collect(self) -> Iterable[Metric]:
        fam = HistogramMetricFamily(self.name, self.doc, labels=self.labelnames)
        with self._lock:
            items = [(k, list(c), t[0], list(e)) for k, (c, t, e) in self._series.items()]
        for labels, counts, total, exemplars in items:
            buckets: list[tuple[str, float] | tuple[str, float, Exemplar]] = []
            acc = 0
            for i, le in enumerate([*(str(float(b)) for b in self.bounds), "+Inf"]):
                acc += counts[i]
                ex = exemplars[i]
                if ex is not None:
                    buckets.append((le, float(acc), Exemplar({"trace_id": ex[0]}, ex[1], ex[2])))
                else:
                    buckets.append((le, float(acc)))
            fam.add_metric(labels, buckets, total)
        yield fam


class _Bulk:
    """Registers a set of BulkHistograms as one custom collector."""

    def __init__(self, hists: Sequence[BulkHistogram]) -> None:
        self.hists = hists

    def collect(self) -> Iterable[Metric]:
        for h in self.hists:
            yield from h.collect()


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.duration = BulkHistogram(
            "gen_ai_client_operation_duration_seconds", "GenAI operation duration (gen_ai.client.operation.duration).",
            (*STREAM_LABELS, "error_type"), DURATION_BUCKETS,
        )  # fmt: skip
        self.ttfc = BulkHistogram(
            "gen_ai_client_operation_time_to_first_chunk_seconds",
            "Time to the first chunk of a streamed response (gen_ai.client.operation.time_to_first_chunk).",
            STREAM_LABELS, DURATION_BUCKETS,
        )  # fmt: skip
        self.chunk_gap = BulkHistogram(
            "gen_ai_client_operation_time_per_output_chunk_seconds",
            "Time between consecutive chunks, one observation per gap (gen_ai.client.operation.time_per_output_chunk).",
            STREAM_LABELS, DURATION_BUCKETS,
        )  # fmt: skip
        self.tokens = BulkHistogram(
            "gen_ai_client_token_usage", "Tokens used per operation (gen_ai.client.token.usage).",
            (*STREAM_LABELS, "token_type"), TOKEN_BUCKETS,
        )  # fmt: skip
        self.tps = BulkHistogram(
            "streamscope_stream_output_tokens_per_second", "Output tokens per second of each stream.",
            ("service", "provider", "model"), TPS_BUCKETS,
        )  # fmt: skip
        r.register(_Bulk([self.duration, self.ttfc, self.chunk_gap, self.tokens, self.tps]))  # type: ignore[arg-type]
        self.streams = Counter(
            "streamscope_stream_outcomes", "LLM streams by outcome.", (*STREAM_LABELS, "outcome"), registry=r
        )
        self.stalls = Counter(
            "streamscope_stream_stalls", "Inter-chunk gaps above the stall threshold.",
            ("service", "provider", "model"), registry=r,
        )  # fmt: skip
        self.received = Counter(
            "streamscope_collector_spans_received", "Spans received (OTLP HTTP and gRPC).", registry=r
        )
        self.rejected = Counter(
            "streamscope_collector_spans_rejected", "Spans rejected, by reason.", ("reason",), registry=r
        )
        self.stored = Counter("streamscope_collector_spans_stored", "Spans durably stored.", registry=r)
        self.queue_depth = Gauge(
            "streamscope_collector_queue_depth", "Spans waiting in the ingest queue.", registry=r
        )
        self.ingest_lag = Histogram(
            "streamscope_collector_ingest_lag_seconds", "Time from receiving a request to its spans being queryable.",
            buckets=LAG_BUCKETS, registry=r,
        )  # fmt: skip
        self._labels: OrderedDict[str, tuple[tuple[str, ...], str]] = (
            OrderedDict()
        )  # span_id -> labels, trace
        self._pending: OrderedDict[str, list[float]] = OrderedDict()  # gaps whose stream has not arrived yet
        self._gap_high: OrderedDict[str, int] = OrderedDict()  # span_id -> highest chunk index counted
        self._lock = threading.Lock()
        self._max_remembered = 20_000

    @staticmethod
    def _labels_of(st: Stream) -> tuple[str, ...]:
        return (st.service, st.provider, st.model, st.operation)

    def observe_batch(self, batch: IngestBatch) -> None:
        """Record the GenAI and stream metrics of a stored batch."""
        fresh: dict[str, tuple[tuple[str, ...], str]] = {}
        with self._lock:  # a stream sent twice (an exporter's retry) is stored once: count it once too
            streams = [st for st in batch.streams if st.span_id not in self._labels]
        for st in streams:
            if st.span_id in fresh:
                continue
            labels = self._labels_of(st)
            fresh[st.span_id] = (labels, st.trace_id)
            ex = {"trace_id": st.trace_id}
            self.duration.observe_many((*labels, st.error_type or ""), (st.duration,), st.trace_id)
            if st.time_to_first_chunk is not None:
                self.ttfc.observe_many(labels, (st.time_to_first_chunk,), st.trace_id)
            if st.input_tokens is not None:
                self.tokens.observe_many((*labels, "input"), (st.input_tokens,), st.trace_id)
            if st.output_tokens is not None:
                self.tokens.observe_many((*labels, "output"), (st.output_tokens,), st.trace_id)
            if st.output_tokens_per_second is not None:
                self.tps.observe_many(labels[:3], (st.output_tokens_per_second,), st.trace_id)
            self.streams.labels(*labels, st.outcome).inc(1, exemplar=ex)
            if st.stall_count:
                self.stalls.labels(*labels[:3]).inc(st.stall_count, exemplar=ex)
        streams_chunks = by_stream(batch.chunks)
        gaps: dict[str, list[float]] = {}
        with self._lock:
            # Chunk rows sent again (an exporter's retry) are stored once, so their gaps count once: a stream's
            # chunks arrive in index order (live slices, then the rest), so remembering the highest index
            # counted per stream is enough; within one batch, duplicates are dropped by (stream, index).
            # A gap counts for a chunk after the first (index > 0) when it is a number >= 0.
            high = self._gap_high
            for sid, group in streams_chunks.items():
                floor = high.get(sid, -1)
                indices = list(map(_index, group))
                lo = indices[0]
                if lo > floor and indices == list(range(lo, lo + len(indices))):  # new, in order, no repeats
                    values = list(map(_gap, group))
                    if lo == 0:
                        del values[0]
                    top = indices[-1]
                else:
                    counted: set[int] = set()
                    values, top = [], floor
                    for c in group:
                        i = c.index
                        if i <= floor or i in counted:
                            continue
                        counted.add(i)
                        top = max(top, i)
                        if i > 0:
                            values.append(c.gap)
                if values and (None in values or not min(values) >= 0 or (total := sum(values)) != total):
                    values = [g for g in values if g is not None and g >= 0]  # NaN is not >= 0 either
                if values:
                    gaps[sid] = values
                if top > floor:
                    high[sid] = top
                    high.move_to_end(sid)
            while len(high) > self._max_remembered:
                high.popitem(last=False)
            for sid, val in fresh.items():
                self._labels[sid] = val
                waiting = self._pending.pop(sid, None)
                if waiting:
                    gaps.setdefault(sid, []).extend(waiting)
            while len(self._labels) > self._max_remembered:
                self._labels.popitem(last=False)
            ready = []
            for sid, values in gaps.items():
                known = self._labels.get(sid)
                if known is None:
                    self._pending.setdefault(sid, []).extend(values)
                else:
                    ready.append((known, values))
            while len(self._pending) > self._max_remembered:
                _, values = self._pending.popitem(last=False)
                ready.append(((("", "", "", ""), ""), values))
        for (labels, trace_id), values in ready:
            self.chunk_gap.observe_many(labels, values, trace_id or None)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """Render for a scrape: OpenMetrics (with exemplars) when the scraper asks for it, else text 0.0.4."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
