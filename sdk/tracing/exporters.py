"""Exporters behind the span pipeline: our OTLP/HTTP exporter and an adapter for any OTel ``SpanExporter``.

A :class:`BatchExporter` receives ordinary spans and chunk batches together. :class:`OtlpHttpExporter` sends
them as one OTLP/HTTP protobuf request using the fast chunk encoder; :class:`SdkExporter` materialises chunk
batches into SDK spans and hands everything to a stock exporter (gRPC, in-memory, console, ...).

The HTTP exporter follows the OTLP retry rules (429, 502, 503, 504 and connection errors are retried with
exponential backoff, ``Retry-After`` honoured) but never past its timeout, and gives up at once when the
pipeline shuts down, so a collector that is down never delays the application's exit for long.
"""

from __future__ import annotations

import email.utils
import gzip
import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from streamscope.tracing.chunks import ChunkBatch
from streamscope.tracing.otlp import Encoder

logger = logging.getLogger("streamscope.export")

_RETRYABLE = frozenset({429, 502, 503, 504})


class BatchExporter(Protocol):
    """Exports spans and chunk batches; returns True on success. Must not raise for transport errors."""

    def export(self, spans: Sequence[ReadableSpan], batches: Sequence[ChunkBatch]) -> bool: ...

    def shutdown(self) -> None: ...


class SdkExporter:
    """Adapts a stock OpenTelemetry ``SpanExporter``: chunk batches become ordinary SDK spans."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan], batches: Sequence[ChunkBatch]) -> bool:
        items = list(spans)
        for batch in batches:
            items.extend(batch.spans())
        if not items:
            return True
        return self.exporter.export(items) == SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.exporter.shutdown()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OtlpHttpExporter:
    """OTLP/HTTP protobuf exporter with the chunk-span fast path."""

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        compression: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.compression = compression if compression in ("gzip",) else None
        self._headers = {"Content-Type": "application/x-protobuf", **(headers or {})}
        if self.compression:
            self._headers["Content-Encoding"] = "gzip"
        self._client = httpx.Client(timeout=timeout)
        self._encoder = Encoder()
        self._stop = threading.Event()

    def export(self, spans: Sequence[ReadableSpan], batches: Sequence[ChunkBatch]) -> bool:
        body = self._encoder.encode(spans, batches)
        if not body:
            return True
        if self.compression == "gzip":
            body = gzip.compress(body, compresslevel=1)
        return self._send(body)

    def _send(self, body: bytes) -> bool:
        deadline = time.monotonic() + self.timeout
        attempt = 0
        while True:
            delay: float | None
            try:
                response = self._client.post(self.endpoint, content=body, headers=self._headers)
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}"
                delay = None
            else:
                if response.status_code < 300:
                    return True
                reason = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in _RETRYABLE:
                    logger.warning("OTLP export to %s rejected (%s); not retried", self.endpoint, reason)
                    return False
                delay = _retry_after(response.headers.get("Retry-After"))
            if delay is None:
                delay = (2**attempt) * random.uniform(0.4, 0.6)
            attempt += 1
            if self._stop.is_set() or time.monotonic() + delay > deadline:
                logger.warning(
                    "OTLP export to %s failed (%s); giving up on this batch", self.endpoint, reason
                )
                return False
            if self._stop.wait(delay):
                return False

    def stop_retrying(self) -> None:
        """Abort any retry back-off now (called when the pipeline starts shutting down)."""
        self._stop.set()

    def shutdown(self) -> None:
        self._stop.set()
        self._client.close()
