"""Dashboard settings, read once from a mapping or the environment.

Environment variables (all optional):

- ``STREAMSCOPE_DB``: path of the collector's SQLite database to read.
- ``STREAMSCOPE_DASHBOARD_TOKEN``: a token that unlocks every page and API (``Authorization: Bearer`` or the
  login form).
- ``STREAMSCOPE_DASHBOARD_USER`` / ``STREAMSCOPE_DASHBOARD_PASSWORD``: a username/password pair (HTTP Basic or the
  login form).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENV_DB = "STREAMSCOPE_DB"
ENV_TOKEN = "STREAMSCOPE_DASHBOARD_TOKEN"
ENV_USER = "STREAMSCOPE_DASHBOARD_USER"
ENV_PASSWORD = "STREAMSCOPE_DASHBOARD_PASSWORD"

DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class DashboardSettings:
    """What the dashboard needs to run.

    Attributes:
        db_path: SQLite file written by the collector; ``None`` when a store is passed in directly.
        token: Access token; when set (or ``username``/``password``), every page and API needs a login.
        username: Login name for username/password access.
        password: Password for username/password access.
        page_size: Rows per page in the traces and streams lists.
        live_window: Seconds after which an in-flight stream with no new chunk is no longer shown as live
            (its process may have died mid-stream; the collector's own default is the same 30 s).
        stats_ttl: Seconds an overview aggregate is reused for identical filters (0: always recompute).
        live_lag: Seconds the collector's view of a stream in flight may lag behind the app: the app's SDK
            ``live_interval`` (1 s by default) plus a little for the export. ``/live`` measures a stream's rate
            now up to this long ago and calls it stalled only after ``stall_threshold + live_lag`` seconds of
            seen silence. None: the data source's default (the collector's: 1.25 s).
        stall_threshold: Seconds without a chunk after which ``/live`` shows a stream as stalled. None: the data
            source's default (the collector's: the SDK's default stall threshold, 2 s).
        bind_host: The address the dashboard listens on; on a loopback address only loopback names, IP
            addresses and ``allowed_hosts`` are accepted in the ``Host`` header (DNS rebinding).
        allowed_hosts: Extra host names the ``Host`` header may carry (``--allowed-host``).
    """

    db_path: str | None = None
    token: str | None = None
    username: str | None = None
    password: str | None = None
    page_size: int = DEFAULT_PAGE_SIZE
    live_window: float = 30.0
    stats_ttl: float = 5.0
    live_lag: float | None = None
    stall_threshold: float | None = None
    bind_host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()

    @property
    def auth_required(self) -> bool:
        """Whether any credential is configured."""
        return bool(self.token) or bool(self.username and self.password)

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any] | None = None) -> DashboardSettings:
        """Build settings from ``config`` keys (lower-case field names), falling back to the environment.

        Args:
            config: Optional overrides, e.g. ``{"db_path": "spans.db", "token": "s3cret"}``.

        Returns:
            The settings.

        Raises:
            ValueError: If a value has the wrong type or is out of range.
        """
        config = dict(config or {})
        unknown = set(config) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ValueError(f"unknown dashboard setting(s): {', '.join(sorted(unknown))}.")
        page_size = int(config.get("page_size", DEFAULT_PAGE_SIZE))
        if not 1 <= page_size <= 500:
            raise ValueError("page_size must be between 1 and 500.")
        live_lag = None if config.get("live_lag") is None else float(config["live_lag"])
        stall_threshold = None if config.get("stall_threshold") is None else float(config["stall_threshold"])
        if not (
            (live_lag is None or live_lag >= 0) and (stall_threshold is None or stall_threshold > 0)
        ):  # NaN too
            raise ValueError("live_lag must be 0 or more and stall_threshold more than 0 (seconds).")
        return cls(
            db_path=config.get("db_path", os.environ.get(ENV_DB) or None),
            token=config.get("token", os.environ.get(ENV_TOKEN) or None),
            username=config.get("username", os.environ.get(ENV_USER) or None),
            password=config.get("password", os.environ.get(ENV_PASSWORD) or None),
            page_size=page_size,
            live_window=float(config.get("live_window", 30.0)),
            stats_ttl=float(config.get("stats_ttl", 5.0)),
            live_lag=live_lag,
            stall_threshold=stall_threshold,
            bind_host=str(config.get("bind_host", "127.0.0.1")),
            allowed_hosts=tuple(str(h) for h in config.get("allowed_hosts", ())),
        )
