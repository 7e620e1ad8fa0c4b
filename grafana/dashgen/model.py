"""Per-model drill-down: one model's TTFT distribution, gaps, duration, decoding speed, outcomes and tokens."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from . import metrics as m
from .panels import (
    RATE,
    STREAM_SELECTOR,
    datasource_variable,
    heatmap,
    label_variable,
    quantile_panel,
    query,
    timeseries,
)

UID = "streamscope-model"


def build() -> Dashboard:
    dash = (
        Dashboard("streamscope / Model drill-down")
        .uid(UID)
        .description(
            "One model at a time: distributions behind the overview's percentiles. Exemplar points link "
            "to the trace in the streamscope dashboard."
        )
        .tags(["streamscope", "llm"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .editable()
        .with_variable(datasource_variable())
        .with_variable(label_variable(m.SERVICE, "Service", f"{m.DURATION}_count"))
        .with_variable(
            label_variable(m.MODEL, "Model", f'{m.DURATION}_count{{{m.SERVICE}=~"$service"}}', multi=False)
        )
    )
    dash = (
        dash.with_row(Row("Time to first token and first chunk"))
        .with_panel(
            heatmap(
                "TTFT distribution", "Streams per time-to-first-token bucket (first content token).", m.TTFT
            )
        )
        .with_panel(
            quantile_panel(
                "TTFT percentiles by provider",
                "p50/p95/p99 time to the first content token.",
                m.TTFT,
                m.PROVIDER,
                width=12,
            )
        )
        .with_panel(
            quantile_panel(
                "Time to first chunk percentiles by provider",
                "p50/p95/p99 time to the first chunk of any kind (role-only included).",
                m.TTFC,
                m.PROVIDER,
                width=12,
            )
        )
    )
    dash = (
        dash.with_row(Row("Decoding"))
        .with_panel(heatmap("Gap distribution", "Chunks per inter-chunk gap bucket.", m.CHUNK_GAP))
        .with_panel(
            quantile_panel(
                "Gap percentiles by operation",
                "p50/p95/p99 gap between chunks.",
                m.CHUNK_GAP,
                m.OPERATION,
                width=12,
            )
        )
        .with_panel(
            quantile_panel(
                "Duration percentiles by operation",
                "p50/p95/p99 stream duration.",
                m.DURATION,
                m.OPERATION,
                width=12,
            )
        )
        .with_panel(
            quantile_panel(
                "Output tokens / s per stream by provider",
                "p50/p95/p99 decoding speed.",
                m.TOKENS_PER_SECOND,
                m.PROVIDER,
                unit="short",
                width=12,
            )
        )
    )
    dash = (
        dash.with_row(Row("Outcomes and tokens"))
        .with_panel(
            timeseries(
                "Streams by outcome",
                "Streams per second by how they ended.",
                "reqps",
                [
                    query(
                        f"sum by ({m.OUTCOME}) (rate({m.STREAMS}{{{STREAM_SELECTOR}}}[{RATE}]))",
                        "{{outcome}}",
                        "A",
                    )
                ],
            )
        )
        .with_panel(
            timeseries(
                "Stalls per stream",
                "Stalls divided by streams: how often a stream stalls.",
                "short",
                [
                    query(
                        f"sum(rate({m.STALLS}{{{STREAM_SELECTOR}}}[{RATE}])) / "
                        f"sum(rate({m.STREAMS}{{{STREAM_SELECTOR}}}[{RATE}]))",
                        "stalls per stream",
                        "A",
                    )
                ],
            )
        )
        .with_panel(
            timeseries(
                "Tokens per stream (mean)",
                "Mean tokens per stream, by token type.",
                "short",
                [
                    query(
                        f"sum by ({m.TOKEN_TYPE}) (rate({m.TOKEN_USAGE}_sum{{{STREAM_SELECTOR}}}[{RATE}])) / "
                        f"sum by ({m.TOKEN_TYPE}) (rate({m.TOKEN_USAGE}_count{{{STREAM_SELECTOR}}}[{RATE}]))",
                        "{{token_type}}",
                        "A",
                    )
                ],
            )
        )
    )
    return dash
