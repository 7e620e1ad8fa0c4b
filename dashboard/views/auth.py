"""Login and logout (only active when a token or username/password is configured)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from streamscope.dashboard.extension import state
from streamscope.dashboard.security import credentials_ok

bp = Blueprint("auth", __name__)


def _safe_next(value: str | None) -> str:
    # Only same-site paths: "/x" but never "//evil.example" or "/\\evil".
    if value and value.startswith("/") and not value.startswith(("//", "/\\")) and len(value) < 2048:
        return value
    return url_for("overview.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    """Show the login form; on a correct token or username/password set the session cookie."""
    settings = state().settings
    if not settings.auth_required:
        return redirect(url_for("overview.index"))
    error = None
    if request.method == "POST":
        form = request.form
        if credentials_ok(settings, token=form.get("token") or None, username=form.get("username"),
                          password=form.get("password")):
            session.clear()
            session["auth"] = True
            return redirect(_safe_next(request.args.get("next")))
        error = "That token or username and password is not right."
    return render_template("login.html", error=error, token_login=bool(settings.token),
                           password_login=bool(settings.username)), (401 if error else 200)


@bp.post("/logout")
def logout() -> Response:
    """Forget the session."""
    session.clear()
    return redirect(url_for("auth.login"))
