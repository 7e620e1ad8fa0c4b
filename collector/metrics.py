"""Prometheus metrics: GenAI semconv histograms (Prometheus names), stream metrics, collector self-metrics.

Each collector has its own ``CollectorRegistry`` (several can run in one process). Histograms fed per chunk use
a small bulk histogram (one lock per batch, not per observation) and keep the latest trace id per bucket as an
OpenMetrics exemplar. Labels are low-cardinality: :class:`~streamscope.collector.label_cap.LabelCap` folds label
sets past its cap into ``"_other"`` values (and, as a last guard, past ``MAX_SERIES`` label sets per metric new
models fold into ``model="_other"``), so hostile input cannot grow memory or the scrape.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import threading
import time
from collections import Counter as _Tally
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.samples import Exemplar

from streamscope.collector.label_cap import LabelCap
from streamscope.collector.model import OUTCOMES, IngestBatch, by_stream

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
TPS_BUCKETS = (1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 1000)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
MAX_SERIES = 2000
#: every reason ``streamscope_collector_spans_rejected_total`` counts (collector/receiver.py, http_app.py, grpc_server.py)
REJECT_REASONS = ("decode_budget", "invalid_span", "malformed", "queue_full", "store_error", "too_large")
STREAM_LABELS = ("service", "provider", "model", "operation")
# a chunk row by position: the writer process gets them as plain tuples (Chunk's field order)
_index = operator.itemgetter(1)
_gap = operator.itemgetter(3)


# values put in buckets: (count per bucket index, sum, the last value that fell in each bucket)
Bucketed = tuple[dict[int, int], float, dict[int, float]]


def bucket(bounds: Sequence[float], values: Sequence[float], last: bool = True) -> Bucketed:
    """Put ``values`` in the buckets of ``bounds`` (index ``len(bounds)`` is +Inf); ``last``: also keep the last
    value of each bucket (for its exemplar)."""
    if len(values) < 8:
        tally: dict[int, int] = {}
        latest: dict[int, float] = {}
        for v in values:
            i = bisect.bisect_left(bounds, v)
            tally[i] = tally.get(i, 0) + 1
            latest[i] = v
        return tally, sum(values), latest if last else {}
    # many values (a stream's gaps): bucket them in C
    where = list(map(bisect.bisect_left, itertools.repeat(bounds, len(values)), values))
    return dict(_Tally(where)), sum(values), dict(zip(where, values, strict=True)) if last else {}


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
        self.add(labels, bucket(self.bounds, values, trace_id is not None), trace_id)

    def add(self, labels: tuple[str, ...], bucketed: Bucketed, trace_id: str | None = None) -> None:
        """Add values already put in this histogram's buckets by :func:`bucket` (with its bounds)."""
        now = time.time()
        tally, total, last = bucketed
        with self._lock:
            counts, sums, exemplars = self._get(labels)
            for i, k in tally.items():
                counts[i] += k
            sums[0] += total
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


# What stored batches add to the metrics (BatchObserver.observe): per new stream (labels, trace id, error type,
# duration, time to first chunk, input tokens, output tokens, tokens/s, outcome, stalls, time to first token), and
# per stream with new gaps (labels, trace id, its gaps in the gap histogram's buckets). Plain tuples: the writer
# process sends them.
StreamObservation = tuple[
    tuple[str, ...],
    str,
    str,
    float,
    "float | None",
    "int | None",
    "int | None",
    "float | None",
    str,
    "int | None",
    "float | None",
]
Observation = tuple[list[StreamObservation], list[tuple[tuple[str, ...], str, Bucketed]]]


class BatchObserver:
    """Turns stored batches into metric observations, counting a stream, and a chunk's gap, once however often
    it is stored (an exporter's retries). Keeps what that takes (the labels of recent streams, gaps waiting for
    their stream, the highest chunk index counted per stream) for the last ``max_remembered`` streams.

    It runs where batches are written: :meth:`CollectorMetrics.observe_batch` in the collector, or in the writer
    process (``collector/store/writer.py``), which sends the observations back with its answer."""

    def __init__(self, max_remembered: int = 20_000) -> None:
        # span_id -> (labels, trace id)
        self._labels: OrderedDict[str, tuple[tuple[str, ...], str]] = OrderedDict()
        self._pending: OrderedDict[str, list[float]] = OrderedDict()  # gaps whose stream has not arrived yet
        self._gap_high: OrderedDict[str, int] = OrderedDict()  # span_id -> highest chunk index counted
        self._lock = threading.Lock()
        self._max_remembered = max_remembered

    def observe(
        self,
        batch: IngestBatch,
        chunks: Mapping[str, tuple[list[int], list[float | None]]] | None = None,
    ) -> Observation:
        """``chunks``: each stream's chunk indices and gaps, in place of those of ``batch.chunks`` (the writer
        process has them as columns: ``chunk_columns.index_gaps``)."""
        fresh: dict[str, tuple[tuple[str, ...], str]] = {}
        streams: list[StreamObservation] = []
        with self._lock:  # a stream sent twice (an exporter's retry) is stored once: count it once too
            new = [st for st in batch.streams if st.span_id not in self._labels]
        for st in new:
            if st.span_id in fresh:
                continue
            labels = (st.service, st.provider, st.model, st.operation)
            fresh[st.span_id] = (labels, st.trace_id)
            streams.append((labels, st.trace_id, st.error_type or "", st.duration, st.time_to_first_chunk,
                            st.input_tokens, st.output_tokens, st.output_tokens_per_second, st.outcome,
                            st.stall_count, st.ttft))  # fmt: skip
        if chunks is None:
            chunks = {
                sid: (list(map(_index, g)), list(map(_gap, g))) for sid, g in by_stream(batch.chunks).items()
            }
        gaps: dict[str, list[float]] = {}
        with self._lock:
            # Chunk rows sent again (an exporter's retry) are stored once, so their gaps count once: a stream's
            # chunks arrive in index order (live slices, then the rest), so remembering the highest index
            # counted per stream is enough; within one batch, duplicates are dropped by (stream, index).
            # A gap counts for a chunk after the first (index > 0) when it is a number >= 0.
            high = self._gap_high
            for sid, (indices, stream_gaps) in chunks.items():
                floor = high.get(sid, -1)
                lo = indices[0]
                if lo > floor and indices == list(range(lo, lo + len(indices))):  # new, in order, no repeats
                    values: list[Any] = list(stream_gaps)  # None and NaN are dropped below
                    if lo == 0:
                        del values[0]
                    top = indices[-1]
                else:
                    counted: set[int] = set()
                    values, top = [], floor
                    for i, gap in zip(indices, stream_gaps, strict=True):
                        if i <= floor or i in counted:
                            continue
                        counted.add(i)
                        top = max(top, i)
                        if i > 0:
                            values.append(gap)
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
        return streams, [(labels, tid, bucket(DURATION_BUCKETS, values)) for (labels, tid), values in ready]


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, label_cap: LabelCap | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.label_cap = label_cap if label_cap is not None else LabelCap()
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
        self.ttft = BulkHistogram(
            "streamscope_stream_time_to_first_token_seconds",
            "Time to the first content token (TTFT, docs/concepts.md); streams without content are not observed.",
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
        r.register(_Bulk([self.duration, self.ttfc, self.ttft, self.chunk_gap, self.tokens, self.tps]))
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
        for reason in REJECT_REASONS:  # every known reason starts at 0, so ratios read 0, not "no data"
            self.rejected.labels(reason)
        self.stored = Counter("streamscope_collector_spans_stored", "Spans durably stored.", registry=r)
        self.connections_closed = Counter(
            "streamscope_collector_connections_closed",
            "HTTP connections the collector closed or refused because of a limit, by reason.", ("reason",), registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "streamscope_collector_queue_depth", "Spans waiting in the ingest queue.", registry=r
        )
        self.ingest_lag = Histogram(
            "streamscope_collector_ingest_lag_seconds", "Time from receiving a request to its spans being queryable.",
            buckets=LAG_BUCKETS, registry=r,
        )  # fmt: skip
        self.observer = BatchObserver()
        self._seen: set[tuple[str, ...]] = set()  # stream label sets whose outcome counters exist

    def observe_batch(self, batch: IngestBatch) -> None:
        """Record the GenAI and stream metrics of a stored batch."""
        self.record(self.observer.observe(batch))

    def record(self, obs: Observation) -> None:
        """Record what :meth:`BatchObserver.observe` found in stored batches (here or in the writer process)."""
        streams, gaps = obs
        cap = self.label_cap
        for labels, trace_id, error_type, duration, ttfc, tokens_in, tokens_out, tps, outcome, stalls, ttft in streams:  # fmt: skip
            labels = cap.stream(labels)
            error_type = cap.error_type(error_type)
            self.duration.observe_many((*labels, error_type), (duration,), trace_id)
            if ttfc is not None:
                self.ttfc.observe_many(labels, (ttfc,), trace_id)
            if ttft is not None:
                self.ttft.observe_many(labels, (ttft,), trace_id)
            if tokens_in is not None:
                self.tokens.observe_many((*labels, "input"), (tokens_in,), trace_id)
            if tokens_out is not None:
                self.tokens.observe_many((*labels, "output"), (tokens_out,), trace_id)
            if tps is not None:
                self.tps.observe_many(labels[:3], (tps,), trace_id)
            ex = {"trace_id": trace_id}
            if labels not in self._seen:  # a new series key: every outcome and the stalls start at 0
                self._seen.add(labels)
                for known in OUTCOMES:
                    self.streams.labels(*labels, known)
                self.stalls.labels(*labels[:3])
            self.streams.labels(*labels, outcome).inc(1, exemplar=ex)
            if stalls:
                self.stalls.labels(*labels[:3]).inc(stalls, exemplar=ex)
        for labels, trace_id, bucketed in gaps:
            self.chunk_gap.add(cap.stream(labels), bucketed, trace_id or None)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """Render for a scrape: OpenMetrics (with exemplars) when the scraper asks for it, else text 0.0.4."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
