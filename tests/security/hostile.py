"""Small helpers of the security suite."""

from __future__ import annotations

import httpx
from google.rpc import status_pb2

PB = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def reason(resp: httpx.Response) -> str:
    if resp.headers["content-type"].startswith("application/x-protobuf"):
        return str(status_pb2.Status.FromString(resp.content).message)
    return str(resp.json()["message"])


def one_sentence(text: str) -> bool:
    return bool(text) and text.endswith(".") and "\n" not in text and len(text) < 300


def stored_names(client: httpx.Client, trace_id: bytes) -> list[str]:
    r = client.get(f"/api/traces/{trace_id.hex()}")
    if r.status_code == 404:
        return []
    return sorted(s["name"] for s in r.json()["spans"])
