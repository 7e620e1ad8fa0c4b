"""Dashboard errors.

Every error raised on purpose by the dashboard carries a one-sentence, user-facing reason and the HTTP status it
maps to. Anything else is a bug: the error handler logs it and shows a friendly 500 page, never a stack trace.

Hierarchy::

    DashboardError            base; ``status`` and ``reason``
    ├── BadParameter          400: a query parameter or path segment is malformed, oversized or unknown
    ├── NotFound              404: the trace, stream or page does not exist
    └── Unauthorized          401: login required
"""

from __future__ import annotations


class DashboardError(Exception):
    """An error with a user-facing one-sentence reason and an HTTP status.

    Args:
        reason: One sentence saying what was wrong, safe to show to the user (it is escaped when rendered).
    """

    status = 500

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadParameter(DashboardError, ValueError):
    """A query parameter or path segment is malformed, oversized, hostile or unknown."""

    status = 400


class NotFound(DashboardError, LookupError):
    """The requested trace, stream or page does not exist."""

    status = 404


class Unauthorized(DashboardError):
    """The request needs a login (token or username/password)."""

    status = 401
