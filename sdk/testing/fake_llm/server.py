"""An OpenAI-compatible HTTP server with scripted answers and timing (stdlib ``http.server`` only).

``POST /v1/chat/completions`` (streaming and not) and ``GET /v1/models``. Streams are written as OpenAI writes
them: server-sent events over chunked transfer encoding, one HTTP chunk per event, flushed at its scripted time
(monotonic deadlines measured from the request's arrival, so gaps do not drift), Nagle off.
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Mapping, MutableSequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from streamscope.testing.fake_llm.scenario import Plan, Scenario, ScenarioError, plan

__all__ = ["DEFAULT_SCENARIOS", "FakeLLMServer", "load_scenarios"]

MAX_BODY_BYTES = 8 * 1024 * 1024

#: Models the server answers when no scenario file names them: realistic-looking timing for demos.
DEFAULT_SCENARIOS: Mapping[str, Mapping[str, Any]] = {
    "gpt-4o-mini": {
        "seed": 1,
        "headers_delay": 0.15,
        "ttft": 0.25,
        "gap": 0.02,
        "jitter": 0.01,
        "length": 40,
    },
    "gpt-4o": {"seed": 2, "headers_delay": 0.25, "ttft": 0.4, "gap": 0.035, "jitter": 0.015, "length": 60},
}

_STATUS_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", None),
    404: ("invalid_request_error", None),
    409: ("invalid_request_error", None),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", "service_unavailable"),
}


class _APIError(Exception):
    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code


Script = tuple[Scenario, ...]


def parse_script(raw: object) -> Script:
    """One scenario, or a non-empty list of scenarios answered in turn (cycling), e.g. tool call then text."""
    if isinstance(raw, Scenario):
        return (raw,)
    if isinstance(raw, (list, tuple)):
        if not raw:
            raise ScenarioError("A list of scenarios must not be empty.")
        return tuple(item if isinstance(item, Scenario) else Scenario.from_dict(item) for item in raw)
    return (Scenario.from_dict(raw),)


def load_scenarios(data: object) -> dict[str, Script]:
    """Validate a ``{model name: scenario or [scenarios]}`` mapping (the ``--scenarios`` file's content)."""
    if not isinstance(data, Mapping):
        raise ScenarioError("The scenarios file must hold a JSON object keyed by model name.")
    out: dict[str, Script] = {}
    for name, raw in data.items():
        try:
            out[str(name)] = parse_script(raw)
        except ScenarioError as exc:
            raise ScenarioError(f"Model {name!r}: {exc}") from exc
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], owner: FakeLLMServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class FakeLLMServer:
    """The fake server as an object: ``with FakeLLMServer(scenarios) as srv: OpenAI(base_url=srv.base_url)``.

    ``scenarios`` maps model names to scenario objects (dicts or :class:`Scenario`), or to lists of them answered
    in turn; the key ``"*"`` answers any model. A request may carry its own ``"scenario"`` (``extra_body=
    {"scenario": {...}}``, or a list), which wins.
    ``received`` keeps every request body seen (in order) for tests to inspect; a long-running server
    (``streamscope fake-llm``) passes ``keep_requests=N`` to keep only the last N.
    """

    def __init__(
        self,
        scenarios: Mapping[str, Any] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        include_defaults: bool = True,
        keep_requests: int | None = None,
    ) -> None:
        merged: dict[str, Script] = load_scenarios(DEFAULT_SCENARIOS) if include_defaults else {}
        merged.update(load_scenarios(scenarios or {}))
        self.scenarios = merged
        self.received: MutableSequence[dict[str, Any]] = (
            [] if keep_requests is None else collections.deque(maxlen=keep_requests)
        )
        self._host = host
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._connections: set[socket.socket] = set()
        self.stopping = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------------------
    def bind(self) -> FakeLLMServer:
        """Bind and listen (connections queue from here on) without serving yet."""
        if self._httpd is None:
            self._httpd = _Server((self._host, self._port), self)
        return self

    def start(self) -> FakeLLMServer:
        """Bind and serve on a background thread; returns self."""
        self.bind()
        assert self._httpd is not None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-llm", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread until :meth:`stop` is called from another thread (CLI use)."""
        self.bind()
        assert self._httpd is not None
        self._httpd.serve_forever(poll_interval=0.05)

    def interrupt(self) -> None:
        """Make :meth:`serve_forever` return (safe from a signal handler's helper thread)."""
        self.stopping.set()
        httpd = self._httpd
        if httpd is not None:
            httpd.shutdown()

    def stop(self) -> None:
        """Stop serving: wakes every in-flight stream, closes open connections, joins handler threads."""
        httpd = self._httpd
        if httpd is None:
            return
        self.stopping.set()
        httpd.shutdown()
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake LLM server is not bound; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        return self._host

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (no path)."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give the ``openai`` client: ``http://HOST:PORT/v1``."""
        return self.url + "/v1"

    # -- bookkeeping used by the handler -------------------------------------------------------------------
    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.received.append(body)

    def _attempt(self, key: str) -> int:
        """How many earlier requests carried this scenario (for ``error_count``)."""
        with self._lock:
            n = self._counts.get(key, 0)
            self._counts[key] = n + 1
            return n

    def _turn(self, model: str, script: Script, raw: object) -> Scenario:
        """The scenario answering this request: scripts of several scenarios advance one per request."""
        if len(script) == 1:
            return script[0]
        key = "turn\0" + model + "\0" + json.dumps(raw, sort_keys=True, default=str)
        return script[self._attempt(key) % len(script)]

    def _resolve(self, body: Mapping[str, Any]) -> tuple[str, Script, object]:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _APIError(
                400, "You must provide a model parameter.", param="model", code="missing_required_parameter"
            )
        if body.get("scenario") is not None:
            try:
                return model, parse_script(body["scenario"]), body["scenario"]
            except ScenarioError as exc:
                raise _APIError(400, str(exc), param="scenario", code="invalid_scenario") from exc
        name = model if model in self.scenarios else "*"
        script = self.scenarios.get(name)
        if script is None:
            raise _APIError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return model, script, name


class _Dropped(Exception):
    """The script says to cut the connection here."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "streamscope-fake-llm"
    sys_version = ""
    server: _Server

    # -- plumbing --------------------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._track(self.connection, True)

    def finish(self) -> None:
        self.server.owner._track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake server is used inside test runs and benchmarks."""

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _wait_until(self, t0: float, offset: float) -> None:
        remaining = t0 + offset - time.monotonic()
        if remaining > 0 and self.server.owner.stopping.wait(remaining):
            raise _Dropped

    def _send_json(self, status: int, payload: object, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, err: _APIError, headers: Mapping[str, str] | None = None) -> None:
        kind, default_code = _STATUS_TYPES.get(
            err.status, ("server_error" if err.status >= 500 else "invalid_request_error", None)
        )
        body = {
            "error": {
                "message": err.message,
                "type": kind,
                "param": err.param,
                "code": err.code or default_code,
            }
        }
        self._send_json(err.status, body, headers)

    def _drain(self, length: int) -> None:
        """Read and drop an unwanted body (up to 8x the limit) so the client sees our answer, not a reset."""
        left = min(length, 8 * MAX_BODY_BYTES)
        while left > 0:
            got = self.rfile.read(min(left, 1 << 16))
            if not got:
                break
            left -= len(got)

    def _discard_body(self) -> None:
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) <= MAX_BODY_BYTES:
            self.rfile.read(int(length))
        elif length:
            self.close_connection = True

    # -- routes ----------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            models = sorted(m for m in self.server.owner.scenarios if m != "*")
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 0, "owned_by": "streamscope"} for m in models
                    ],
                },
            )
        elif path.startswith(("/v1/models/", "/models/")):
            name = path.split("/models/", 1)[1]
            if name in self.server.owner.scenarios:
                self._send_json(200, {"id": name, "object": "model", "created": 0, "owned_by": "streamscope"})
            else:
                self._send_error(
                    _APIError(
                        404,
                        f"The model `{name}` does not exist or you do not have access to it.",
                        code="model_not_found",
                    )
                )
        elif path == "/health":
            self._send_json(200, {"status": "ok"})
        else:
            self._send_error(_APIError(404, f"Invalid URL (GET {path or '/'}).", code="unknown_url"))

    def do_POST(self) -> None:
        t0 = time.monotonic()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._discard_body()
            self._send_error(_APIError(404, f"Invalid URL (POST {path or '/'}).", code="unknown_url"))
            return
        try:
            body = self._read_body()
            model, script, raw = self.server.owner._resolve(body)
            self._validate(body)
        except _APIError as err:
            self._send_error(err)
            return
        scenario = self.server.owner._turn(model, script, raw)
        self.server.owner._record(body)
        try:
            self._answer(t0, body, model, scenario)
        except _Dropped:
            self.close_connection = True

    def _read_body(self) -> dict[str, Any]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise _APIError(411, "Send the request body with a Content-Length header.")
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            self.close_connection = True
            raise _APIError(411, "Send the request body with a Content-Length header.")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._drain(length)
            raise _APIError(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _APIError(
                400,
                "We could not parse the JSON body of your request; send valid JSON.",
                code="invalid_json",
            ) from exc
        if not isinstance(body, dict):
            raise _APIError(400, "The request body must be a JSON object.", code="invalid_json")
        return body

    @staticmethod
    def _validate(body: Mapping[str, Any]) -> None:
        messages = body.get("messages")
        if messages is None:
            raise _APIError(
                400,
                "Missing required parameter: 'messages'.",
                param="messages",
                code="missing_required_parameter",
            )
        if not isinstance(messages, list) or not messages:
            raise _APIError(
                400,
                "'messages' must be a non-empty array of message objects.",
                param="messages",
                code="invalid_type",
            )
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise _APIError(
                    400,
                    f"Message {i} must be an object with a string 'role'.",
                    param=f"messages[{i}]",
                    code="invalid_type",
                )
        stream = body.get("stream", False)
        if stream is not None and not isinstance(stream, bool):
            raise _APIError(400, "'stream' must be a boolean.", param="stream", code="invalid_type")

    # -- answering ---------------------------------------------------------------------------------------
    def _answer(self, t0: float, body: Mapping[str, Any], model: str, scenario: Scenario) -> None:
        owner = self.server.owner
        prompt_tokens = _estimate_prompt_tokens(body.get("messages", []))
        script = plan(scenario, prompt_tokens=prompt_tokens)
        if scenario.error_status is not None:
            attempt = owner._attempt(model + "\0" + scenario.key())
            if scenario.error_count is None or attempt < scenario.error_count:
                self._wait_until(t0, script.headers_at)
                headers: dict[str, str] = {}
                if scenario.retry_after is not None:
                    headers["Retry-After"] = f"{scenario.retry_after:g}"
                    headers["retry-after-ms"] = str(round(scenario.retry_after * 1000))
                status = scenario.error_status
                message = (
                    "Rate limit reached for requests (scripted by the fake LLM scenario)."
                    if status == 429
                    else f"The fake LLM scenario scripted an HTTP {status} error."
                )
                self._send_error(_APIError(status, message), headers)
                return
        usage = _usage(scenario, script, prompt_tokens)
        if body.get("stream"):
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            self._stream(t0, model, scenario, script, usage if include_usage else None)
        else:
            self._complete(t0, model, scenario, script, usage)

    def _complete(
        self, t0: float, model: str, scenario: Scenario, script: Plan, usage: dict[str, int]
    ) -> None:
        end = script.pieces[-1].at if script.pieces else script.headers_at
        self._wait_until(t0, max(end, script.headers_at))
        if scenario.drop_at is not None:
            raise _Dropped
        message: dict[str, Any] = {"role": "assistant", "content": script.content or None, "refusal": None}
        if script.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in script.tool_calls
            ]
        payload = {
            "id": script.response_id,
            "object": "chat.completion",
            "created": script.created or int(time.time()),
            "model": model,
            "system_fingerprint": "fp_streamscope",
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": script.finish_reason}
            ],
            "usage": usage,
        }
        if scenario.malformed_at is not None:
            data = json.dumps(payload).encode()[:-7]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self._send_json(200, payload)

    def _stream(
        self, t0: float, model: str, scenario: Scenario, script: Plan, usage: dict[str, int] | None
    ) -> None:
        created = script.created or int(time.time())
        base = {
            "id": script.response_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_streamscope",
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            out: dict[str, Any] = dict(base)
            out["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
            if usage is not None:
                out["usage"] = None
            return out

        self._wait_until(t0, script.headers_at)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex)
        self.end_headers()
        self._event(chunk({"role": "assistant", "content": "", "refusal": None}))
        for index, piece in enumerate(script.pieces):
            self._wait_until(t0, piece.at)
            if scenario.malformed_at == index:
                self._raw_event(
                    b'data: {"id": "' + script.response_id.encode() + b'", "choices": [{"delta": {"cont\n\n'
                )
            elif piece.content is not None:
                self._event(chunk({"content": piece.content}))
            else:
                call: dict[str, Any] = {"index": piece.tool_index}
                if piece.tool_id is not None:
                    call["id"] = piece.tool_id
                    call["type"] = "function"
                    call["function"] = {"name": piece.tool_name, "arguments": piece.tool_arguments or ""}
                else:
                    call["function"] = {"arguments": piece.tool_arguments}
                self._event(chunk({"tool_calls": [call]}))
            if scenario.drop_at == index:
                raise _Dropped
        if scenario.drop_at is not None:
            raise _Dropped
        self._event(chunk({}, script.finish_reason))
        if usage is not None:
            final = dict(base)
            final["choices"] = []
            final["usage"] = usage
            self._event(final)
        self._raw_event(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _event(self, payload: Mapping[str, Any]) -> None:
        self._raw_event(b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n")

    def _raw_event(self, data: bytes) -> None:
        self._write_chunk(data)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


def _estimate_prompt_tokens(messages: object) -> int:
    if not isinstance(messages, list):
        return 0
    total = 0
    for message in messages:
        if isinstance(message, dict):
            content = message.get("content")
            if isinstance(content, str):
                total += len(content.split())
            elif isinstance(content, list):
                total += sum(
                    len(str(part.get("text", "")).split()) for part in content if isinstance(part, dict)
                )
            total += 3
    return total


def _usage(scenario: Scenario, script: Plan, prompt_tokens: int) -> dict[str, int]:
    given = scenario.usage or {}
    prompt = int(given.get("prompt_tokens", prompt_tokens))
    completion = int(given.get("completion_tokens", script.completion_tokens))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
