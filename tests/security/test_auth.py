"""Issue 18, item 11: login open redirect, logout revocation, failed-login rate limit, constant-time credential
checks, and the Host header check against DNS rebinding (dashboard and collector)."""

from __future__ import annotations

import hmac
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proc import start_collector

from streamscope.collector.server import CollectorServer
from streamscope.collector.store.memory import MemoryStore
from streamscope.dashboard import create_app, security
from streamscope.dashboard.config import DashboardSettings

USER, PASSWORD = "admin", "correct horse battery staple"


@pytest.fixture
def app() -> Flask:
    return create_app({"username": USER, "password": PASSWORD}, store=MemoryStore())


def _login(client: FlaskClient, nxt: str | None = None, password: str = PASSWORD) -> object:
    url = "/login" if nxt is None else f"/login?next={quote(nxt, safe='')}"
    return client.post(url, data={"username": USER, "password": password})


# -- open redirect ---------------------------------------------------------------------------------
HOSTILE_NEXT = ["/\t/evil.example/", "/\n/evil.example/", "/\r\n/evil.example/", "/\\evil.example/",
                "/ /evil.example/", "//evil.example/", "https://evil.example/", "/\x00/evil.example",
                "/\r\nSet-Cookie: x=1", "\t//evil.example", "/\\/evil.example"]  # fmt: skip


@pytest.mark.parametrize("nxt", HOSTILE_NEXT)
def test_login_never_redirects_off_site(app: Flask, nxt: str) -> None:
    resp = _login(app.test_client(), nxt)
    assert resp.status_code == 302  # type: ignore[attr-defined]
    location = resp.headers["Location"]  # type: ignore[attr-defined]
    assert location == "/", location


def test_login_keeps_a_same_site_next(app: Flask) -> None:
    resp = _login(app.test_client(), "/traces?service=a&limit=5")
    assert resp.headers["Location"] == "/traces?service=a&limit=5"  # type: ignore[attr-defined]
    assert not urlsplit(resp.headers["Location"]).netloc  # type: ignore[attr-defined]


# -- logout revokes the session, copies included ------------------------------------------------------------
def test_logout_revokes_a_copied_session_cookie(app: Flask) -> None:
    victim = app.test_client()
    assert _login(victim).status_code == 302  # type: ignore[attr-defined]
    cookie = victim.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    assert thief.get("/api/traces").status_code == 200  # the copy works while the session lives
    assert victim.post("/logout").status_code == 302
    assert thief.get("/api/traces").status_code == 401
    assert thief.get("/traces").status_code == 302  # to the login page


# -- failed-login rate limit ----------------------------------------------------------------------------
def test_failed_logins_lock_the_client_out(app: Flask) -> None:
    client = app.test_client()
    for _ in range(5):
        assert _login(client, password="wrong").status_code == 401  # type: ignore[attr-defined]
    locked = _login(client)  # even the right password, while locked out
    assert locked.status_code == 429  # type: ignore[attr-defined]
    assert int(locked.headers["Retry-After"]) > 0  # type: ignore[attr-defined]
    assert "Too many failed logins" in locked.get_data(as_text=True)  # type: ignore[attr-defined]
    other = app.test_client()
    resp = other.post("/login", data={"username": USER, "password": PASSWORD},
                      environ_base={"REMOTE_ADDR": "10.9.8.7"})  # fmt: skip
    assert resp.status_code == 302  # another address is not locked out


def test_failed_authorization_headers_count_too(app: Flask) -> None:
    client = app.test_client()
    for _ in range(5):
        assert client.get("/api/traces", auth=(USER, "wrong")).status_code == 401
    resp = client.get("/api/traces", auth=(USER, PASSWORD))
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "header",
    [
        "Basic \xff\xff",
        "Basic \xe9t\xe9",
        "Basic " + "\u00e9" * 5000,
        "Basic ==",
        "Basic dXNlcg==",
        "Basic " + "A" * 20001,
        "Bearer \xff",
        "Digest x",
    ],
)
def test_malformed_authorization_headers_are_401_not_500(app: Flask, header: str) -> None:
    """Werkzeug raises on a Basic header whose credentials are not ASCII base64 (what a latin-1 byte in the header
    gives): a wrong credential, 401, never a 500."""
    for path in ("/api/traces", "/traces"):
        resp = app.test_client().get(path, headers={"Authorization": header})
        assert resp.status_code in (302, 401), (header[:20], path, resp.status_code)


# -- constant-time checks -------------------------------------------------------------------------------------
def test_credential_checks_compare_digests_and_never_stop_at_the_user_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    settings = DashboardSettings(username=USER, password=PASSWORD, token="tok")
    counts = []
    for user, pw in ((USER, PASSWORD), ("nobody", PASSWORD), (USER, "x"), ("n" * 300, "y")):
        calls.clear()
        assert security.credentials_ok(settings, username=user, password=pw) is (
            user == USER and pw == PASSWORD
        )
        assert all(c == (32, 32) for c in calls)
        counts.append(len(calls))
    assert len(set(counts)) == 1  # the same comparisons whichever part is wrong


# -- Host header (DNS rebinding) ----------------------------------------------------------------------------
def test_dashboard_refuses_foreign_host_names() -> None:
    app = create_app(store=MemoryStore())  # bound to loopback by default
    client = app.test_client()
    assert client.get("/api/traces", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/login", headers={"Host": "rebind.evil.example:8000"}).status_code == 400
    for ok in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        assert client.get("/api/traces", headers={"Host": ok}).status_code == 200, ok
    allowed = create_app({"allowed_hosts": ("obs.internal",)}, store=MemoryStore()).test_client()
    assert allowed.get("/api/traces", headers={"Host": "obs.internal:8000"}).status_code == 200
    exposed = create_app({"bind_host": "0.0.0.0"}, store=MemoryStore()).test_client()
    assert exposed.get("/api/traces", headers={"Host": "dashboard.example"}).status_code == 200


def test_collector_app_refuses_foreign_host_names(tmp_path: Path) -> None:
    server = CollectorServer(store=MemoryStore(), grpc_port=None)
    client = server.app.test_client()
    for path in ("/api/traces", "/metrics", "/healthz"):
        resp = client.get(path, headers={"Host": "evil.example:4318"})
        assert resp.status_code == 400 and "Host header" in resp.get_json()["message"]
    assert client.post("/v1/traces", data=b"", headers={"Host": "evil.example", "Content-Type":
                       "application/x-protobuf"}).status_code == 400  # fmt: skip
    assert client.get("/api/traces", headers={"Host": "localhost:4318"}).status_code == 200


def test_a_real_keyless_collector_refuses_a_rebound_host(tmp_path: Path) -> None:
    proc = start_collector(str(tmp_path / "c.db"), "--allowed-host", "obs.internal")
    try:
        with httpx.Client(base_url=proc.url, timeout=10) as c:
            assert c.get("/api/traces", headers={"Host": "attacker.example:4318"}).status_code == 400
            assert c.get("/api/traces", headers={"Host": "obs.internal:4318"}).status_code == 200
            assert c.get("/api/traces").status_code == 200  # 127.0.0.1:PORT
    finally:
        proc.stop()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nxt=st.one_of(st.text(max_size=30), st.text(alphabet="/\\\t\r\n %09:.evilx@?#", max_size=20)))
def test_fuzz_login_next_stays_on_site(app: Flask, nxt: str) -> None:
    resp = _login(app.test_client(), nxt)
    assert resp.status_code == 302  # type: ignore[attr-defined]
    location = resp.headers["Location"]  # type: ignore[attr-defined]
    # what a browser makes of it: tab/CR/LF dropped, "\\" read as "/"
    seen = location.replace("\t", "").replace("\r", "").replace("\n", "").replace("\\", "/")
    assert seen.startswith("/") and not seen.startswith("//") and not urlsplit(seen).netloc, location
