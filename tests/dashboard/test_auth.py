"""Optional login: a token or username/password protects every page and API."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from streamscope.collector.store.memory import MemoryStore
from streamscope.dashboard import create_app


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def app(store: Any, seeded: Any) -> Flask:
    return create_app({"token": "tok-123", "username": "ada", "password": "pw-456"}, store=store)


@pytest.mark.parametrize("url", ["/", "/traces", "/streams", "/live", "/models"])
def test_pages_redirect_to_login(client: FlaskClient, url: str) -> None:
    """Without credentials every page redirects to the login form."""
    response = client.get(url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("url", ["/api/traces", "/api/streams", "/api/overview", "/api/live"])
def test_api_needs_credentials(client: FlaskClient, url: str) -> None:
    """Without credentials the API answers 401 with a reason."""
    response = client.get(url)
    assert response.status_code == 401
    assert response.get_json()["error"].endswith(".")


def test_bearer_token_and_basic_auth(client: FlaskClient) -> None:
    """The API accepts the token as a Bearer header and the username/password as HTTP Basic."""
    assert client.get("/api/traces", headers={"Authorization": "Bearer tok-123"}).status_code == 200
    assert client.get("/api/traces", headers={"Authorization": "Bearer wrong"}).status_code == 401
    basic = base64.b64encode(b"ada:pw-456").decode()
    assert client.get("/", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    bad = base64.b64encode(b"ada:nope").decode()
    assert client.get("/", headers={"Authorization": f"Basic {bad}"}).status_code == 302


def test_login_form_sets_a_session(client: FlaskClient) -> None:
    """Logging in with the token unlocks the pages; a wrong password is refused; logout locks again."""
    assert client.post("/login", data={"username": "ada", "password": "bad"}).status_code == 401
    response = client.post("/login?next=/streams", data={"token": "tok-123"})
    assert response.status_code == 302 and response.headers["Location"] == "/streams"
    assert client.get("/traces").status_code == 200
    client.post("/logout")
    assert client.get("/traces").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil.example"])
def test_login_never_redirects_off_site(client: FlaskClient, target: str) -> None:
    """The next parameter cannot send the user to another site."""
    response = client.post("/login", query_string={"next": target}, data={"token": "tok-123"})
    assert response.headers["Location"] == "/"


def test_no_login_needed_without_credentials() -> None:
    """Without configured credentials the dashboard is open (it binds 127.0.0.1 by default)."""
    app = create_app(store=MemoryStore())
    assert app.test_client().get("/").status_code == 200
    assert app.test_client().get("/login").status_code == 302
