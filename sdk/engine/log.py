"""``astream_log``: the run's state as JSON Patch operations (``RunLogPatch``) or snapshots (``RunLog``).

State: ``{"id", "name", "type", "streamed_output": [...], "final_output": <fold so far>, "logs": {key: entry}}``
where each log entry is ``{"id", "name", "type", "tags", "metadata", "start_time", "streamed_output",
"streamed_output_str", "final_output", "end_time"}`` keyed by run name (``name:2``, ``name:3`` for repeats).
A model entry's ``final_output`` is its aggregated message; failed runs also get ``error`` (our addition).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from streamscope.engine.config import RunnableConfig
from streamscope.engine.events import EventStreamHandler, _Filter, stream_handler_events
from streamscope.engine.jsonpatch import apply_patch, make_patch
from streamscope.engine.runnables.utils import add

if TYPE_CHECKING:
    from streamscope.engine.runnables.base import Runnable

__all__ = ["RunLog", "RunLogPatch", "astream_log"]


class RunLogPatch:
    """A batch of JSON Patch ``ops``; ``patch + patch`` gives a :class:`RunLog` with the applied state."""

    def __init__(self, *ops: dict[str, Any]) -> None:
        self.ops = list(ops)

    def __add__(self, other: Any) -> RunLog:
        if not isinstance(other, RunLogPatch):
            return NotImplemented
        ops = self.ops + other.ops
        return RunLog(*ops, state=apply_patch(None, copy.deepcopy(ops)))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, RunLogPatch) and other.ops == self.ops

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RunLogPatch({', '.join(repr(o) for o in self.ops)})"


class RunLog(RunLogPatch):
    """The ops so far and the ``state`` they build."""

    def __init__(self, *ops: dict[str, Any], state: Any) -> None:
        super().__init__(*ops)
        self.state = state

    def __add__(self, other: Any) -> RunLog:
        if not isinstance(other, RunLogPatch):
            return NotImplemented
        state = apply_patch(copy.deepcopy(self.state), other.ops)
        return RunLog(*self.ops, *other.ops, state=state)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunLog) and other.ops == self.ops and other.state == self.state

    __hash__ = None

    def __repr__(self) -> str:
        return f"RunLog({self.state!r})"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class _LogBuilder:
    def __init__(self, root_run_id: str, with_streamed_output_list: bool) -> None:
        self.root = root_run_id
        self.with_list = with_streamed_output_list
        self.keys: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.final: Any = None

    def ops(self, event: dict[str, Any], keep: bool) -> list[dict[str, Any]]:
        kind = event["event"]
        run_id = event["run_id"]
        if kind == "on_custom_event":
            return []
        suffix = kind.rsplit("_", 1)[-1]
        run_type = kind[3 : -len(suffix) - 1]
        if run_id == self.root:
            return self._root(suffix, run_type, event)
        if suffix == "start":
            if not keep:
                return []
            count = self.counts.get(event["name"], 0) + 1
            self.counts[event["name"]] = count
            key = event["name"] if count == 1 else f"{event['name']}:{count}"
            self.keys[run_id] = key
            entry = {
                "id": run_id,
                "name": event["name"],
                "type": run_type,
                "tags": event["tags"],
                "metadata": event["metadata"],
                "start_time": _now(),
                "streamed_output": [],
                "streamed_output_str": [],
                "final_output": None,
                "end_time": None,
            }
            return [{"op": "add", "path": f"/logs/{_escape(key)}", "value": entry}]
        key = self.keys.get(run_id)
        if key is None:
            return []
        base = f"/logs/{_escape(key)}"
        data = event["data"]
        if suffix == "stream":
            chunk = data.get("chunk")
            ops = []
            if run_type in ("chat_model", "llm"):
                text = (
                    getattr(chunk, "content", None)
                    if run_type == "chat_model"
                    else getattr(chunk, "text", None)
                )
                ops.append(
                    {
                        "op": "add",
                        "path": f"{base}/streamed_output_str/-",
                        "value": text if isinstance(text, str) else "",
                    }
                )
            ops.append({"op": "add", "path": f"{base}/streamed_output/-", "value": chunk})
            return ops
        ops = [{"op": "add", "path": f"{base}/final_output", "value": data.get("output")}]
        if suffix == "error":
            ops = [{"op": "add", "path": f"{base}/error", "value": repr(data.get("error"))}]
        ops.append({"op": "add", "path": f"{base}/end_time", "value": _now()})
        return ops

    def _root(self, suffix: str, run_type: str, event: dict[str, Any]) -> list[dict[str, Any]]:
        if suffix == "start":
            state = {
                "id": event["run_id"],
                "streamed_output": [],
                "final_output": None,
                "logs": {},
                "name": event["name"],
                "type": run_type,
            }
            return [{"op": "replace", "path": "", "value": state}]
        if suffix == "stream":
            chunk = event["data"].get("chunk")
            previous = self.final
            self.final = add(previous, chunk)
            if previous is None or self.final is chunk:  # the first chunk, or one that could not be added
                ops = [{"op": "replace", "path": "/final_output", "value": self.final}]
            else:  # as LangChain: only what changed in the folded output
                ops = make_patch(_plain(previous), _plain(self.final), "/final_output")
            if self.with_list:
                ops.insert(0, {"op": "add", "path": "/streamed_output/-", "value": chunk})
            return ops
        return []


def _plain(value: Any) -> Any:
    """Dicts and lists as plain containers (for diffing: an ``AddableDict`` and a ``dict`` are the same JSON)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


async def astream_log(
    runnable: Runnable[Any, Any],
    input: Any,
    config: RunnableConfig | None = None,
    *,
    diff: bool = True,
    with_streamed_output_list: bool = True,
    include_names: Sequence[str] | None = None,
    include_types: Sequence[str] | None = None,
    include_tags: Sequence[str] | None = None,
    exclude_names: Sequence[str] | None = None,
    exclude_types: Sequence[str] | None = None,
    exclude_tags: Sequence[str] | None = None,
    **kwargs: Any,
) -> AsyncIterator[RunLogPatch | RunLog]:
    keep = _Filter(include_names, include_types, include_tags, exclude_names, exclude_types, exclude_tags)
    builder: _LogBuilder | None = None
    state: RunLog | None = None

    def make(emit: Any, run_id: Any) -> EventStreamHandler:
        nonlocal builder
        builder = _LogBuilder(str(run_id), with_streamed_output_list)
        return EventStreamHandler(emit, run_id, input)

    stream = stream_handler_events(runnable, input, config, kwargs, make)
    try:
        async for event, run_type in stream:
            assert builder is not None
            ops = builder.ops(event, keep(event, run_type))
            if not ops:
                continue
            patch = RunLogPatch(*ops)
            if diff:
                yield patch
            else:
                state = (
                    RunLog(*ops, state=apply_patch(None, copy.deepcopy(ops)))
                    if state is None
                    else state + patch
                )
                yield state
    finally:
        await stream.aclose()
