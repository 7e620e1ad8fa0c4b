"""The application factory.

Example:
    >>> from streamscope.dashboard import create_app
    >>> app = create_app({"db_path": "streamscope.db"})       # doctest: +SKIP
    >>> app.run(port=8000)                                     # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from streamscope.collector.store import StoreUnavailable
from streamscope.dashboard import formatting, params
from streamscope.dashboard.config import DashboardSettings
from streamscope.dashboard.errors import DashboardError
from streamscope.dashboard.extension import init_app
from streamscope.dashboard.security import init_security
from streamscope.dashboard.source import DataSource

logger = logging.getLogger(__name__)

_FRIENDLY = {
    400: "The request was not understood.",
    401: "Log in to see this page.",
    403: "You may not see this page.",
    404: "There is no such page.",
    405: "This page does not accept that method.",
    413: "The request is too large.",
    414: "The address is too long.",
    431: "The request headers are too large.",
    500: "Something went wrong on our side; the error was logged.",
}


def create_app(
    config: Mapping[str, Any] | None = None, *, store: Any = None, source: DataSource | None = None
) -> Flask:
    """Create the dashboard app.

    Args:
        config: Settings overrides (see :class:`~streamscope.dashboard.config.DashboardSettings`), e.g.
            ``{"db_path": "streamscope.db", "token": "s3cret"}``.
        store: A collector ``SpanStore`` to read from (takes precedence over ``db_path``).
        source: A ready :class:`~streamscope.dashboard.source.DataSource` (takes precedence over ``store``).

    Returns:
        The Flask app.

    Raises:
        ValueError: If neither a source, a store nor a database path is given, or a setting is invalid.
    """
    settings = DashboardSettings.from_mapping(config)
    if source is None:
        from streamscope.dashboard.collector_source import CollectorSource, open_store

        if store is None:
            if settings.db_path is None:
                raise ValueError("Give the dashboard a store, a source or a database path (db_path).")
            store = open_store(settings.db_path)
        source = CollectorSource(
            store,
            stats_ttl=settings.stats_ttl,
            live_lag=settings.live_lag,
            stall_threshold=settings.stall_threshold,
        )
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    init_app(app, source, settings)
    init_security(app, settings)
    formatting.register(app)
    _register_blueprints(app)
    _register_error_handlers(app)
    app.before_request(_check_query_string)
    return app


def _register_blueprints(app: Flask) -> None:
    from streamscope.dashboard.views import (
        api,
        auth,
        compare,
        errors,
        live,
        models,
        overview,
        sessions,
        streams,
        traces,
    )

    for module in (overview, traces, streams, errors, sessions, live, models, compare, api, auth):
        app.register_blueprint(module.bp)


def _check_query_string() -> None:
    params.check_query_string(request.query_string)


def _error_response(status: int, reason: str) -> tuple[Response | str, int]:
    if request.path.startswith("/api/"):
        from flask import jsonify

        return jsonify({"error": reason}), status
    return render_template("error.html", status=status, reason=reason), status


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DashboardError)
    def _dashboard_error(exc: DashboardError) -> tuple[Response | str, int]:
        return _error_response(exc.status, exc.reason)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        if status < 400:
            return exc.get_response()
        return _error_response(status, _FRIENDLY.get(status, "The request could not be served."))

    @app.errorhandler(StoreUnavailable)
    def _store_unavailable(exc: StoreUnavailable) -> tuple[Response | str, int]:
        return _error_response(
            503, f"The data is out of reach for now: {exc} This page works again when it is back."
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response | str, int]:
        logger.exception("dashboard error on %s", request.path)
        return _error_response(500, _FRIENDLY[500])
