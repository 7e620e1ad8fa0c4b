"""streamscope collector: OTLP receiver, storage, query API and Prometheus metrics."""
