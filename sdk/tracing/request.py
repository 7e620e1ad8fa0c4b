"""The GenAI attributes of an LLM call known when it starts, and its span's name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.util.types import AttributeValue

from streamscope.tracing import attributes as A

__all__ = ["llm_span_name", "start_attributes"]


def llm_span_name(operation: str, model: str | None) -> str:
    return f"{operation} {model}" if model else operation


def start_attributes(
    *,
    operation: str,
    model: str | None,
    provider: str | None,
    stream: bool,
    request_params: Mapping[str, Any] | None,
    server_address: str | None,
    server_port: int | None,
    run_id: Any = None,
) -> dict[str, AttributeValue]:
    """The GenAI attributes known when an LLM call starts (set at span start, as the spec asks)."""
    attrs: dict[str, AttributeValue] = {
        A.GEN_AI_OPERATION_NAME: operation,
        A.GEN_AI_PROVIDER_NAME: provider or "_OTHER",
    }
    if model:
        attrs[A.GEN_AI_REQUEST_MODEL] = model
    if stream:
        attrs[A.GEN_AI_REQUEST_STREAM] = True
    for key, value in (request_params or {}).items():
        name = A.REQUEST_PARAMS.get(key)
        if name is None or value is None:
            continue
        if key == "stop":
            attrs[name] = (value,) if isinstance(value, str) else tuple(str(v) for v in value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[name] = value
    if server_address:
        attrs[A.SERVER_ADDRESS] = server_address
        if server_port:
            attrs[A.SERVER_PORT] = int(server_port)
    if run_id is not None:
        attrs[A.RUN_ID] = str(run_id)
    return attrs
