"""``AgentExecutor``: run an agent's plan → act → observe loop, streaming each decision as it happens.

``stream``/``astream`` yield ``{"actions": [AgentAction], "messages": [...]}`` when the agent picks a tool,
``{"steps": [AgentStep], "messages": [...]}`` when the tool returns, and finally ``{"output": ..., "messages":
[...]}`` (plus ``intermediate_steps`` when asked). The agent runnable itself is streamed, so its model's tokens
reach ``on_llm_new_token`` and ``astream_events`` while it decides. Callbacks follow LangChain: chain start
(executor) → chain start (agent) ... chain end → ``on_agent_action`` → ``on_tool_start/end`` → ... →
``on_agent_finish`` → chain end (executor). The executor's run ends exactly once like every run: completed,
abandoned (consumer stopped reading), cancelled or error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Sequence
from typing import Any

from streamscope.engine.agents.schema import AgentAction, AgentFinish, AgentStep
from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig, ensure_config, patch_config
from streamscope.engine.parsers import OutputParserException
from streamscope.engine.runnables.base import Runnable, abandon_reason, close_reason, coerce_to_runnable
from streamscope.engine.runnables.utils import AddableDict, fold
from streamscope.engine.tools import BaseTool

__all__ = ["AgentExecutor"]

Decision = AgentFinish | list[AgentAction]
STOPPED = "Agent stopped due to iteration limit or time limit."


class AgentExecutor(Runnable[Any, dict[str, Any]]):
    """Drive ``agent`` (a runnable: inputs + ``intermediate_steps`` → action(s) or finish) with ``tools``."""

    name = "AgentExecutor"

    def __init__(
        self,
        agent: Any,
        tools: Sequence[BaseTool],
        *,
        return_intermediate_steps: bool = False,
        max_iterations: int | None = 15,
        max_execution_time: float | None = None,
        early_stopping_method: str = "force",
        handle_parsing_errors: bool | str | Callable[[OutputParserException], str] = False,
        verbose: bool = False,
        callbacks: Any = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        input_key: str = "input",
    ) -> None:
        if early_stopping_method != "force":
            raise ValueError("Only early_stopping_method='force' is supported.")
        self.agent: Runnable[Any, Any] = coerce_to_runnable(agent)
        self.tools = list(tools)
        self.name_to_tool = {t.name: t for t in self.tools}
        self.return_intermediate_steps = return_intermediate_steps
        self.max_iterations = max_iterations
        self.max_execution_time = max_execution_time
        self.handle_parsing_errors = handle_parsing_errors
        self.verbose = verbose
        self.callbacks = callbacks
        self.tags = tags
        self.metadata = metadata
        self.input_key = input_key

    @classmethod
    def from_agent_and_tools(cls, agent: Any, tools: Sequence[BaseTool], **kwargs: Any) -> AgentExecutor:
        return cls(agent, tools, **kwargs)

    # -- inputs and run plumbing --------------------------------------------------------------------------
    def _inputs(self, input: Any) -> dict[str, Any]:
        if isinstance(input, dict):
            return dict(input)
        return {self.input_key: input}

    def _config(self, config: RunnableConfig | None) -> RunnableConfig:
        cfg = ensure_config(config)
        if self.callbacks is not None:
            cfg["callbacks"] = self.callbacks if cfg.get("callbacks") is None else cfg["callbacks"]
            if cfg["callbacks"] is not self.callbacks and isinstance(cfg["callbacks"], list):
                cfg["callbacks"] = [*cfg["callbacks"], *self.callbacks]
        if self.tags:
            cfg["tags"] = [*cfg.get("tags", []), *self.tags]
        if self.metadata:
            cfg["metadata"] = {**cfg.get("metadata", {}), **self.metadata}
        return cfg

    def _should_continue(self, iterations: int, started: float) -> bool:
        if self.max_iterations is not None and iterations >= self.max_iterations:
            return False
        return self.max_execution_time is None or time.monotonic() - started < self.max_execution_time

    def _parsing_error_observation(self, exc: OutputParserException) -> str:
        handler = self.handle_parsing_errors
        if handler is False:
            raise exc
        if handler is True:
            observation = getattr(exc, "observation", None)
            return (
                str(observation) if getattr(exc, "send_to_llm", False) else "Invalid or incomplete response"
            )
        if isinstance(handler, str):
            return handler
        return handler(exc)

    @staticmethod
    def _as_decision(output: Any) -> Decision:
        if isinstance(output, AgentFinish):
            return output
        if isinstance(output, AgentAction):
            return [output]
        if isinstance(output, list) and all(isinstance(a, AgentAction) for a in output):
            return output
        raise TypeError(
            f"The agent returned {type(output).__name__}; expected AgentAction(s) or AgentFinish."
        )

    def _finish_chunk(self, finish: AgentFinish, steps: list[AgentStep]) -> AddableDict:
        out = AddableDict(finish.return_values)
        if self.return_intermediate_steps:
            out["intermediate_steps"] = [(s.action, s.observation) for s in steps]
        out["messages"] = finish.messages
        return out

    def _invalid_tool(self, action: AgentAction) -> str:
        names = ", ".join(self.name_to_tool)
        return f"{action.tool} is not a valid tool, try one of [{names}]."

    # -- sync -----------------------------------------------------------------------------------------------
    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[AddableDict]:
        inputs = self._inputs(input)
        cfg = self._config(config)
        rm = self._start_run(cfg, inputs)
        produced: list[AddableDict] = []
        loop = self._loop(inputs, rm, cfg)
        try:
            for chunk in loop:
                produced.append(chunk)
                yield chunk
        except GeneratorExit:
            loop.close()
            rm.on_chain_end(fold(produced), inputs=inputs, reason=close_reason())
            raise
        except BaseException as exc:
            rm.on_chain_error(exc, inputs=inputs)
            raise
        rm.on_chain_end(self._final(inputs, produced), inputs=inputs)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        inputs = self._inputs(input)
        chunks = list(self.stream(input, config, **kwargs))
        return self._final(inputs, chunks)

    def _final(self, inputs: dict[str, Any], chunks: list[AddableDict]) -> dict[str, Any]:
        last = chunks[-1] if chunks else AddableDict()
        out = {**inputs, **{k: v for k, v in last.items() if k != "messages"}}
        return out

    def _plan(
        self, inputs: dict[str, Any], steps: list[AgentStep], rm: RunManager, cfg: RunnableConfig
    ) -> Any:
        child = patch_config(cfg, callbacks=rm.get_child())
        agent_input = {**inputs, "intermediate_steps": [(s.action, s.observation) for s in steps]}
        return fold(list(self.agent.stream(agent_input, child)))

    def _loop(
        self, inputs: dict[str, Any], rm: RunManager, cfg: RunnableConfig
    ) -> Generator[AddableDict, None, None]:
        steps: list[AgentStep] = []
        iterations = 0
        started = time.monotonic()
        while self._should_continue(iterations, started):
            try:
                decision = self._as_decision(self._plan(inputs, steps, rm, cfg))
            except OutputParserException as exc:
                observation = self._parsing_error_observation(exc)
                action = AgentAction("_Exception", observation, getattr(exc, "llm_output", None) or str(exc))
                rm.on_agent_action(action)
                yield AddableDict(actions=[action], messages=action.messages)
                step = AgentStep(action, observation)
                steps.append(step)
                yield AddableDict(steps=[step], messages=step.messages)
                iterations += 1
                continue
            if isinstance(decision, AgentFinish):
                rm.on_agent_finish(decision)
                yield self._finish_chunk(decision, steps)
                return
            for action in decision:
                rm.on_agent_action(action)
                yield AddableDict(actions=[action], messages=action.messages)
            for action in decision:
                step = AgentStep(action, self._act(action, rm, cfg))
                steps.append(step)
                yield AddableDict(steps=[step], messages=step.messages)
            direct = self._return_direct(decision, steps)
            if direct is not None:
                rm.on_agent_finish(direct)
                yield self._finish_chunk(direct, steps)
                return
            iterations += 1
        stopped = AgentFinish({"output": STOPPED}, "")
        rm.on_agent_finish(stopped)
        yield self._finish_chunk(stopped, steps)

    def _act(self, action: AgentAction, rm: RunManager, cfg: RunnableConfig) -> Any:
        tool = self.name_to_tool.get(action.tool)
        if tool is None:
            return self._invalid_tool(action)
        child = patch_config(cfg, callbacks=rm.get_child())
        return tool.invoke(action.tool_input, child, tool_call_id=getattr(action, "tool_call_id", None))

    def _return_direct(self, decision: list[AgentAction], steps: list[AgentStep]) -> AgentFinish | None:
        if len(decision) != 1:
            return None
        tool = self.name_to_tool.get(decision[0].tool)
        if tool is None or not tool.return_direct:
            return None
        return AgentFinish({"output": steps[-1].observation}, "")

    # -- async ----------------------------------------------------------------------------------------------
    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[AddableDict]:
        inputs = self._inputs(input)
        cfg = self._config(config)
        rm = await self._astart_run(cfg, inputs)
        produced: list[AddableDict] = []
        loop = self._aloop(inputs, rm, cfg)
        try:
            async for chunk in loop:
                produced.append(chunk)
                yield chunk
        except GeneratorExit:
            reason = abandon_reason()
            await loop.aclose()
            if reason == "cancelled":
                await rm.aon_chain_error(asyncio.CancelledError(), inputs=inputs, reason=reason)
            else:
                await rm.aon_chain_end(fold(produced), inputs=inputs, reason=reason)
            raise
        except BaseException as exc:
            await rm.aon_chain_error(exc, inputs=inputs)
            raise
        await rm.aon_chain_end(self._final(inputs, produced), inputs=inputs)

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        inputs = self._inputs(input)
        chunks = [c async for c in self.astream(input, config, **kwargs)]
        return self._final(inputs, chunks)

    async def _aplan(
        self, inputs: dict[str, Any], steps: list[AgentStep], rm: RunManager, cfg: RunnableConfig
    ) -> Any:
        child = patch_config(cfg, callbacks=rm.get_child())
        agent_input = {**inputs, "intermediate_steps": [(s.action, s.observation) for s in steps]}
        return fold([c async for c in self.agent.astream(agent_input, child)])

    async def _aloop(
        self, inputs: dict[str, Any], rm: RunManager, cfg: RunnableConfig
    ) -> AsyncGenerator[AddableDict, None]:
        steps: list[AgentStep] = []
        iterations = 0
        started = time.monotonic()
        while self._should_continue(iterations, started):
            try:
                decision = self._as_decision(await self._aplan(inputs, steps, rm, cfg))
            except OutputParserException as exc:
                observation = self._parsing_error_observation(exc)
                action = AgentAction("_Exception", observation, getattr(exc, "llm_output", None) or str(exc))
                await rm.aon_agent_action(action)
                yield AddableDict(actions=[action], messages=action.messages)
                step = AgentStep(action, observation)
                steps.append(step)
                yield AddableDict(steps=[step], messages=step.messages)
                iterations += 1
                continue
            if isinstance(decision, AgentFinish):
                await rm.aon_agent_finish(decision)
                yield self._finish_chunk(decision, steps)
                return
            for action in decision:
                await rm.aon_agent_action(action)
                yield AddableDict(actions=[action], messages=action.messages)
            for action in decision:
                step = AgentStep(action, await self._aact(action, rm, cfg))
                steps.append(step)
                yield AddableDict(steps=[step], messages=step.messages)
            direct = self._return_direct(decision, steps)
            if direct is not None:
                await rm.aon_agent_finish(direct)
                yield self._finish_chunk(direct, steps)
                return
            iterations += 1
        stopped = AgentFinish({"output": STOPPED}, "")
        await rm.aon_agent_finish(stopped)
        yield self._finish_chunk(stopped, steps)

    async def _aact(self, action: AgentAction, rm: RunManager, cfg: RunnableConfig) -> Any:
        tool = self.name_to_tool.get(action.tool)
        if tool is None:
            return self._invalid_tool(action)
        child = patch_config(cfg, callbacks=rm.get_child())
        return await tool.ainvoke(
            action.tool_input, child, tool_call_id=getattr(action, "tool_call_id", None)
        )
