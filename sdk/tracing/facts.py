"""What a stream learned while it ran, and the finish-time helpers that turn it into span attributes.

:class:`StreamFacts` holds the usage and response facts an adapter or a chunk classifier reports; the functions
below are used by :mod:`streamscope.tracing.streams` when a stream finishes (on the export thread): the user's
tokenizer count of the output, the prompt's ``gen_ai.input.messages`` and setting the per-chunk arrays on an SDK
span without the SDK's per-element validation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import compress
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from streamscope.tracing.guard import report

__all__ = [
    "USAGE_SOURCES",
    "Classifier",
    "StreamFacts",
    "count_tokens",
    "input_messages",
    "jsonable",
    "set_valid_attributes",
]

USAGE_SOURCES = ("provider", "tokenizer", "estimate")


class StreamFacts:
    """Usage and response facts of a stream: latest report wins per field, finish reasons accumulate.

    A recorder keeps two sets: what adapters report directly (``rec.set_usage`` / ``rec.set_response``) and what
    its ``classify`` function learns from chunks. When the stream finishes the second is applied on top of the
    first, exactly as if every chunk had been classified at the end, so the result does not depend on when the
    export thread classified the chunks.
    """

    __slots__ = ("finish_reasons", "response_id", "response_model", "usage", "usage_source")

    def __init__(self) -> None:
        self.usage: dict[str, int] = {}
        self.usage_source: str | None = None
        self.response_id: str | None = None
        self.response_model: str | None = None
        self.finish_reasons: list[str] = []

    def set_usage(
        self, input_tokens: int | None = None, output_tokens: int | None = None, source: str = "provider"
    ) -> None:
        """Token usage (latest report wins per field). ``source``: provider | tokenizer | estimate."""
        if input_tokens is not None:
            self.usage["input_tokens"] = int(input_tokens)
        if output_tokens is not None:
            self.usage["output_tokens"] = int(output_tokens)
        self.usage_source = source if source in USAGE_SOURCES else "provider"

    def set_response(
        self,
        *,
        response_id: str | None = None,
        response_model: str | None = None,
        finish_reasons: Iterable[str] | None = None,
    ) -> None:
        if response_id:
            self.response_id = str(response_id)
        if response_model:
            self.response_model = str(response_model)
        for reason in finish_reasons or ():
            if reason:
                self.finish_reasons.append(str(reason))

    def update(self, later: StreamFacts) -> None:
        """Apply ``later``'s reports on top of these, as if they had been made afterwards."""
        self.usage.update(later.usage)
        if later.usage_source is not None:
            self.usage_source = later.usage_source
        if later.response_id:
            self.response_id = later.response_id
        if later.response_model:
            self.response_model = later.response_model
        self.finish_reasons.extend(later.finish_reasons)


Classifier = Callable[[Any, StreamFacts], tuple[int, str]]


def jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def count_tokens(
    counter: Callable[[str], int] | None, texts: Sequence[Any], produced: Sequence[bool]
) -> int | None:
    """The user's tokenizer count of the output text, or None (no counter, or it failed: reported once)."""
    if counter is None:
        return None
    try:
        n = counter("".join(t if type(t) is str else str(t) for t in compress(texts, produced)))
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise TypeError(f"count_tokens must return an int >= 0, not {type(n).__name__}")
        return n
    except Exception as exc:
        report("count_tokens", exc)
        return None


def input_messages(messages: Sequence[tuple[str, Any]], redact: Callable[[str], str] | None) -> str:
    """``gen_ai.input.messages`` of ``(role, content)`` pairs, each text content redacted (when ``redact``)."""
    return json.dumps(
        [
            {
                "role": role,
                "parts": [
                    {
                        "type": "text",
                        "content": redact(content)
                        if redact is not None and isinstance(content, str)
                        else content,
                    }
                ],
            }
            for role, content in messages
        ],
        ensure_ascii=False,
    )


def set_valid_attributes(span: Span, attrs: Mapping[str, AttributeValue]) -> None:
    """Set attributes whose values are already valid (tuples of one primitive type, made here) on a live SDK
    span without the SDK's per-element validation and copy, which for the per-chunk arrays costs several µs per
    chunk. The result is the same as ``span.set_attributes``, which is used whenever that cannot be assured
    (an ended or non-SDK span, a value length limit, internals that differ)."""
    try:
        lock = span._lock  # type: ignore[attr-defined]
        with lock:
            bounded = span._attributes  # type: ignore[attr-defined]
            if (
                span._end_time is None  # type: ignore[attr-defined]
                and isinstance(bounded, BoundedAttributes)
                and bounded.max_value_len is None
                and bounded.maxlen != 0
                and not bounded._immutable
            ):
                with bounded._lock:
                    for key, value in attrs.items():
                        bounded._setitem_locked(key, value)
                return
    except AttributeError:
        pass
    span.set_attributes(attrs)
