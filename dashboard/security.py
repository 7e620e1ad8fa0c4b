"""Response hardening and optional login.

Every response carries a strict Content-Security-Policy: scripts, styles, images and fetches only from this
origin, no inline script or style, no framing, no plugins. Together with Jinja autoescaping (and never ``|safe``
on data) this keeps untrusted LLM output inert even if an escaping bug slipped through.

Login is optional: with a token or a username/password configured, every page and API needs either an
``Authorization`` header (``Bearer <token>`` or HTTP Basic) or a session cookie set by the login form.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, Response, current_app, redirect, request, session, url_for

from streamscope.dashboard.config import DashboardSettings

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_PUBLIC_ENDPOINTS = {"auth.login", "static"}


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def credentials_ok(settings: DashboardSettings, *, token: str | None = None, username: str | None = None,
                   password: str | None = None) -> bool:
    """Check a token or a username/password against the configured ones (constant-time).

    Args:
        settings: Dashboard settings holding the expected credentials.
        token: A presented token.
        username: A presented username.
        password: A presented password.

    Returns:
        True if either credential matches.
    """
    if settings.token and token and _same(token, settings.token):
        return True
    return bool(settings.username and settings.password and username is not None and password is not None
                and _same(username, settings.username) and _same(password, settings.password))


def _authenticated(settings: DashboardSettings) -> bool:
    if session.get("auth") is True:
        return True
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return credentials_ok(settings, token=header[7:].strip())
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return credentials_ok(settings, username=auth.username, password=auth.password)
    return False


def init_security(app: Flask, settings: DashboardSettings) -> None:
    """Install the security headers and, when credentials are configured, the login gate.

    Args:
        app: The Flask app.
        settings: Its settings.
    """
    if not app.secret_key:
        app.secret_key = secrets.token_hex(32)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict")

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
    def _gate() -> Response | None:
        if request.endpoint in _PUBLIC_ENDPOINTS or _authenticated(current_app.extensions["streamscope"].settings):
            return None
        if request.path.startswith("/api/"):
            response = current_app.json.response({"error": "Log in with a token or username and password."})
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Basic realm="streamscope"'
            return response
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
