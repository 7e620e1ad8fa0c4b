"""Issue 18 item 9 (HTTP): OTLP/JSON enums of the wrong type are 400; a request with both Transfer-Encoding and
Content-Length is 400 and its connection closed."""

from __future__ import annotations

import socket

import httpx
import orjson
import pytest
from hostile import JSON, one_sentence, reason

from streamscope.collector.server import CollectorServer


def _doc(kind: object = 1, code: object = 0) -> bytes:
    span = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "n", "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000001000000000", "kind": kind, "status": {"code": code}}  # fmt: skip
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


@pytest.mark.parametrize(
    ("kind", "code"), [("weird", 0), (1, "bad"), (True, 0), (2.5, 0), (1, [1]), (2**40, 0)]
)
def test_json_enums_of_the_wrong_type_are_400(client: httpx.Client, kind: object, code: object) -> None:
    r = client.post("/v1/traces", content=_doc(kind, code), headers=JSON)
    assert r.status_code == 400 and one_sentence(reason(r)), r.text
    assert client.get("/api/traces").json()["traces"] == []


@pytest.mark.parametrize(("kind", "code"), [(2, 2), ("SPAN_KIND_SERVER", "STATUS_CODE_ERROR")])
def test_json_enums_as_integers_or_their_names_are_stored(
    client: httpx.Client, kind: object, code: object
) -> None:
    r = client.post("/v1/traces", content=_doc(kind, code), headers=JSON)
    assert r.status_code == 200, r.text
    [span] = client.get(f"/api/traces/{'ab' * 16}").json()["spans"]
    assert span["kind"] == "server" and span["status"] == "error", span


def test_transfer_encoding_with_content_length_is_400_and_closes(server: CollectorServer) -> None:
    body = b"0\r\n\r\n"
    head = (b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as s:
        # a smuggled second request after the ambiguous one must never be answered
        s.sendall(head + body + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):  # the server closes the connection: recv returns b""
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 400"), data[:200]
    assert b"Transfer-Encoding and Content-Length" in rest
    assert data.count(b"HTTP/1.1 ") == 1


@pytest.mark.parametrize(
    "framing",
    [b"Content-Length: 5\r\nContent-Length: 6\r\n", b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
     b"Transfer-Encoding: gzip, chunked\r\n", b"Content-Length: +5\r\n"],
)  # fmt: skip
def test_ambiguous_body_framing_is_400_and_closes(server: CollectorServer, framing: bytes) -> None:
    head = (
        b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n" + framing
    )
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as s:
        s.sendall(head + b"\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.split(b"\r\n", 1)[0].split(b" ")[1] in (b"400", b"501"), data[:200]
    assert data.count(b"HTTP/1.1 ") == 1  # nothing after it on that connection is answered
