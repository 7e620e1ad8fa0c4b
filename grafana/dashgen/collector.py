"""Collector health: is it up, what it receives, stores and rejects, its queue and its ingest lag."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from . import metrics as m
from .panels import RATE, datasource_variable, label_variable, quantile, query, stat, timeseries

UID = "streamscope-collector"
SELECTOR = 'job=~"$job", instance=~"$instance"'


def build() -> Dashboard:
    dash = (
        Dashboard("streamscope / Collector health")
        .uid(UID)
        .description(
            "The streamscope collector's own metrics: ingest rates, rejections by reason, queue depth, "
            "ingest lag, and whether Prometheus can scrape it at all."
        )
        .tags(["streamscope", "collector"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .editable()
        .with_variable(datasource_variable())
        .with_variable(label_variable("job", "Job", m.SPANS_RECEIVED))
        .with_variable(label_variable("instance", "Instance", f'{m.SPANS_RECEIVED}{{job=~"$job"}}'))
    )
    dash = (
        dash.with_row(Row("Status"))
        .with_panel(
            stat(
                "Collectors up",
                "Scrape targets answering /metrics (up == 1).",
                "short",
                f"sum(up{{{SELECTOR}}})",
            )
        )
        .with_panel(
            stat(
                "Spans received / s",
                "OTLP spans accepted by the receivers.",
                "short",
                f"sum(rate({m.SPANS_RECEIVED}{{{SELECTOR}}}[{RATE}]))",
            )
        )
        .with_panel(
            stat(
                "Queue depth", "Spans waiting to be written.", "short", f"sum({m.QUEUE_DEPTH}{{{SELECTOR}}})"
            )
        )
        .with_panel(
            stat(
                "Ingest lag p95",
                "Receive → durable write, 95th percentile.",
                "s",
                quantile(0.95, m.INGEST_LAG, "", SELECTOR),
            )
        )
    )
    dash = (
        dash.with_row(Row("Ingest"))
        .with_panel(
            timeseries(
                "Spans / s",
                "Received, stored and rejected spans per second.",
                "short",
                [
                    query(
                        f"sum by (instance) (rate({m.SPANS_RECEIVED}{{{SELECTOR}}}[{RATE}]))",
                        "received {{instance}}",
                        "A",
                    ),
                    query(
                        f"sum by (instance) (rate({m.SPANS_STORED}{{{SELECTOR}}}[{RATE}]))",
                        "stored {{instance}}",
                        "B",
                    ),
                    query(
                        f"sum by (instance) (rate({m.SPANS_REJECTED}{{{SELECTOR}}}[{RATE}]))",
                        "rejected {{instance}}",
                        "C",
                    ),
                ],
                width=12,
            )
        )
        .with_panel(
            timeseries(
                "Rejected spans by reason",
                "Why the collector refused data (4xx, queue full, ...).",
                "short",
                [
                    query(
                        f"sum by ({m.REASON}) (rate({m.SPANS_REJECTED}{{{SELECTOR}}}[{RATE}]))",
                        "{{reason}}",
                        "A",
                    )
                ],
                width=12,
            )
        )
        .with_panel(
            timeseries(
                "Queue depth",
                "Spans waiting in the bounded write queue.",
                "short",
                [query(f"sum by (instance) ({m.QUEUE_DEPTH}{{{SELECTOR}}})", "{{instance}}", "A")],
                width=12,
            )
        )
        .with_panel(
            timeseries(
                "Ingest lag",
                "Receive → durable write (p50/p95/p99).",
                "s",
                [
                    query(quantile(q, m.INGEST_LAG, "", SELECTOR), f"p{round(q * 100)}", ref)
                    for q, ref in ((0.5, "A"), (0.95, "B"), (0.99, "C"))
                ],
                width=12,
            )
        )
    )
    return dash
