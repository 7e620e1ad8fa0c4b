"""Scripted failures and bad requests: what the real ``openai`` client (and a raw HTTP client) sees."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from streamscope.testing.fake_llm import FakeLLMServer

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer({"text-model": {"text": "one two three four"}}, include_defaults=False) as srv:
        yield srv


def _client(server: FakeLLMServer, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=retries)


def test_429_with_retry_after_then_success(server: FakeLLMServer) -> None:
    scenario = {"text": "finally", "error_status": 429, "retry_after": 0.01, "error_count": 2}
    with _client(server, retries=2) as client:
        stream = client.chat.completions.create(
            model="text-model", messages=MSG, stream=True, extra_body={"scenario": scenario}
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream) == "finally"
    assert len(server.received) == 3


def test_429_error_body_and_headers(server: FakeLLMServer) -> None:
    scenario = {"error_status": 429, "retry_after": 2}
    with _client(server) as client, pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="text-model", messages=MSG, extra_body={"scenario": scenario})
    err = info.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "2"
    assert err.response.headers["retry-after-ms"] == "2000"
    assert err.body == {
        "message": "Rate limit reached for requests (scripted by the fake LLM scenario).",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }


def test_500_without_retries(server: FakeLLMServer) -> None:
    with _client(server) as client, pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(
            model="text-model", messages=MSG, stream=True, extra_body={"scenario": {"error_status": 500}}
        )
    assert info.value.status_code == 500
    assert isinstance(info.value.body, dict) and info.value.body["type"] == "server_error"
    assert len(server.received) == 1


def test_dropped_connection_mid_stream(server: FakeLLMServer) -> None:
    seen: list[str | None] = []
    with _client(server) as client:
        stream = client.chat.completions.create(
            model="text-model",
            messages=MSG,
            stream=True,
            extra_body={"scenario": {"text": "a b c d", "drop_at": 1}},
        )
        with pytest.raises(openai.APIConnectionError) as info:
            for chunk in stream:
                seen.append(chunk.choices[0].delta.content)
    assert seen == ["", "a", " b"]
    assert "incomplete chunked read" in str(info.value.__cause__)
    # the server survives and answers the next request
    with _client(server) as client:
        assert client.chat.completions.create(model="text-model", messages=MSG).choices[0].message.content


def test_malformed_chunk_is_a_json_error(server: FakeLLMServer) -> None:
    seen: list[str | None] = []
    with _client(server) as client:
        stream = client.chat.completions.create(
            model="text-model",
            messages=MSG,
            stream=True,
            extra_body={"scenario": {"text": "a b c", "malformed_at": 1}},
        )
        with pytest.raises(json.JSONDecodeError):
            for chunk in stream:
                seen.append(chunk.choices[0].delta.content)
    assert seen == ["", "a"]


def test_stop_during_a_stall_ends_the_stream_promptly() -> None:
    srv = FakeLLMServer({"slow": {"text": "a b", "stall_at": 1, "stall": 60}}, include_defaults=False).start()
    with _client(srv) as client:
        stream = client.chat.completions.create(model="slow", messages=MSG, stream=True)
        assert next(stream).choices[0].delta.role == "assistant"
        assert next(stream).choices[0].delta.content == "a"
        began = time.monotonic()
        srv.stop()
        with pytest.raises(openai.APIConnectionError):
            list(stream)
        assert time.monotonic() - began < 30  # not the scripted 60 s stall


def _post(server: FakeLLMServer, content: bytes, path: str = "/v1/chat/completions") -> httpx.Response:
    with httpx.Client() as http:
        return http.post(server.url + path, content=content, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        (b"{not json", 400, "invalid_json", None),
        (b"[1, 2]", 400, "invalid_json", None),
        (b'{"model": "text-model"}', 400, "missing_required_parameter", "messages"),
        (b'{"model": "text-model", "messages": []}', 400, "invalid_type", "messages"),
        (b'{"model": "text-model", "messages": ["hi"]}', 400, "invalid_type", "messages[0]"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "missing_required_parameter", "model"),
        (b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', 404, "model_not_found", None),
        (
            b'{"model": "x", "messages": [{"role": "user"}], "scenario": {"gap": "slow"}}',
            400,
            "invalid_scenario",
            "scenario",
        ),
        (
            b'{"model": "x", "messages": [{"role": "user"}], "scenario": {"bogus": 1}}',
            400,
            "invalid_scenario",
            "scenario",
        ),
        (
            b'{"model": "text-model", "messages": [{"role": "user"}], "stream": "yes"}',
            400,
            "invalid_type",
            "stream",
        ),
    ],
)
def test_bad_requests_get_openai_shaped_errors(
    server: FakeLLMServer, body: bytes, status: int, code: str, param: str | None
) -> None:
    response = _post(server, body)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["code"] == code and error["param"] == param
    assert error["message"].endswith(".") and len(error["message"]) < 200
    assert server.received == []  # rejected requests are not answered as completions
    ok = _post(server, b'{"model": "text-model", "messages": [{"role": "user", "content": "x"}]}')
    assert ok.status_code == 200


def test_unknown_model_through_openai_client(server: FakeLLMServer) -> None:
    with _client(server) as client, pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-nope", messages=MSG)
    assert info.value.code == "model_not_found"


def test_oversized_body_and_unknown_path(server: FakeLLMServer) -> None:
    huge = _post(server, b'{"model": "' + b"x" * (9 * 1024 * 1024) + b'"}')
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "request_too_large"
    missing = _post(server, b"{}", path="/v1/embeddings")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_url"
