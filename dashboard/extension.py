"""Where the dashboard keeps its per-app state: ``app.extensions["streamscope"]``."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, current_app

from streamscope.dashboard.config import DashboardSettings
from streamscope.dashboard.login_state import FailedLogins, Sessions
from streamscope.dashboard.source import DataSource


@dataclass
class DashboardState:
    """Per-app state.

    Attributes:
        source: Where the pages read their data.
        settings: The app's settings.
        sessions: Live login sessions (logout revokes one).
        failed_logins: Failed logins per client (the login rate limit).
    """

    source: DataSource
    settings: DashboardSettings
    sessions: Sessions = field(default_factory=Sessions)
    failed_logins: FailedLogins = field(default_factory=FailedLogins)


def init_app(app: Flask, source: DataSource, settings: DashboardSettings) -> None:
    """Attach a data source and settings to ``app``."""
    app.extensions["streamscope"] = DashboardState(source=source, settings=settings)


def state() -> DashboardState:
    """The current app's dashboard state."""
    value = current_app.extensions["streamscope"]
    assert isinstance(value, DashboardState)
    return value
