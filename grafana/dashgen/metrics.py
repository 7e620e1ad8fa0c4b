"""The Prometheus names the collector's ``/metrics`` exposes: one place, so dashboards and docs cannot drift.

GenAI semconv histograms (v1.41) translated to Prometheus names, plus streamscope's own stream and collector
self-metrics. Labels are low-cardinality: service, provider, model, operation, outcome (and token_type / reason).
"""

# GenAI semantic-convention histograms (classic buckets: *_bucket, *_sum, *_count).
DURATION = "gen_ai_client_operation_duration_seconds"
TTFC = "gen_ai_client_operation_time_to_first_chunk_seconds"
CHUNK_GAP = "gen_ai_client_operation_time_per_output_chunk_seconds"
TOKEN_USAGE = "gen_ai_client_token_usage"

# streamscope stream metrics.
STREAMS = "streamscope_stream_outcomes_total"  # counter, label outcome
STALLS = "streamscope_stream_stalls_total"  # counter
TOKENS_PER_SECOND = "streamscope_stream_output_tokens_per_second"  # histogram
TTFT = "streamscope_stream_time_to_first_token_seconds"  # histogram: time to the first content token

# Collector self-metrics.
SPANS_RECEIVED = "streamscope_collector_spans_received_total"
SPANS_REJECTED = "streamscope_collector_spans_rejected_total"  # label reason
SPANS_STORED = "streamscope_collector_spans_stored_total"
QUEUE_DEPTH = "streamscope_collector_queue_depth"
INGEST_LAG = "streamscope_collector_ingest_lag_seconds"  # histogram

# Labels.
SERVICE = "service"
PROVIDER = "provider"
MODEL = "model"
OPERATION = "operation"
OUTCOME = "outcome"
TOKEN_TYPE = "token_type"
ERROR_TYPE = "error_type"  # on the duration histogram; "" when the call succeeded
REASON = "reason"

# The scrape job name used by grafana/prometheus/prometheus.yml and the collector panels.
JOB = "streamscope-collector"
