"""Issue 18 item 5 (/metrics): label values are capped; new label sets past the cap fold into ``"_other"``."""

from __future__ import annotations

import re

import httpx
from hostile import PB
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp import our_stream

from streamscope.collector.label_cap import DEFAULT_MAX_SETS, OVERFLOW, OVERFLOW_ERROR_TYPE, LabelCap


def test_two_thousand_models_do_not_grow_the_scrape(client: httpx.Client) -> None:
    at_cap = 0
    for batch in range(20):
        merged = ExportTraceServiceRequest()
        for i in range(100):
            req, _ = our_stream(1, model=f"model-{batch * 100 + i}")
            merged.resource_spans.extend(req.resource_spans)
        assert client.post("/v1/traces", content=merged.SerializeToString(), headers=PB).status_code == 200
        if (batch + 1) * 100 == DEFAULT_MAX_SETS:
            at_cap = len(client.get("/metrics").text)  # the scrape with exactly as many models as the cap
    text = client.get("/metrics").text
    models = set(re.findall(r'model="([^"]*)"', text))
    assert len(models) == DEFAULT_MAX_SETS + 1 and OVERFLOW in models
    outcomes = [line for line in text.splitlines() if line.startswith("streamscope_stream_outcomes_total{")]
    total = sum(float(line.split()[-1]) for line in outcomes)
    assert total == 2000  # folded, not dropped: every stream is still counted
    # past the cap only the one overflow label set is added (about 1/200 of the scrape), whatever the models
    assert at_cap and len(text) < 1.05 * at_cap, (len(text), at_cap)


def test_the_cap_keeps_shown_series_and_folds_in_two_steps() -> None:
    cap = LabelCap(max_sets=4, max_error_types=2)
    first = [("svc", "p", f"m{i}", "chat") for i in range(4)]
    assert [cap.stream(x) for x in first] == first
    assert cap.stream(("svc", "p", "m9", "chat")) == ("svc", "p", OVERFLOW, "chat")
    assert cap.stream(first[2]) == first[2]  # a series once shown keeps its labels
    assert cap.stream(("other-svc", "p", "m9", "chat")) == (OVERFLOW,) * 4  # folded sets are capped too
    assert [cap.error_type(e) for e in ("A", "B", "C", "A")] == ["A", "B", OVERFLOW_ERROR_TYPE, "A"]
