"""The overview dashboard: latency, gap and TTFT percentiles by model, throughput, outcomes, token usage."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from . import metrics as m
from .panels import RATE, STREAM_SELECTOR, quantile, quantile_panel, query, stat, stream_variables, timeseries

UID = "streamscope-overview"


def streams_rate(extra: str = "", by: str = m.MODEL) -> str:
    selector = f"{STREAM_SELECTOR}, {extra}" if extra else STREAM_SELECTOR
    return f"sum by ({by}) (rate({m.STREAMS}{{{selector}}}[{RATE}]))"


def outcome_ratio(outcome: str) -> str:
    """Share of streams per model that ended with ``outcome`` (0..1); ``error|timeout`` is the error rate."""
    op = "=~" if "|" in outcome else "="
    return f"{streams_rate(f'{m.OUTCOME}{op}{chr(34)}{outcome}{chr(34)}')} / {streams_rate()}"


def build() -> Dashboard:
    dash = (
        Dashboard("streamscope / Overview")
        .uid(UID)
        .description(
            "LLM streams seen by the streamscope collector: time to first token, time to first chunk, "
            "gaps, durations, throughput, outcomes and token usage, by model."
        )
        .tags(["streamscope", "llm"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .editable()
    )
    for variable in stream_variables():
        dash = dash.with_variable(variable)

    dash = (
        dash.with_row(Row("Summary"))
        .with_panel(
            stat(
                "Streams / s",
                "All LLM streams per second.",
                "reqps",
                f"sum(rate({m.STREAMS}{{{STREAM_SELECTOR}}}[{RATE}]))",
            )
        )
        .with_panel(
            stat(
                "TTFT p95",
                "95th percentile time to the first content token, all models.",
                "s",
                quantile(0.95, m.TTFT, ""),
            )
        )
        .with_panel(
            stat(
                "Error rate (error + timeout)",
                "Share of streams that ended with outcome error or timeout.",
                "percentunit",
                f'sum(rate({m.STREAMS}{{{STREAM_SELECTOR}, {m.OUTCOME}=~"error|timeout"}}[{RATE}])) / '
                f"sum(rate({m.STREAMS}{{{STREAM_SELECTOR}}}[{RATE}]))",
            )
        )
        .with_panel(
            stat(
                "Abandon rate",
                "Share of streams the consumer stopped reading before the end.",
                "percentunit",
                f'sum(rate({m.STREAMS}{{{STREAM_SELECTOR}, {m.OUTCOME}="abandoned"}}[{RATE}])) / '
                f"sum(rate({m.STREAMS}{{{STREAM_SELECTOR}}}[{RATE}]))",
            )
        )
    )

    dash = (
        dash.with_row(Row("Latency"))
        .with_panel(
            quantile_panel(
                "Time to first token (TTFT)",
                "Request start to the first content token (p50/p95/p99 by model).",
                m.TTFT,
                m.MODEL,
                width=6,
            )
        )
        .with_panel(
            quantile_panel(
                "Time to first chunk",
                "Request start to the first chunk of any kind (p50/p95/p99 by model).",
                m.TTFC,
                m.MODEL,
                width=6,
            )
        )
        .with_panel(
            quantile_panel(
                "Gap between chunks",
                "Time between consecutive chunks after the first (p50/p95/p99 by model).",
                m.CHUNK_GAP,
                m.MODEL,
                width=6,
            )
        )
        .with_panel(
            quantile_panel(
                "Stream duration",
                "Whole model call, request to last chunk (p50/p95/p99 by model).",
                m.DURATION,
                m.MODEL,
                width=6,
            )
        )
    )

    dash = (
        dash.with_row(Row("Throughput"))
        .with_panel(
            timeseries(
                "Streams / s",
                "LLM streams finished per second, by model.",
                "reqps",
                [query(streams_rate(), "{{model}}", "A")],
            )
        )
        .with_panel(
            timeseries(
                "Chunks / s",
                "Chunks after the first received per second (one gap observation per chunk), by model.",
                "cps",
                [
                    query(
                        f"sum by ({m.MODEL}) (rate({m.CHUNK_GAP}_count{{{STREAM_SELECTOR}}}[{RATE}]))",
                        "{{model}}",
                        "A",
                    )
                ],
            )
        )
        .with_panel(
            quantile_panel(
                "Output tokens / s per stream",
                "Decoding speed of each stream (p50/p95/p99 by model).",
                m.TOKENS_PER_SECOND,
                m.MODEL,
                unit="short",
            )
        )
    )

    dash = (
        dash.with_row(Row("Outcomes"))
        .with_panel(
            timeseries(
                "Streams by outcome",
                "completed | abandoned | cancelled | error | timeout, per second.",
                "reqps",
                [query(streams_rate(by=m.OUTCOME), "{{outcome}}", "A")],
            )
        )
        .with_panel(
            timeseries(
                "Error rate (error + timeout) and abandon rate",
                "Share of streams per model by how they ended.",
                "percentunit",
                [
                    query(outcome_ratio("error|timeout"), "error rate {{model}}", "A"),
                    query(outcome_ratio("abandoned"), "abandon rate {{model}}", "B"),
                ],
            )
        )
        .with_panel(
            timeseries(
                "Stalls / s",
                "Gaps longer than the stall threshold, per second, by model.",
                "short",
                [
                    query(
                        f"sum by ({m.MODEL}) (rate({m.STALLS}{{{STREAM_SELECTOR}}}[{RATE}]))",
                        "{{model}}",
                        "A",
                    )
                ],
                width=12,
            )
        )
        .with_panel(
            timeseries(
                "Errors by type",
                "Failed model calls per second by error.type (rate limits, timeouts, API errors).",
                "reqps",
                [
                    query(
                        f"sum by ({m.MODEL}, {m.ERROR_TYPE}) (rate({m.DURATION}_count{{{STREAM_SELECTOR}, "
                        f'{m.ERROR_TYPE}!=""}}[{RATE}]))',
                        "{{error_type}} {{model}}",
                        "A",
                    )
                ],
                width=12,
            )
        )
    )

    tokens = f"{m.TOKEN_USAGE}_sum{{{STREAM_SELECTOR}}}"
    dash = (
        dash.with_row(Row("Token usage"))
        .with_panel(
            timeseries(
                "Tokens / s",
                "Input and output tokens per second, by model.",
                "short",
                [
                    query(
                        f"sum by ({m.MODEL}, {m.TOKEN_TYPE}) (rate({tokens}[{RATE}]))",
                        "{{token_type}} {{model}}",
                        "A",
                    )
                ],
                width=12,
            )
        )
        .with_panel(
            timeseries(
                "Tokens per stream p95",
                "95th percentile of tokens per stream, by token type.",
                "short",
                [query(quantile(0.95, m.TOKEN_USAGE, m.TOKEN_TYPE), "p95 {{token_type}}", "A")],
                width=12,
            )
        )
    )
    return dash
