"""Command-line options shared by ``streamscope collector`` and ``streamscope up`` (light: click only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from streamscope.collector.auth import check_key
from streamscope.collector.retention import check_age, parse_size

F = TypeVar("F", bound=Callable[..., Any])


def _size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def api_keys_option(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """``--api-key``: refuse a key that would switch auth off or that no client could send."""
    for key in value:
        try:
            check_key(key)
        except ValueError as e:
            raise click.BadParameter(str(e)) from None
    return value


def _retention(_ctx: click.Context, _param: click.Parameter, value: float | None) -> float | None:
    if value is None:
        return None
    try:
        check_age(value * 3600)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    return value


def retention_options(func: F) -> F:
    """``--retention HOURS`` (as ``retention_hours``) and ``--max-db-size SIZE`` (as ``max_db_bytes``)."""
    func = click.option("--max-db-size", "max_db_bytes", callback=_size, metavar="SIZE",
                        help="Keep the database under this size (e.g. 2GB, 500MB): the oldest traces are deleted "
                             "in the background.")(func)  # fmt: skip
    return click.option("--retention", "retention_hours", type=float, callback=_retention, metavar="HOURS",
                        help="Delete traces older than this many hours, 1/60 to 1000000 (in the background).")(func)  # fmt: skip


def retention_seconds(hours: float | None) -> float | None:
    return hours * 3600 if hours else None


def _store_url(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if not value:
        return None
    from streamscope.collector.store.clickhouse import parse_url  # pure parsing; the driver loads on connect

    try:
        parse_url(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    return value


def store_option(func: F) -> F:
    """``--store URL`` (as ``store_url``; env ``STREAMSCOPE_STORE``): a shared ClickHouse store instead of SQLite."""
    return click.option("--store", "store_url", envvar="STREAMSCOPE_STORE", callback=_store_url, metavar="URL",
                        help="Shared store: clickhouse://[USER:PASSWORD@]HOST:PORT/DB (clickhouses:// for TLS) "
                             "instead of the SQLite file (--db).")(func)  # fmt: skip


def open_shared_store(url: str, retention_s: float | None = None) -> Any:
    """The ClickHouse store behind ``url``, schema created or migrated.

    Raises:
        click.ClickException: with one line saying why, when the store cannot be reached or prepared.
    """
    from streamscope.collector.store.clickhouse import ClickHouseStore, parse_url, without_dataframes

    try:
        without_dataframes()  # a streamscope process: no pandas import at the first insert
        return ClickHouseStore.from_url(url, retention_s=retention_s)
    except ImportError as e:  # the driver is in the `clickhouse` extra
        raise click.ClickException(
            f"--store needs the clickhouse extra (pip install 'streamscope[clickhouse]'): {e}."
        ) from None
    except Exception as e:  # the driver's errors: connection refused, authentication, DDL
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise click.ClickException(f"cannot open the store {parse_url(url).redacted()}: {first}") from None
