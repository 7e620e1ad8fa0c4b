"""Login and logout (only active when a token or username/password is configured)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from streamscope.dashboard.extension import state
from streamscope.dashboard.security import client_key, credentials_ok

bp = Blueprint("auth", __name__)

# Browsers drop tab, CR and LF inside URLs and read "\" as "/": "/\t/evil.example" becomes "//evil.example".
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def _safe_next(value: str | None) -> str:
    """Only a path on this site: "/x", never "//evil.example", "/\\evil", "/%09/evil" or a header break."""
    if (value and len(value) < 2048 and value.startswith("/") and not value.startswith("//")
            and not _UNSAFE.search(value)):  # fmt: skip
        parts = urlsplit(value)
        if not parts.scheme and not parts.netloc:
            return value
    return url_for("overview.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    """Show the login form; on a correct token or username/password set the session cookie."""
    settings = state().settings
    if not settings.auth_required:
        return redirect(url_for("overview.index"))
    error = None
    status = 200
    wait = 0
    if request.method == "POST":
        st = state()
        wait = st.failed_logins.retry_after(client_key())
        if wait:
            error, status = f"Too many failed logins from this address; try again in {wait} seconds.", 429
        else:
            form = request.form
            if credentials_ok(settings, token=form.get("token") or None, username=form.get("username"),
                              password=form.get("password")):  # fmt: skip
                st.failed_logins.succeeded(client_key())
                st.sessions.end(session.get("sid"))
                session.clear()
                session["sid"] = st.sessions.start()
                return redirect(_safe_next(request.args.get("next")))
            st.failed_logins.failed(client_key())
            error, status = "That token or username and password is not right.", 401
    page = render_template("login.html", error=error, token_login=bool(settings.token),
                           password_login=bool(settings.username))  # fmt: skip
    if wait:
        return Response(page, status=status, headers={"Retry-After": str(wait)}, content_type="text/html")
    return page, status


@bp.post("/logout")
def logout() -> Response:
    """End the session: its id is revoked on the server, so a copy of the cookie stops working too."""
    state().sessions.end(session.get("sid"))
    session.clear()
    return redirect(url_for("auth.login"))
