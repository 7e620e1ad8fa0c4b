"""The dialect table (``collector/dialects/``): every dialect module is in it, its order settles the spans that
carry two dialects' attributes (the same way as the single ``normalise.dialect`` function it replaced), and the
shared vocabulary's precedence decides a field that two dialects name."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import pytest
from factories import T0

import streamscope.collector.dialects as dialects_pkg
from streamscope.collector.dialects import DIALECT_KEYS, DIALECTS, NAME_PREFIXES, detect
from streamscope.collector.model import NS, Span, SpanEvent
from streamscope.collector.normalise import dialect, spans_to_batch

ROOT = Path(__file__).resolve().parents[2]
#: The package's modules that are no dialect: the table's machinery and what the dialects share.
SHARED_MODULES = {"base", "read", "chunks", "common", "derived"}


def _span(attrs: dict[str, Any], *, name: str = "chat m", events: tuple[SpanEvent, ...] = (),
          resource: dict[str, Any] | None = None) -> Span:  # fmt: skip
    return Span("a" * 32, "b" * 16, None, name, 3, T0, T0 + 2 * NS, 0, "", "svc", attrs, events,
                resource or {"service.name": "svc"}, "scope")  # fmt: skip


def _module_dialects(module: object) -> list[object]:
    return [
        v
        for v in vars(module).values()
        if hasattr(v, "detect") and hasattr(v, "extract") and not isinstance(v, type)
    ]


def test_every_dialect_module_is_in_the_table() -> None:
    names = {m.name for m in pkgutil.iter_modules(dialects_pkg.__path__)}
    assert names > SHARED_MODULES
    for name in sorted(names - SHARED_MODULES):
        module = importlib.import_module(f"streamscope.collector.dialects.{name}")
        found = _module_dialects(module)
        assert found, f"dialects/{name}.py defines no dialect"
        for d in found:
            assert any(d is t for t in DIALECTS), f"{name}.{type(d).__name__} is not in DIALECTS"
    assert len({id(d) for d in DIALECTS}) == len(DIALECTS)


def test_every_dialect_is_documented_and_needs_a_marker() -> None:
    docs = (ROOT / "docs" / "collector.md").read_text()
    for d in DIALECTS:
        assert f"| `{d.name}` |" in docs, d.name
        assert d.markers, d.name
    # the set test that turns away spans of no dialect before the table is walked
    assert {"gen_ai.operation.name", "openinference.span.kind", "langfuse.observation.type",
                            "ai.operationId", "operation.name", "llm.request.type", "gen_ai.system",
                            "gen_ai.provider.name"} == DIALECT_KEYS  # fmt: skip
    assert NAME_PREFIXES == ("ai.",)


OURS = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "m",
    "streamscope.stream.outcome": "completed",
}
OPENINFERENCE = {"openinference.span.kind": "LLM", "llm.model_name": "oi-model"}
LANGFUSE = {"langfuse.observation.type": "generation"}
VERCEL = {"ai.operationId": "ai.streamText.doStream", "ai.model.provider": "openai.chat"}
OPENLLMETRY_OLD = {"llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "m"}
GENAI = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m"}
OPENLIT_TTFT = {"gen_ai.server.time_to_first_token": 0.25}
OPENLIT_RESOURCE = {"service.name": "svc", "telemetry.sdk.name": "openlit"}
TRACELOOP = {"gen_ai.is_streaming": True}
CHUNK_EVENT = SpanEvent("gen_ai.content.completion.chunk", T0 + NS // 10, {})

#: (why, span, its dialect): spans that more than one dialect's ``detect`` accepts; the expected names are what
#: the single function before the table answered.
AMBIGUOUS = [
    ("ours over OpenInference", _span({**OURS, **OPENINFERENCE}), "streamscope"),
    ("OpenInference over Langfuse", _span({**OPENINFERENCE, **LANGFUSE}), "openinference"),
    ("Langfuse over Vercel", _span({**LANGFUSE, **VERCEL}), "langfuse"),
    ("Vercel over old OpenLLMetry", _span({**VERCEL, **OPENLLMETRY_OLD}), "vercel"),
    ("old OpenLLMetry over OpenLIT", _span({**OPENLLMETRY_OLD, **GENAI, **OPENLIT_TTFT}), "openllmetry"),
    ("OpenLIT over current OpenLLMetry", _span({**GENAI, **OPENLIT_TTFT, **TRACELOOP}), "openlit"),
    ("OpenLIT's resource over OpenLLMetry's chunk events",
     _span(GENAI, events=(CHUNK_EVENT,), resource=OPENLIT_RESOURCE), "openlit"),
    ("current OpenLLMetry over plain GenAI", _span({**GENAI, **TRACELOOP}), "openllmetry"),
    ("OpenLLMetry's chunk events over plain GenAI", _span(GENAI, events=(CHUNK_EVENT,)), "openllmetry"),
    ("old GenAI names, no operation: OpenLIT", _span({"gen_ai.system": "openai", "gen_ai.request.model": "m",
                                                      **OPENLIT_TTFT}), "openlit"),
    ("a Vercel span name beats GenAI", _span(GENAI, name="ai.streamText.doStream"), "vercel"),
]  # fmt: skip

#: Spans turned away before the table is walked, although a dialect's ``detect`` would take them.
TURNED_AWAY = [
    ("a non-inference operation with OpenInference's kind", _span({**OPENINFERENCE, "gen_ai.operation.name":
                                                                   "embeddings"})),
    ("a Vercel call by name without any marker key", _span({"llm.model_name": "x"}, name="x.doStream")),
]  # fmt: skip


@pytest.mark.parametrize(("why", "span", "expected"), AMBIGUOUS, ids=[c[0] for c in AMBIGUOUS])
def test_the_table_order_settles_spans_of_two_dialects(why: str, span: Span, expected: str) -> None:
    op = span.attributes.get("gen_ai.operation.name")
    op = op if isinstance(op, str) else None
    accepted = [d.name for d in DIALECTS if d.detect(span, op)]
    assert len(accepted) >= 2, f"not ambiguous: only {accepted}"
    assert dialect(span) == expected and accepted[0] == expected
    (stream,) = spans_to_batch([span]).streams
    assert stream.dialect == expected


def test_spans_of_no_model_call_are_turned_away_before_the_table() -> None:
    span = TURNED_AWAY[0][1]
    assert any(d.detect(span, "embeddings") for d in DIALECTS) and detect(span) is None
    assert detect(TURNED_AWAY[1][1]) is None


def test_a_field_two_dialects_name_follows_the_shared_precedence() -> None:
    """An OpenInference span that also carries GenAI names gets the GenAI model; a Langfuse span with an OpenLIT
    first-token stamp gets that stamp; only a Vercel span's provider is cut at its first dot."""
    (st,) = spans_to_batch([_span({**OPENINFERENCE, "gen_ai.request.model": "genai-model"})]).streams
    assert (st.dialect, st.model) == ("openinference", "genai-model")
    start = "2027-01-15T08:00:00.500000+00:00"
    both = _span({**LANGFUSE, "langfuse.observation.completion_start_time": start, **OPENLIT_TTFT})
    (st,) = spans_to_batch([both]).streams
    assert (st.dialect, st.ttft, st.ttft_source) == ("langfuse", 0.25, "first_chunk")
    (st,) = spans_to_batch([_span({**LANGFUSE, "langfuse.observation.completion_start_time": start})]).streams
    assert st.ttft == pytest.approx(0.5)
    (vercel,) = spans_to_batch([_span(VERCEL)]).streams
    (other,) = spans_to_batch([_span({**OPENINFERENCE, "llm.provider": "openai.chat"})]).streams
    assert (vercel.provider, other.provider) == ("openai", "openai.chat")
