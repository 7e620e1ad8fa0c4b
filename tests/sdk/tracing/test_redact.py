"""The redaction hook: ``redact=`` on ``init`` / ``capture_spans`` rewrites every piece of captured text before export.

Everything is real: the engine's fake models with the tracing handler, ``@streamscope.trace``, the raw ``openai``
client against the fake LLM server, and ``streamscope.init`` exporting over OTLP/HTTP to a real receiver. The
secrets below are split across chunks on purpose: redacting fragment by fragment would miss them.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace import StatusCode
from otlp_receiver import Receiver, attrs

import streamscope
from streamscope.engine import FakeListChatModel
from streamscope.engine.models import FakeStreamingChatModel
from streamscope.engine.tools import tool
from streamscope.testing import capture_spans
from streamscope.tracing.config import ConfigError
from streamscope.tracing.redaction import REDACTION_FAILED, SafeRedactor, redact_fragments

KEY = "sk-ABCDEFGHIJKLMNOP1234"
EMAIL = "alice.private@example.org"
KEY_RE = r"sk-[A-Za-z0-9]{16,}"
EMAIL_RE = r"[\w.+-]+@[\w-]+(\.[\w-]+)+"
REDACT = streamscope.redact_patterns(KEY_RE, EMAIL_RE)
SECRETS = (KEY, EMAIL, "EFGHIJKLMNOP", "alice.priv")

# the key and the address each arrive split over two chunks
CHUNKS = ["Your key is sk-ABCD", "EFGHIJKLMNOP1234 and", " the owner is alice.priv", "ate@example.org, bye."]
OUTPUT = "".join(CHUNKS)


def handler() -> dict[str, Any]:
    return {"callbacks": [streamscope.TracingCallbackHandler()]}


def everything(spans: Any) -> str:
    """Every attribute value, event attribute and status description of ``spans``, as one text."""
    parts = []
    for span in spans:
        parts.append(span.status.description or "")
        parts.extend(str(v) for v in (span.attributes or {}).values())
        for event in span.events:
            parts.append(event.name)
            parts.extend(str(v) for v in (event.attributes or {}).values())
    return "\n".join(parts)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def chunk_texts(spans: Any, llm: Any) -> list[str]:
    return [str((c.attributes or {}).get("streamscope.chunk.content", "")) for c in spans.chunks_of(llm)]


# -- the helper and the fragment mapping -----------------------------------------------------------------------


def test_redact_patterns_replaces_every_match_literally() -> None:
    red = streamscope.redact_patterns(KEY_RE, re.compile(EMAIL_RE), replacement=r"<\1 gone>")
    assert red(f"{KEY} / {EMAIL} / {KEY}") == r"<\1 gone> / <\1 gone> / <\1 gone>"
    assert red("nothing here") == "nothing here"
    with pytest.raises(ValueError):
        streamscope.redact_patterns()
    with pytest.raises(re.error):
        streamscope.redact_patterns("(")


@given(
    text=st.text(alphabet="ab-sk@x. ", max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=8),
    replacement=st.sampled_from(["", "#", "[REDACTED]", "**"]),
)
def test_fragments_always_partition_the_text_redacted_as_a_whole(
    text: str, cuts: list[int], replacement: str
) -> None:
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    texts = [text[a:b] for a, b in itertools.pairwise(bounds)] or [text]
    red = SafeRedactor(streamscope.redact_patterns(r"sk-a+b", replacement=replacement))
    pieces, whole, redacted = redact_fragments(red, texts)
    assert whole == text and redacted == red(text)
    assert len(pieces) == len(texts)
    assert "".join(pieces) == redacted  # consecutive slices of the redacted text: nothing it removed is left
    if len(redacted) == len(text):
        assert [len(p) for p in pieces] == [len(t) for t in texts]


def test_a_length_preserving_redactor_keeps_the_chunk_boundaries() -> None:
    mask = SafeRedactor(lambda s: re.sub(KEY_RE, lambda m: "*" * len(m.group()), s))
    pieces, _, _ = redact_fragments(mask, CHUNKS)
    assert [len(p) for p in pieces] == [len(c) for c in CHUNKS]
    assert pieces[0] == "Your key is " + "*" * 7 and pieces[1].startswith("*" * 16 + " and")


# -- engine streams --------------------------------------------------------------------------------------------


def test_secrets_in_prompt_and_chunks_reach_no_span() -> None:
    model = FakeStreamingChatModel(chunks=CHUNKS)
    with capture_spans(redact=REDACT) as spans:
        out = [c.content for c in model.stream(f"mail {EMAIL} my key {KEY}", config=handler())]
    assert "".join(out) == OUTPUT  # the user's stream is untouched
    (llm,) = spans.llm_spans()
    assert_no_secret(everything(spans))
    a = llm.attributes or {}
    prompt = json.loads(str(a["gen_ai.input.messages"]))
    assert prompt[0]["parts"][0]["content"] == "mail [REDACTED] my key [REDACTED]"
    answer = json.loads(str(a["gen_ai.output.messages"]))[0]["parts"][0]["content"]
    assert answer == "Your key is [REDACTED] and the owner is [REDACTED], bye."
    texts = chunk_texts(spans, llm)
    assert len(texts) == a["streamscope.stream.chunk_count"]
    assert "".join(texts) == answer
    # sizes and timings are those of what arrived
    sizes = [c.attributes["streamscope.chunk.size"] for c in spans.chunks_of(llm)]  # type: ignore[index]
    assert [s for s in sizes if s] == [len(c) for c in CHUNKS]


def test_redacting_fragment_by_fragment_would_have_missed_them() -> None:
    """The test above can fail: a redactor applied to each chunk on its own lets the split secrets through."""
    one_by_one = "".join(REDACT(c) for c in CHUNKS)
    assert KEY in one_by_one and "alice.priv" in one_by_one


def test_partial_output_of_an_abandoned_stream_is_redacted() -> None:
    model = FakeStreamingChatModel(chunks=[*CHUNKS, " never", " read"])
    with capture_spans(redact=REDACT) as spans:
        stream = model.stream("q", config=handler())
        got = [next(stream).content for _ in CHUNKS]
        stream.close()
    assert "".join(got) == OUTPUT
    (llm,) = spans.llm_spans()
    a = llm.attributes or {}
    assert a["streamscope.stream.outcome"] == "abandoned"
    assert (
        a["streamscope.stream.partial_output"] == "Your key is [REDACTED] and the owner is [REDACTED], bye."
    )
    assert_no_secret(everything(spans))


def test_an_errored_stream_redacts_partial_output_and_the_exception() -> None:
    error = RuntimeError(f"upstream failed after sending {KEY} to {EMAIL}")
    model = FakeStreamingChatModel(chunks=[*CHUNKS, "x"], error_at=len(CHUNKS), error=error)
    with capture_spans(redact=REDACT) as spans, pytest.raises(RuntimeError) as info:
        list(model.stream("q", config=handler()))
    assert info.value is error and KEY in str(info.value)  # the user's exception is untouched
    (llm,) = spans.llm_spans()
    assert llm.status.status_code == StatusCode.ERROR
    assert llm.status.description == "upstream failed after sending [REDACTED] to [REDACTED]"
    (event,) = [e for e in llm.events if e.name == "exception"]
    ev = dict(event.attributes or {})
    assert ev["exception.type"] == "RuntimeError"
    assert ev["exception.message"] == "upstream failed after sending [REDACTED] to [REDACTED]"
    assert "[REDACTED]" in str(ev["exception.stacktrace"]) and "Traceback" in str(ev["exception.stacktrace"])
    assert (llm.attributes or {})["streamscope.stream.partial_output"] == (
        "Your key is [REDACTED] and the owner is [REDACTED], bye."
    )
    assert_no_secret(everything(spans))


@tool
def lookup(query: str) -> str:
    """Look the owner of a key up."""
    return f"owner of {query}: {EMAIL}"


@tool
def explode(query: str) -> str:
    """Fail, quoting the input."""
    raise ValueError(f"cannot handle {query}")


def test_tool_arguments_results_and_errors_are_redacted() -> None:
    with capture_spans(redact=REDACT) as spans:
        assert lookup.invoke({"query": KEY}, config=handler()) == f"owner of {KEY}: {EMAIL}"
        with pytest.raises(ValueError, match=KEY):
            explode.invoke({"query": KEY}, config=handler())
    ok = spans.one("execute_tool lookup").attributes or {}
    assert "[REDACTED]" in str(ok["gen_ai.tool.call.arguments"])
    assert ok["gen_ai.tool.call.result"] == "owner of [REDACTED]: [REDACTED]"
    failed = spans.one("execute_tool explode")
    assert failed.status.description == "cannot handle [REDACTED]"
    assert_no_secret(everything(spans))


def test_a_traced_function_error_is_redacted() -> None:
    @streamscope.trace
    def leak() -> None:
        raise KeyError(f"no account for {EMAIL}")

    with capture_spans(redact=REDACT) as spans, pytest.raises(KeyError):
        leak()
    assert "[REDACTED]" in str(spans[0].status.description)
    assert_no_secret(everything(spans))


def test_tool_call_argument_fragments_in_chunks_are_redacted() -> None:
    model = FakeStreamingChatModel(
        chunks=["calling"], tool_calls=[{"name": "lookup", "args": {"query": KEY}}]
    )
    with capture_spans(redact=REDACT) as spans:
        list(model.stream("q", config=handler()))
    (llm,) = spans.llm_spans()
    kinds = [c.attributes["streamscope.chunk.kind"] for c in spans.chunks_of(llm)]  # type: ignore[index]
    assert "tool_call" in kinds
    assert "[REDACTED]" in "".join(chunk_texts(spans, llm))
    assert_no_secret(everything(spans))


# -- a redactor that fails -------------------------------------------------------------------------------------


def broken(text: str) -> str:
    raise RuntimeError(f"redactor bug while reading {text[:40]}")


def test_a_raising_redactor_exports_the_marker_and_the_app_is_unaffected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = FakeStreamingChatModel(chunks=CHUNKS)
    plain = [c.content for c in model.stream(f"mail {EMAIL}")]
    caplog.set_level(logging.WARNING, logger="streamscope")
    with capture_spans(redact=broken) as spans:
        out = [c.content for c in model.stream(f"mail {EMAIL}", config=handler())]
        assert lookup.invoke({"query": KEY}, config=handler()) == f"owner of {KEY}: {EMAIL}"
    assert out == plain
    (llm,) = spans.llm_spans()
    a = llm.attributes or {}
    assert json.loads(str(a["gen_ai.input.messages"]))[0]["parts"][0]["content"] == REDACTION_FAILED
    assert json.loads(str(a["gen_ai.output.messages"]))[0]["parts"][0]["content"] == REDACTION_FAILED
    texts = chunk_texts(spans, llm)
    assert [t for t in texts if t] == [REDACTION_FAILED] * len(CHUNKS)
    tool_attrs = spans.one("execute_tool lookup").attributes or {}
    assert tool_attrs["gen_ai.tool.call.arguments"] == REDACTION_FAILED
    assert tool_attrs["gen_ai.tool.call.result"] == REDACTION_FAILED
    assert_no_secret(everything(spans))
    # logged once, without the exception's message (it quotes the text)
    warnings = [r for r in caplog.records if "redact callable" in r.getMessage()]
    assert len(warnings) == 1
    assert "RuntimeError" in warnings[0].getMessage()
    assert_no_secret(warnings[0].getMessage())
    assert warnings[0].exc_info is None


def test_a_redactor_returning_a_non_string_exports_the_marker() -> None:
    with capture_spans(redact=lambda s: None) as spans:  # type: ignore[arg-type, return-value]
        list(FakeStreamingChatModel(chunks=["a", KEY]).stream("q", config=handler()))
    (llm,) = spans.llm_spans()
    assert json.loads(str((llm.attributes or {})["gen_ai.output.messages"]))[0]["parts"][0]["content"] == (
        REDACTION_FAILED
    )
    assert_no_secret(everything(spans))


# -- redact=None and identity ----------------------------------------------------------------------------------


def _content_attributes(spans: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    keys = (
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "streamscope.stream.partial_output",
        "streamscope.chunk.content",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "streamscope.chunk.size",
        "streamscope.chunk.kind",
        "streamscope.stream.outcome",
    )
    return [
        (s.name, sorted((k, str(v)) for k, v in (s.attributes or {}).items() if k in keys)) for s in spans
    ]


def _run_everything() -> None:
    list(FakeStreamingChatModel(chunks=CHUNKS).stream(f"mail {EMAIL}", config=handler()))
    stream = FakeStreamingChatModel(chunks=CHUNKS).stream("q", config=handler())
    next(stream)
    stream.close()
    lookup.invoke({"query": KEY}, config=handler())
    FakeListChatModel(responses=[OUTPUT]).invoke("hi", config=handler())


@pytest.mark.parametrize("redact", [None, lambda s: s], ids=["none", "identity"])
def test_without_redaction_or_with_an_identity_redactor_the_spans_are_as_before(redact: Any) -> None:
    with capture_spans() as before:
        _run_everything()
    with capture_spans(redact=redact) as after:
        _run_everything()
    assert _content_attributes(after) == _content_attributes(before)
    assert KEY in everything(after) and EMAIL in everything(after)


# -- raw openai, over the fake LLM server ----------------------------------------------------------------------


@pytest.fixture
def openai_client() -> Iterator[Any]:
    import openai

    from streamscope.instrumentation import instrument_openai
    from streamscope.testing.fake_llm import FakeLLMServer

    scenarios = {
        "redact-words": {"words": CHUNKS, "gap": 0.0},
        "redact-tool": {
            "tool_calls": [{"name": "lookup", "arguments": json.dumps({"key": KEY, "mail": EMAIL})}]
        },
    }
    with FakeLLMServer(scenarios, include_defaults=False) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0)
        instrument_openai(client)
        try:
            yield client
        finally:
            client.close()


def test_raw_openai_streams_are_redacted(openai_client: Any) -> None:
    with capture_spans(redact=REDACT) as spans:
        words = openai_client.chat.completions.create(
            model="redact-words", messages=[{"role": "user", "content": f"key {KEY}"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in words if c.choices)
        tools = openai_client.chat.completions.create(
            model="redact-tool", messages=[{"role": "user", "content": "who?"}], stream=True
        )
        arguments = "".join(
            c.choices[0].delta.tool_calls[0].function.arguments or ""
            for c in tools
            if c.choices and c.choices[0].delta.tool_calls
        )
    assert text == OUTPUT and KEY in arguments
    llms = spans.llm_spans()
    assert len(llms) == 2
    assert_no_secret(everything(spans))
    joined = "".join(chunk_texts(spans, llms[1]))
    assert joined.count("[REDACTED]") == 2 and '"key"' in joined


# -- init(redact=...) over OTLP/HTTP ---------------------------------------------------------------------------


def test_init_redacts_what_it_exports(openai_client: Any) -> None:
    with Receiver() as receiver:
        tracing = streamscope.init(receiver.url, instrument_engine=False, live_interval=0.01, redact=REDACT)
        try:
            stream = openai_client.chat.completions.create(
                model="redact-words", messages=[{"role": "user", "content": f"key {KEY}"}], stream=True
            )
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == OUTPUT
            assert tracing.force_flush(10)
        finally:
            tracing.shutdown()
        spans = list(receiver.spans)
    assert tracing.redaction_failures == 0
    chunks = [attrs(s) for s in spans if s.name == "streamscope.chunk"]
    assert chunks and all("streamscope.live.operation" not in c for c in chunks)  # one batch, at the end
    text = "\n".join(str(v) for s in spans for v in attrs(s).values())
    assert "[REDACTED]" in text
    assert_no_secret(text)


def test_init_rejects_a_redact_that_is_not_callable() -> None:
    with pytest.raises(ConfigError, match="redact must be a callable"):
        streamscope.init("http://127.0.0.1:9", redact="sk-.*")  # type: ignore[arg-type]


def test_init_counts_redaction_failures() -> None:
    with Receiver() as receiver:
        tracing = streamscope.init(receiver.url, instrument_engine=False, redact=broken)
        try:
            with streamscope.context():
                list(FakeStreamingChatModel(chunks=CHUNKS).stream("q", config=handler()))
            assert tracing.force_flush(10)
        finally:
            tracing.shutdown()
        spans = list(receiver.spans)
    assert tracing.redaction_failures >= 2  # the prompt, the chunks' text (and the output, reused)
    assert_no_secret("\n".join(str(v) for s in spans for v in attrs(s).values()))
