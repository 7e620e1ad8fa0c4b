"""Checking, before anything starts, that the ports a server is told to use are free.

    check_free("127.0.0.1", {"--http-port": 4318, "--grpc-port": 4317})   # raises PortTaken naming the option

Port 0 means "pick a free port" and is never checked. A port in TIME_WAIT counts as free (``SO_REUSEADDR``), a
port another process listens on does not.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping

__all__ = ["PortTaken", "check_free"]


class PortTaken(OSError):
    """A port cannot be bound; ``str()`` is one sentence naming the port and the option that chose it."""


def check_free(host: str, ports: Mapping[str, int]) -> None:
    """Raise :class:`PortTaken` for the first port in ``ports`` (option name -> port) that cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for option, port in ports.items():
        if port == 0:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                reason = (
                    "is already in use"
                    if exc.errno == errno.EADDRINUSE
                    else f"cannot be used ({exc.strerror})"
                )
                raise PortTaken(
                    exc.errno,
                    f"port {port} on {host} {reason}: stop what holds it, or pick another with {option} "
                    "(0 picks a free port).",
                ) from None
