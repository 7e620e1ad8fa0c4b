"""astream_log: JSON Patch ops, RunLogPatch + RunLogPatch -> RunLog, cumulative mode."""

from __future__ import annotations

import asyncio
from typing import Any

from streamscope.engine import (
    ChatPromptTemplate,
    FakeListChatModel,
    HumanMessage,
    RunLog,
    RunLogPatch,
    StrOutputParser,
)
from streamscope.engine.jsonpatch import apply_patch


def patches(runnable: Any, value: Any, **kwargs: Any) -> list[Any]:
    async def run() -> list[Any]:
        return [p async for p in runnable.astream_log(value, **kwargs)]

    return asyncio.run(run())


def chain() -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "be brief"), ("human", "{q}")])
    return prompt | FakeListChatModel(responses=["ab"]) | StrOutputParser()


def test_ops_and_final_state() -> None:
    out = patches(chain(), {"q": "hi"})
    assert all(isinstance(p, RunLogPatch) for p in out)
    first = out[0].ops[0]
    assert first["op"] == "replace" and first["path"] == ""
    assert first["value"]["name"] == "RunnableSequence" and first["value"]["logs"] == {}
    paths = [op["path"] for p in out for op in p.ops]
    assert "/logs/ChatPromptTemplate" in paths and "/logs/FakeListChatModel/streamed_output_str/-" in paths
    assert "/streamed_output/-" in paths and "/final_output" in paths
    total = out[0]
    for p in out[1:]:
        total = total + p
    assert isinstance(total, RunLog)
    state = total.state
    assert state["final_output"] == "ab" and state["streamed_output"] == ["a", "b"]
    assert set(state["logs"]) == {"ChatPromptTemplate", "FakeListChatModel", "StrOutputParser"}
    model_log = state["logs"]["FakeListChatModel"]
    assert model_log["streamed_output_str"] == ["a", "b"] and model_log["final_output"].content == "ab"
    assert model_log["end_time"] is not None and model_log["type"] == "chat_model"
    assert state["logs"]["StrOutputParser"]["final_output"] == "ab"


def test_cumulative_mode_yields_run_logs() -> None:
    out = patches(chain(), {"q": "hi"}, diff=False)
    assert all(isinstance(p, RunLog) for p in out)
    assert out[-1].state["final_output"] == "ab"
    assert len(out[-1].ops) == sum(1 for _ in out[-1].ops)


def test_repeated_names_get_numbered_keys_and_filters() -> None:
    model = FakeListChatModel(responses=["x"])
    out = patches(model | model, [HumanMessage("hi")])
    state = out[0]
    for p in out[1:]:
        state = state + p
    assert set(state.state["logs"]) == {"FakeListChatModel", "FakeListChatModel:2"}
    only_models = patches(chain(), {"q": "hi"}, include_types=["chat_model"])
    keys = {op["path"].split("/")[2] for p in only_models for op in p.ops if op["path"].startswith("/logs/")}
    assert keys == {"FakeListChatModel"}


def test_apply_patch_subset() -> None:
    doc = apply_patch(None, [{"op": "replace", "path": "", "value": {"a": [], "b~/c": 1}}])
    apply_patch(
        doc,
        [
            {"op": "add", "path": "/a/-", "value": 1},
            {"op": "add", "path": "/a/0", "value": 0},
            {"op": "replace", "path": "/b~0~1c", "value": 2},
        ],
    )
    assert doc == {"a": [0, 1], "b~/c": 2}
