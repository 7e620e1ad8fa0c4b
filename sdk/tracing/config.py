"""Configuration for :func:`streamscope.init`: explicit arguments, then ``STREAMSCOPE_*``, then ``OTEL_*``.

| setting | argument | environment (first found wins) | default |
|---|---|---|---|
| endpoint | ``endpoint`` | ``STREAMSCOPE_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (full URL), ``OTEL_EXPORTER_OTLP_ENDPOINT`` (base URL) | ``http://localhost:4318`` / ``localhost:4317`` |
| protocol | ``protocol`` | ``STREAMSCOPE_PROTOCOL``, ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``, ``OTEL_EXPORTER_OTLP_PROTOCOL`` | ``http/protobuf`` |
| service name | ``service_name`` | ``STREAMSCOPE_SERVICE_NAME``, ``OTEL_SERVICE_NAME`` | ``unknown_service`` |
| headers | ``headers`` | ``STREAMSCOPE_HEADERS``, ``OTEL_EXPORTER_OTLP_TRACES_HEADERS``, ``OTEL_EXPORTER_OTLP_HEADERS`` | none |
| content capture | ``capture_content`` | ``STREAMSCOPE_CAPTURE_CONTENT`` | on |
| redaction of captured text | ``redact`` (a callable ``str -> str``) | — (a callable cannot come from the environment) | none |
| output token counter | ``count_tokens`` (a callable ``str -> int``, e.g. a tokenizer's) | — | none (estimate from characters) |
| chunk spans | ``chunk_spans`` | ``STREAMSCOPE_CHUNK_SPANS`` | on |
| sample rate | ``sample_rate`` | ``STREAMSCOPE_SAMPLE_RATE`` | 1.0 |
| stall threshold (s) | ``stall_threshold`` | ``STREAMSCOPE_STALL_THRESHOLD`` | 2.0 |
| live export interval (s) | ``live_interval`` | ``STREAMSCOPE_LIVE_INTERVAL`` | 1.0 (0 disables) |
| queue size (spans) | ``max_queue_size`` | ``STREAMSCOPE_MAX_QUEUE_SIZE``, ``OTEL_BSP_MAX_QUEUE_SIZE`` | 1,000,000 |
| export batch (spans) | — | ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` | 8192 |
| schedule delay | — | ``OTEL_BSP_SCHEDULE_DELAY`` (ms) | 500 ms |
| export timeout | — | ``OTEL_EXPORTER_OTLP_TRACES_TIMEOUT``, ``OTEL_EXPORTER_OTLP_TIMEOUT`` (s) | 10 s |
| compression | — | ``OTEL_EXPORTER_OTLP_TRACES_COMPRESSION``, ``OTEL_EXPORTER_OTLP_COMPRESSION`` | none |
| disabled | — | ``STREAMSCOPE_DISABLED``, ``OTEL_SDK_DISABLED`` | false |

Resource attributes from ``OTEL_RESOURCE_ATTRIBUTES`` are merged by the SDK's ``Resource.create``.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from streamscope.tracing.pipeline import (
    DEFAULT_LIVE_INTERVAL,
    DEFAULT_MAX_EXPORT_BATCH_SIZE,
    DEFAULT_MAX_QUEUE_SIZE,
    DEFAULT_SCHEDULE_DELAY,
)
from streamscope.tracing.redaction import SafeRedactor, safe
from streamscope.tracing.rollups import DEFAULT_STALL_THRESHOLD

PROTOCOLS = ("http/protobuf", "grpc")


class ConfigError(ValueError):
    """A setting has a value streamscope cannot use."""


@dataclass(frozen=True)
class Settings:
    """What the tracing code consults at run time.

    ``redact`` is always a :class:`~streamscope.tracing.redaction.SafeRedactor` (a plain callable given here is
    wrapped in one) or None.
    """

    capture_content: bool = True
    chunk_spans: bool = True
    stall_threshold: float = DEFAULT_STALL_THRESHOLD
    redact: SafeRedactor | None = None
    count_tokens: Callable[[str], int] | None = None

    def __post_init__(self) -> None:
        given: object = self.redact  # a plain callable passed despite the annotation is wrapped, not trusted
        if given is not None and not isinstance(given, SafeRedactor) and callable(given):
            object.__setattr__(self, "redact", safe(given))


@dataclass(frozen=True)
class Config:
    endpoint: str
    protocol: str
    service_name: str
    headers: Mapping[str, str] = field(default_factory=dict)
    settings: Settings = Settings()
    sample_rate: float = 1.0
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE
    max_export_batch_size: int = DEFAULT_MAX_EXPORT_BATCH_SIZE
    schedule_delay: float = DEFAULT_SCHEDULE_DELAY
    live_interval: float = DEFAULT_LIVE_INTERVAL
    timeout: float = 10.0
    compression: str | None = None
    disabled: bool = False


def _env(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value is not None and value.strip() != "":
            return value.strip()
    return None


def _bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}.")


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {value!r}.") from None


def parse_headers(value: str) -> dict[str, str]:
    """``k1=v1,k2=v2`` (values URL-encoded, as in the OTLP exporter spec)."""
    out: dict[str, str] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        key, sep, val = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"headers must look like key=value,key2=value2; got {part!r}.")
        out[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(val.strip())
    return out


def _traces_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def resolve(
    endpoint: str | None = None,
    *,
    service_name: str | None = None,
    capture_content: bool | None = None,
    chunk_spans: bool | None = None,
    headers: Mapping[str, str] | None = None,
    sample_rate: float | None = None,
    protocol: str | None = None,
    stall_threshold: float | None = None,
    max_queue_size: int | None = None,
    live_interval: float | None = None,
    redact: Callable[[str], str] | None = None,
    count_tokens: Callable[[str], int] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective :class:`Config`; raises :class:`ConfigError` with a one-sentence reason."""
    env = os.environ if env is None else env
    proto = (
        protocol
        or _env(
            env, "STREAMSCOPE_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"
        )
        or "http/protobuf"
    )
    if proto not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {proto!r}.")

    if endpoint is None:
        full = _env(env, "STREAMSCOPE_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        base = _env(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
        if full is not None:
            endpoint = full
        elif base is not None:
            endpoint = _traces_url(base) if proto == "http/protobuf" else base
        else:
            endpoint = "http://localhost:4318/v1/traces" if proto == "http/protobuf" else "localhost:4317"
    if proto == "http/protobuf":
        parsed = urllib.parse.urlparse(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"endpoint must be an http(s) URL for http/protobuf; got {endpoint!r}.")
        if parsed.path in ("", "/"):
            endpoint = _traces_url(endpoint)

    if headers is None:
        raw = _env(
            env, "STREAMSCOPE_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"
        )
        headers = parse_headers(raw) if raw else {}

    def flag(arg: bool | None, name: str, default: bool) -> bool:
        if arg is not None:
            return bool(arg)
        raw = _env(env, name)
        return default if raw is None else _bool(name, raw)

    def num(arg: float | None, names: tuple[str, ...], default: float) -> float:
        if arg is not None:
            return float(arg)
        raw = _env(env, *names)
        return default if raw is None else _number(names[0], raw)

    rate = num(sample_rate, ("STREAMSCOPE_SAMPLE_RATE",), 1.0)
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"sample_rate must be between 0 and 1; got {rate}.")
    stall = num(stall_threshold, ("STREAMSCOPE_STALL_THRESHOLD",), DEFAULT_STALL_THRESHOLD)
    if stall <= 0:
        raise ConfigError(f"stall_threshold must be a positive number of seconds; got {stall}.")
    queue = int(
        num(max_queue_size, ("STREAMSCOPE_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_QUEUE_SIZE"), DEFAULT_MAX_QUEUE_SIZE)
    )
    if queue < 1:
        raise ConfigError(f"max_queue_size must be at least 1; got {queue}.")
    live = num(live_interval, ("STREAMSCOPE_LIVE_INTERVAL",), DEFAULT_LIVE_INTERVAL)
    if not math.isfinite(live) or live < 0:
        raise ConfigError(f"live_interval must be a number of seconds, 0 or more (0 disables); got {live}.")
    batch = int(num(None, ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE",), DEFAULT_MAX_EXPORT_BATCH_SIZE))
    delay = num(None, ("OTEL_BSP_SCHEDULE_DELAY",), DEFAULT_SCHEDULE_DELAY * 1000) / 1000
    timeout = num(None, ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"), 10.0)
    compression = _env(env, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")
    if compression not in (None, "none", "gzip"):
        raise ConfigError(f"compression must be none or gzip; got {compression!r}.")
    disabled = flag(None, "STREAMSCOPE_DISABLED", False) or flag(None, "OTEL_SDK_DISABLED", False)
    if redact is not None and not callable(redact):
        raise ConfigError(f"redact must be a callable taking and returning a str; got {redact!r}.")
    if count_tokens is not None and not callable(count_tokens):
        raise ConfigError(
            f"count_tokens must be a callable taking a str and returning an int; got {count_tokens!r}."
        )

    return Config(
        endpoint=endpoint,
        protocol=proto,
        service_name=service_name
        or _env(env, "STREAMSCOPE_SERVICE_NAME", "OTEL_SERVICE_NAME")
        or "unknown_service",
        headers=dict(headers),
        settings=Settings(
            capture_content=flag(capture_content, "STREAMSCOPE_CAPTURE_CONTENT", True),
            chunk_spans=flag(chunk_spans, "STREAMSCOPE_CHUNK_SPANS", True),
            stall_threshold=stall,
            redact=safe(redact),
            count_tokens=count_tokens,
        ),
        sample_rate=rate,
        max_queue_size=queue,
        max_export_batch_size=batch,
        schedule_delay=delay,
        live_interval=live,
        timeout=timeout,
        compression=None if compression in (None, "none") else compression,
        disabled=disabled,
    )
