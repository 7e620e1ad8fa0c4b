"""Response hardening and optional login.

Every response carries a strict Content-Security-Policy: scripts, styles, images and fetches only from this
origin, no inline script or style, no framing, no plugins. Together with Jinja autoescaping (and never ``|safe``
on data) this keeps untrusted LLM output inert even if an escaping bug slipped through.

Login is optional: with a token or a username/password configured, every page and API needs either an
``Authorization`` header (``Bearer <token>`` or HTTP Basic) or a session cookie set by the login form. The cookie
holds a session id that the server revokes on logout (``login_state.py``); failed logins and failed
``Authorization`` headers count towards a per-client lockout (429 with ``Retry-After``). Credentials are compared
as SHA-256 digests, user name and password both, so the timing says nothing about either.

Every request's ``Host`` header is checked first (``streamscope.collector.hosts``: DNS rebinding).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import Flask, Response, jsonify, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from streamscope.collector.hosts import HostCheck
from streamscope.dashboard.config import DashboardSettings
from streamscope.dashboard.extension import state

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_PUBLIC_ENDPOINTS = {"auth.login", "static"}


def _same(a: str, b: str) -> bool:
    """Constant-time equality whatever the lengths: compares fixed-length digests."""
    da = hashlib.sha256(a.encode("utf-8", "surrogatepass")).digest()
    db = hashlib.sha256(b.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(da, db)


def credentials_ok(
    settings: DashboardSettings,
    *,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> bool:
    """Check a token or a username/password against the configured ones (constant-time).

    Args:
        settings: Dashboard settings holding the expected credentials.
        token: A presented token.
        username: A presented username.
        password: A presented password.

    Returns:
        True if either credential matches.
    """
    token_ok = _same(token or "", settings.token or "")
    # both compared every time: no early exit on a wrong user name
    user_ok = _same(username or "", settings.username or "")
    password_ok = _same(password or "", settings.password or "")
    return bool(settings.token and token and token_ok) or bool(
        settings.username and settings.password and username is not None and password is not None
        and user_ok & password_ok
    )  # fmt: skip


def client_key() -> str:
    """Who a failed login is counted against: the peer address."""
    return request.remote_addr or "unknown"


def _header_credentials(settings: DashboardSettings) -> bool | None:
    """True/False for an ``Authorization`` header that is right/wrong; None when there is none."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return credentials_ok(settings, token=header[7:].strip())
    try:
        auth = request.authorization
    except ValueError:  # Werkzeug's parse of Basic credentials that are not ASCII base64: wrong credentials
        return False
    if auth is not None and auth.type == "basic":
        return credentials_ok(settings, username=auth.username, password=auth.password)
    return None


def _too_many(retry_after: int) -> Response:
    response = jsonify({"error": "Too many failed logins from this address; try again later."})
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def init_security(app: Flask, settings: DashboardSettings) -> None:
    """Install the security headers and, when credentials are configured, the login gate.

    Args:
        app: The Flask app.
        settings: Its settings.
    """
    if not app.secret_key:
        app.secret_key = secrets.token_hex(32)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict")
    hosts = HostCheck(settings.bind_host, settings.allowed_hosts)

    @app.before_request
    def _host() -> Response | None:
        if hosts.accepts(request.headers.get("Host")):
            return None
        response = Response("This server does not answer for the host name in the request (see --allowed-host).\n",
                            status=400, content_type="text/plain; charset=utf-8")  # fmt: skip
        return response

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    if not settings.auth_required:
        return

    @app.before_request
    def _gate() -> ResponseReturnValue | None:
        st = state()
        if request.endpoint in _PUBLIC_ENDPOINTS or st.sessions.valid(session.get("sid")):
            return None
        given = _header_credentials(st.settings)
        if given is not None:
            wait = st.failed_logins.retry_after(client_key())
            if wait:
                return _too_many(wait)
            if given:
                return None
            st.failed_logins.failed(client_key())
        if request.path.startswith("/api/"):
            response = jsonify({"error": "Log in with a token or username and password."})
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Basic realm="streamscope"'
            return response
        return redirect(
            url_for("auth.login", next=request.full_path if request.query_string else request.path)
        )
