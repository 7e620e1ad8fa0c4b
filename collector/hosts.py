"""Host header check against DNS rebinding.

A web page can make the browser of someone on the collector's or dashboard's machine send requests to
``127.0.0.1`` under a host name the attacker controls (DNS rebinding): the browser then treats our answers as
the attacker's own origin. Such a request still says the attacker's name in its ``Host`` header. So a server
bound to a loopback address answers only requests whose ``Host`` is a loopback name (``localhost``,
``*.localhost``), an IP address, or a name given with ``--allowed-host``; anything else gets a 400 with a reason.
A server bound to any other address (``0.0.0.0``, a LAN address) was exposed on purpose, under names we cannot
know: it accepts every ``Host`` unless ``--allowed-host`` names them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

REASON = "the Host header names a host this server does not answer for (see --allowed-host)."


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_loopback(bind_host: str) -> bool:
    """Whether a bind address only listens on this machine."""
    name = bind_host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    ip = _ip(name)
    return ip is not None and ip.is_loopback


def host_name(header: str) -> str:
    """The host name of a ``Host`` header value: lower case, without port, brackets or a trailing dot."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h[1:]
    if h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


class HostCheck:
    """Which ``Host`` headers a server answers (see the module docstring)."""

    __slots__ = ("allowed", "any_host")

    def __init__(self, bind_host: str, allowed: Iterable[str] = ()) -> None:
        self.allowed = frozenset(host_name(a) for a in allowed if a.strip())
        self.any_host = not self.allowed and not is_loopback(bind_host)

    def accepts(self, header: str | None) -> bool:
        if self.any_host or header is None:  # no Host header: not a browser (HTTP/1.0 tools)
            return True
        name = host_name(header)
        return (name in self.allowed or name == "localhost" or name.endswith(".localhost")
                or _ip(name) is not None)  # fmt: skip
