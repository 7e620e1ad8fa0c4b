"""What every ``streamscope`` server command shares: the data location and one style of start-up error.

* The data location: ``streamscope-data/streamscope.db`` (relative to the working directory), or the path in
  ``STREAMSCOPE_DB``, or ``--db PATH``. ``streamscope up`` writes it, ``streamscope collector`` writes it and
  ``streamscope dashboard`` reads it, so the three agree without options.
* Start-up errors are one sentence that names the option to change, printed as ``Error: ...`` (exit status 1):
  :func:`host_problem`, :func:`port_problem` and :func:`db_dir_problem` return that sentence (or None).
"""

from __future__ import annotations

import errno
import os
import socket

__all__ = [
    "DB_ENV",
    "DEFAULT_DATA_DIR",
    "DEFAULT_DB",
    "db_dir_problem",
    "default_db",
    "host_problem",
    "port_problem",
]

DEFAULT_DATA_DIR = "streamscope-data"
DEFAULT_DB = os.path.join(DEFAULT_DATA_DIR, "streamscope.db")
DB_ENV = "STREAMSCOPE_DB"


def default_db() -> str:
    """The database path when no ``--db`` is given: ``$STREAMSCOPE_DB``, else ``streamscope-data/streamscope.db``."""
    return os.environ.get(DB_ENV) or DEFAULT_DB


def host_problem(host: str, option: str = "--host") -> str | None:
    """Why this machine cannot listen on ``host``, or None when it can."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return (
            f"cannot listen on {host}: it is not an IP address or a host name that resolves; pick another "
            f"with {option} (127.0.0.1 for this machine only)."
        )
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address[0], 0))
        except OSError as exc:
            return (
                f"cannot listen on {host}: it is not an address of this machine ({exc.strerror}); pick another "
                f"with {option} (127.0.0.1 for this machine only)."
            )
    return None


def port_problem(host: str, port: int, option: str, exc: OSError) -> str:
    """The sentence for a port that could not be bound."""
    reason = (
        "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror or exc})"
    )
    return f"port {port} on {host} {reason}: stop what holds it, or pick another with {option} (0 picks a free port)."


def db_dir_problem(path: str, option: str = "--db") -> str | None:
    """Why ``path`` cannot hold a database because of its directory, or None."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{path} is a directory; give {option} a file path such as {os.path.join(path, 'streamscope.db')}."
    if not os.path.isdir(directory):
        shown = os.path.dirname(path) or directory
        return f"the directory {shown} does not exist: create it (mkdir -p {shown}) or give {option} another path."
    return None
