"""Tools: ``@tool``, ``StructuredTool`` and ``Tool``, with an argument schema read from the signature.

A tool is a runnable whose runs report ``on_tool_start`` / ``on_tool_end`` / ``on_tool_error``. Its input is a
string (single-argument tools), a dict of arguments, or a tool call (``{"name", "args", "id", "type":
"tool_call"}``, as found in ``AIMessage.tool_calls``); a tool call gives back a :class:`ToolMessage` linked by
``tool_call_id``. Arguments are checked against the JSON schema before the function runs, and a bad argument
raises :class:`ToolArgumentError` naming it. :class:`ToolException` is the error a tool raises on purpose:
with ``handle_tool_error`` set it becomes the observation instead of an exception.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Union, cast, get_args, get_origin, overload

from streamscope.engine.callbacks.manager import CallbackManager, RunManager
from streamscope.engine.config import RunnableConfig, child_config_var, ensure_config, patch_config
from streamscope.engine.messages import ToolMessage
from streamscope.engine.runnables.base import Runnable

__all__ = [
    "BaseTool",
    "StructuredTool",
    "Tool",
    "ToolArgumentError",
    "ToolException",
    "convert_to_openai_tool",
    "tool",
]

_INJECTED = frozenset({"config", "callbacks", "run_manager"})


class ToolException(Exception):
    """Raised by a tool to report a failure the agent may see as an observation (``handle_tool_error``)."""


class ToolArgumentError(ValueError):
    """The arguments given to a tool do not match its schema."""


# -- schema from a signature ---------------------------------------------------------------------------------
def _json_type(annotation: Any) -> dict[str, Any]:
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (Union, types.UnionType):
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) == 1:
            return _json_type(non_null[0])
        return {"anyOf": [_json_type(a) for a in non_null]}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (list, tuple, set, frozenset, typing.Sequence) or annotation in (list, tuple, set):
        out: dict[str, Any] = {"type": "array"}
        if args and args[0] is not Ellipsis:
            out["items"] = _json_type(args[0])
        return out
    if origin in (dict, typing.Mapping) or annotation is dict:
        return {"type": "object"}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
    if annotation in simple:
        return {"type": simple[annotation]}
    return {}


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The description (text before ``Args:``) and Google-style per-argument descriptions."""
    doc = inspect.cleandoc(doc or "")
    parts = re.split(r"^\s*(?:Args|Arguments|Parameters):\s*$", doc, maxsplit=1, flags=re.MULTILINE)
    description = parts[0].strip()
    params: dict[str, str] = {}
    if len(parts) == 2:
        current: str | None = None
        for line in parts[1].splitlines():
            if re.match(r"^\s*(Returns|Raises|Yields|Examples?):\s*$", line):
                break
            match = re.match(r"^\s+(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$", line)
            if match:
                current = match.group(1)
                params[current] = match.group(2).strip()
            elif current and line.strip():
                params[current] = (params[current] + " " + line.strip()).strip()
    return description, params


def schema_from_function(func: Callable[..., Any], name: str) -> dict[str, Any]:
    """A JSON schema (``type: object``) for ``func``'s parameters, descriptions from its docstring."""
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable forward references: fall back to raw annotations
        hints = {}
    _, docs = _parse_docstring(func.__doc__ or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in signature.parameters.values():
        if param.name in _INJECTED or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        prop = _json_type(hints.get(param.name, param.annotation))
        prop = {"title": param.name.replace("_", " ").title(), **prop}
        if param.name in docs:
            prop["description"] = docs[param.name]
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
        elif param.default is None or isinstance(param.default, (str, int, float, bool)):
            prop["default"] = param.default
        properties[param.name] = prop
    schema: dict[str, Any] = {"title": name, "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


def _check(value: Any, schema: Mapping[str, Any]) -> bool:
    if "anyOf" in schema:
        return any(_check(value, s) for s in schema["anyOf"])
    if "enum" in schema and value not in schema["enum"]:
        return False
    kind = schema.get("type")
    if kind is None:
        return True
    allowed = _PY_TYPES.get(kind, (object,))
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, allowed)


def _describe(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_describe(s) for s in schema["anyOf"])
    return f"of type {schema.get('type', 'any')}"


# -- tools --------------------------------------------------------------------------------------------------
class BaseTool(Runnable[Any, Any]):
    """A named, described function an agent can call. Subclasses implement ``_run`` (and ``_arun``)."""

    run_type = "tool"
    name: str

    def __init__(
        self,
        *,
        name: str,
        description: str = "",
        args_schema: Mapping[str, Any] | None = None,
        return_direct: bool = False,
        handle_tool_error: bool | str | Callable[[ToolException], str] = False,
        callbacks: Any = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.args_schema: dict[str, Any] = dict(args_schema or {"type": "object", "properties": {}})
        self.return_direct = return_direct
        self.handle_tool_error = handle_tool_error
        self.callbacks = callbacks
        self.tags = tags
        self.metadata = metadata

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    # -- schema ---------------------------------------------------------------------------------------------
    @property
    def args(self) -> dict[str, Any]:
        """The argument properties (``{name: json schema}``)."""
        return dict(self.args_schema.get("properties", {}))

    def to_openai_tool(self) -> dict[str, Any]:
        """The tool in OpenAI's ``tools=[...]`` format."""
        parameters = {k: v for k, v in self.args_schema.items() if k != "title"}
        parameters.setdefault("type", "object")
        parameters.setdefault("properties", {})
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }

    def _parse_input(self, tool_input: Any) -> dict[str, Any]:
        """Validate ``tool_input`` (string or dict) into keyword arguments for ``_run``."""
        props = self.args
        if isinstance(tool_input, str):
            if len(props) != 1:
                raise ToolArgumentError(
                    f"Tool {self.name!r} takes {len(props)} arguments; pass a dict, not a string."
                )
            tool_input = {next(iter(props)): tool_input}
        if not isinstance(tool_input, Mapping):
            raise ToolArgumentError(
                f"Tool {self.name!r} expects a dict of arguments, got {type(tool_input).__name__}."
            )
        for key in self.args_schema.get("required", []):
            if key not in tool_input:
                raise ToolArgumentError(f"Tool {self.name!r} is missing required argument {key!r}.")
        for key, value in tool_input.items():
            if key not in props:
                if self.args_schema.get("additionalProperties", False) is False and props:
                    raise ToolArgumentError(f"Tool {self.name!r} got an unexpected argument {key!r}.")
                continue
            if not _check(value, props[key]):
                raise ToolArgumentError(
                    f"Tool {self.name!r} argument {key!r} must be {_describe(props[key])}, got {value!r}."
                )
        return dict(tool_input)

    # -- running ----------------------------------------------------------------------------------------------
    def _run(self, *args: Any, config: RunnableConfig, run_manager: RunManager, **kwargs: Any) -> Any:
        raise NotImplementedError(f"Tool {self.name!r} has no sync implementation; use ainvoke.")

    async def _arun(self, *args: Any, config: RunnableConfig, run_manager: RunManager, **kwargs: Any) -> Any:
        ctx = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, lambda: ctx.run(self._run, config=config, run_manager=run_manager, **kwargs)
        )

    @staticmethod
    def _split_call(input: Any) -> tuple[Any, str | None]:
        if isinstance(input, Mapping) and input.get("type") == "tool_call" and "args" in input:
            return input["args"], cast("str | None", input.get("id"))
        return input, None

    def _manager(self, config: RunnableConfig) -> CallbackManager:
        return CallbackManager.configure(
            config.get("callbacks"),
            self.callbacks,
            inheritable_tags=config.get("tags"),
            local_tags=self.tags,
            inheritable_metadata=config.get("metadata"),
            local_metadata=self.metadata,
        )

    def _start_kwargs(self, config: RunnableConfig, tool_input: Any, call_id: str | None) -> dict[str, Any]:
        return {
            "run_id": config.pop("run_id", None),
            "name": config.get("run_name") or self.name,
            "inputs": dict(tool_input) if isinstance(tool_input, Mapping) else None,
            "tool_call_id": call_id,
        }

    def _handled(self, exc: ToolException) -> str | None:
        handler = self.handle_tool_error
        if handler is False:
            return None
        if handler is True:
            return str(exc) or "Tool execution error"
        if isinstance(handler, str):
            return handler
        return handler(exc)

    def _wrap(self, output: Any, call_id: str | None, status: str = "success") -> Any:
        if call_id is None:
            return output
        if isinstance(output, ToolMessage):
            return output
        content = output if isinstance(output, (str, list)) else _stringify(output)
        return ToolMessage(content, tool_call_id=call_id, name=self.name, status=status)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run the tool. ``tool_call_id=`` (keyword) labels the run for callbacks without wrapping the output
        in a ``ToolMessage`` (what ``AgentExecutor`` uses)."""
        tool_input, call_id = self._split_call(input)
        wrap = call_id is not None
        call_id = call_id or kwargs.get("tool_call_id")
        cfg = ensure_config(config)
        rm = self._manager(cfg).on_tool_start(
            {"name": self.name, "description": self.description},
            tool_input if isinstance(tool_input, str) else _stringify(tool_input),
            **self._start_kwargs(cfg, tool_input, call_id),
        )
        child = patch_config(cfg, callbacks=rm.get_child())
        token = child_config_var.set(child)
        status = "success"
        try:
            arguments = self._parse_input(tool_input)
            output = self._run(config=child, run_manager=rm, **arguments)
        except ToolException as exc:
            handled = self._handled(exc)
            if handled is None:
                rm.on_tool_error(exc, tool_call_id=call_id, name=self.name)
                raise
            output, status = handled, "error"
        except BaseException as exc:
            rm.on_tool_error(exc, tool_call_id=call_id, name=self.name)
            raise
        finally:
            child_config_var.reset(token)
        result = self._wrap(output, call_id if wrap else None, status)
        rm.on_tool_end(result, name=self.name)
        return result

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        tool_input, call_id = self._split_call(input)
        wrap = call_id is not None
        call_id = call_id or kwargs.get("tool_call_id")
        cfg = ensure_config(config)
        rm = await self._manager(cfg).aon_tool_start(
            {"name": self.name, "description": self.description},
            tool_input if isinstance(tool_input, str) else _stringify(tool_input),
            **self._start_kwargs(cfg, tool_input, call_id),
        )
        child = patch_config(cfg, callbacks=rm.get_child())
        token = child_config_var.set(child)
        status = "success"
        try:
            arguments = self._parse_input(tool_input)
            output = await self._arun(config=child, run_manager=rm, **arguments)
        except ToolException as exc:
            handled = self._handled(exc)
            if handled is None:
                await rm.aon_tool_error(exc, tool_call_id=call_id, name=self.name)
                raise
            output, status = handled, "error"
        except BaseException as exc:
            await rm.aon_tool_error(exc, tool_call_id=call_id, name=self.name)
            raise
        finally:
            child_config_var.reset(token)
        result = self._wrap(output, call_id if wrap else None, status)
        await rm.aon_tool_end(result, name=self.name)
        return result

    def run(self, tool_input: Any, callbacks: Any = None, **kwargs: Any) -> Any:
        """LangChain's older entry point: ``invoke`` with ``callbacks``."""
        return self.invoke(tool_input, {"callbacks": callbacks} if callbacks is not None else None)

    async def arun(self, tool_input: Any, callbacks: Any = None, **kwargs: Any) -> Any:
        return await self.ainvoke(tool_input, {"callbacks": callbacks} if callbacks is not None else None)


def _stringify(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


class StructuredTool(BaseTool):
    """A tool around a function (and/or a coroutine function) taking keyword arguments."""

    def __init__(
        self,
        *,
        name: str,
        description: str = "",
        func: Callable[..., Any] | None = None,
        coroutine: Callable[..., Awaitable[Any]] | None = None,
        args_schema: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if func is None and coroutine is None:
            raise ValueError("A StructuredTool needs func, coroutine or both.")
        super().__init__(name=name, description=description, args_schema=args_schema, **kwargs)
        self.func = func
        self.coroutine = coroutine
        target = func or coroutine
        assert target is not None
        self._injected = {p for p in inspect.signature(target).parameters if p in _INJECTED}

    @classmethod
    def from_function(
        cls,
        func: Callable[..., Any] | None = None,
        coroutine: Callable[..., Awaitable[Any]] | None = None,
        name: str | None = None,
        description: str | None = None,
        return_direct: bool = False,
        args_schema: Mapping[str, Any] | None = None,
        infer_schema: bool = True,
        **kwargs: Any,
    ) -> StructuredTool:
        source = func or coroutine
        if source is None:
            raise ValueError("from_function needs func or coroutine.")
        tool_name = name or source.__name__
        doc_description, _ = _parse_docstring(source.__doc__ or "")
        if description is None and not doc_description:
            raise ValueError(
                f"Tool {tool_name!r} needs a description: pass one or give the function a docstring."
            )
        schema = args_schema
        if schema is None and infer_schema:
            schema = schema_from_function(source, tool_name)
        return cls(
            name=tool_name,
            description=description or doc_description,
            func=func,
            coroutine=coroutine,
            args_schema=schema,
            return_direct=return_direct,
            **kwargs,
        )

    def _extras(self, config: RunnableConfig, run_manager: RunManager) -> dict[str, Any]:
        extras: dict[str, Any] = {}
        if "config" in self._injected:
            extras["config"] = config
        if "callbacks" in self._injected:
            extras["callbacks"] = run_manager.get_child()
        if "run_manager" in self._injected:
            extras["run_manager"] = run_manager
        return extras

    def _run(self, *args: Any, config: RunnableConfig, run_manager: RunManager, **kwargs: Any) -> Any:
        if self.func is None:
            raise NotImplementedError(f"Tool {self.name!r} is async only; call it with ainvoke.")
        return self.func(*args, **kwargs, **self._extras(config, run_manager))

    async def _arun(self, *args: Any, config: RunnableConfig, run_manager: RunManager, **kwargs: Any) -> Any:
        if self.coroutine is None:
            return await super()._arun(*args, config=config, run_manager=run_manager, **kwargs)
        return await self.coroutine(*args, **kwargs, **self._extras(config, run_manager))


class Tool(StructuredTool):
    """A single-input tool: the function takes one string (LangChain's classic ``Tool``)."""

    def __init__(
        self,
        name: str,
        func: Callable[..., Any] | None,
        description: str,
        *,
        coroutine: Callable[..., Awaitable[Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        schema = {"title": name, "type": "object", "properties": {"tool_input": {"type": "string"}},
                  "required": ["tool_input"]}  # fmt: skip
        super().__init__(name=name, description=description, func=func, coroutine=coroutine,
                         args_schema=schema, **kwargs)  # fmt: skip
        self._injected = set()

    def _run(self, *args: Any, config: RunnableConfig, run_manager: RunManager, **kwargs: Any) -> Any:
        if self.func is None:
            raise NotImplementedError(f"Tool {self.name!r} is async only; call it with ainvoke.")
        return self.func(kwargs["tool_input"])

    async def _arun(self, *args: Any, config: RunnableConfig, run_manager: RunManager, **kwargs: Any) -> Any:
        if self.coroutine is None:
            return await BaseTool._arun(self, config=config, run_manager=run_manager, **kwargs)
        return await self.coroutine(kwargs["tool_input"])


@overload
def tool(name_or_callable: Callable[..., Any], /) -> StructuredTool: ...


@overload
def tool(
    name_or_callable: str | None = None,
    /,
    *,
    description: str | None = None,
    return_direct: bool = False,
    args_schema: Mapping[str, Any] | None = None,
    infer_schema: bool = True,
    handle_tool_error: bool | str | Callable[[ToolException], str] = False,
) -> Callable[[Callable[..., Any]], StructuredTool]: ...


def tool(
    name_or_callable: str | Callable[..., Any] | None = None,
    /,
    *,
    description: str | None = None,
    return_direct: bool = False,
    args_schema: Mapping[str, Any] | None = None,
    infer_schema: bool = True,
    handle_tool_error: bool | str | Callable[[ToolException], str] = False,
) -> StructuredTool | Callable[[Callable[..., Any]], StructuredTool]:
    """Make a tool from a function: ``@tool``, ``@tool("name")`` or ``@tool(description=..., ...)``.

    The name is the function's name, the description its docstring (text before ``Args:``), the argument
    schema comes from the signature and type hints (``Args:`` lines describe arguments). ``async def``
    functions make async tools.
    """

    def make(func: Callable[..., Any], name: str | None) -> StructuredTool:
        is_async = inspect.iscoroutinefunction(func)
        return StructuredTool.from_function(
            func=None if is_async else func,
            coroutine=func if is_async else None,
            name=name,
            description=description,
            return_direct=return_direct,
            args_schema=args_schema,
            infer_schema=infer_schema,
            handle_tool_error=handle_tool_error,
        )

    if callable(name_or_callable):
        return make(name_or_callable, None)
    name = name_or_callable
    return lambda func: make(func, name)


def convert_to_openai_tool(value: Any) -> dict[str, Any]:
    """A tool (``BaseTool``, a plain function, or an OpenAI-format dict) in OpenAI's ``tools`` format."""
    if isinstance(value, BaseTool):
        return value.to_openai_tool()
    if isinstance(value, Mapping):
        if value.get("type") == "function" and "function" in value:
            return dict(value)
        if "name" in value and ("parameters" in value or "description" in value):
            return {"type": "function", "function": dict(value)}
        raise TypeError("A tool dict needs OpenAI's shape: {'type': 'function', 'function': {...}}.")
    if callable(value):
        return StructuredTool.from_function(value).to_openai_tool()
    raise TypeError(f"Cannot turn {type(value).__name__} into an OpenAI tool.")
