"""The collector's HTTP server: waitress, hardened against slow, idle and ambiguous connections.

waitress reads every request on one event loop (``poll``) and hands a worker thread only a request that has
fully arrived, so a connection that trickles bytes costs a socket and a buffer, never a worker. On top of that:

- a request must arrive whole (headers and body) within ``request_timeout`` seconds of its first byte, else the
  connection is closed (slow-loris);
- a connection with no request in progress is closed after ``idle_timeout`` seconds;
- one client address holds at most ``max_per_client`` connections (more are closed at once); at
  ``max_connections`` a new connection closes the one whose request has been arriving longest, else the one idle
  longest (a connection whose request is being answered is never closed; when all are, the new one is);
- a request with both ``Transfer-Encoding`` and ``Content-Length`` is answered 400 and its connection closed
  (RFC 9112 6.1: the two disagree about where the body ends, the classic request-smuggling vector).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any, cast

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from streamscope.collector.limits import Limits

OnClose = Callable[[str], None]  # called with the reason a connection was closed by a limit


class _Parser(HTTPRequestParser):
    """Stamps the arrival of a request's first byte; refuses Transfer-Encoding with Content-Length."""

    def __init__(self, adj: Adjustments) -> None:
        super().__init__(adj)
        self.started = time.monotonic()

    def parse_header(self, header_plus: bytes) -> None:
        names = {line.split(b":", 1)[0].strip().lower() for line in header_plus.split(b"\n")[1:]}
        if b"transfer-encoding" in names and b"content-length" in names:
            super().parse_header(
                header_plus.split(b"\n", 1)[0] + b"\r\n"
            )  # the request line only (the version)
            self.connection_close = True
            raise ParsingError("a request must not carry both Transfer-Encoding and Content-Length")
        super().parse_header(header_plus)


class _Channel(HTTPChannel):
    parser_class = _Parser
    server: EdgeServer
    request: _Parser | None

    def __init__(
        self, server: EdgeServer, sock: socket.socket, addr: Any, adj: Adjustments, map: Any = None
    ) -> None:
        self.client_ip = _ip(addr)
        self._counted = False
        super().__init__(server, sock, addr, adj, map)

    def add_channel(self, map: Any = None) -> None:
        super().add_channel(map)
        if not self._counted:
            self._counted = True
            clients = self.server.clients
            clients[self.client_ip] = clients.get(self.client_ip, 0) + 1

    def del_channel(self, map: Any = None) -> None:
        super().del_channel(map)
        if self._counted:
            self._counted = False
            clients = self.server.clients
            n = clients.get(self.client_ip, 0) - 1
            if n > 0:
                clients[self.client_ip] = n
            else:
                clients.pop(self.client_ip, None)


def _ip(addr: Any) -> str:
    return str(addr[0]) if isinstance(addr, tuple) and addr else str(addr)


class EdgeServer(TcpWSGIServer):
    channel_class = _Channel

    def __init__(self, *args: Any, limits: Limits, on_close: OnClose | None = None, **kw: Any) -> None:
        self.limits = limits
        self.on_close = on_close or (lambda _reason: None)
        self.clients: dict[str, int] = {}
        super().__init__(*args, **kw)

    def handle_accept(self) -> None:
        try:
            v = self.accept()
            if v is None:
                return
            conn, addr = v
            self.set_socket_options(conn)
        except OSError:
            return
        addr = self.fix_addr(addr)
        if self.clients.get(_ip(addr), 0) >= self.limits.http_max_connections_per_client:
            self.on_close("per_client_limit")  # counted first: a client sees the close only after the count
            conn.close()
            return
        if len(self._channels()) >= self.limits.http_max_connections and not self._evict():
            self.on_close(
                "connection_limit"
            )  # every connection has a request being answered: none can make room
            conn.close()
            return
        # the stubs leave out asyncore's _map
        self.channel_class(self, conn, addr, self.adj, map=self._map)  # type: ignore[attr-defined]

    def _channels(self) -> dict[int, _Channel]:
        return cast("dict[int, _Channel]", self.active_channels)  # the stubs type it as one channel

    def _evict(self) -> bool:
        """Make room for a new connection at the limit: close the connection whose request has been arriving
        longest, else the one idle longest (never one whose request is being answered)."""
        partial: _Channel | None = None
        idle: _Channel | None = None
        partial_started = 0.0
        for ch in self._channels().values():
            if ch.requests or ch.will_close:
                continue
            if ch.request is not None:
                if partial is None or ch.request.started < partial_started:
                    partial, partial_started = ch, ch.request.started
            elif idle is None or ch.last_activity < idle.last_activity:
                idle = ch
        victim = partial or idle
        if victim is None:
            return False
        self.on_close("evicted")
        victim.handle_close()
        return True

    def maintenance(self, now: float) -> None:
        """Close connections idle too long (waitress's own rule) and requests still arriving after their deadline."""
        super().maintenance(now)  # type: ignore[arg-type]  # the stubs say int; waitress passes time.time()
        cutoff = time.monotonic() - self.limits.http_request_timeout
        closed = False
        for channel in list(self._channels().values()):
            req = channel.request
            if req is not None and not req.completed and req.started < cutoff and not channel.will_close:
                channel.will_close = True
                closed = True
                self.on_close("request_timeout")
        if closed:
            self.pull_trigger()  # wake the loop so the channels marked above are closed now


def create_http_server(app: Any, host: str, port: int, limits: Limits, threads: int,
                       on_close: OnClose | None = None, *, sock: socket.socket | None = None) -> EdgeServer:  # fmt: skip
    """Serve ``app`` on ``host:port``, or on ``sock`` when given: a TCP socket already bound and listening (then
    ``host`` and ``port`` are not used), as the dashboard binds its port before it starts serving."""
    where: dict[str, Any] = {"sockets": [sock]} if sock is not None else {"host": host, "port": port}
    adj = Adjustments(
        **where, threads=threads, ident="streamscope",
        # waitress's own limit (it stops accepting) only backs up ours, which evicts instead (EdgeServer._evict)
        max_request_body_size=limits.max_body_bytes + 1024, connection_limit=limits.http_max_connections + 64,
        channel_timeout=limits.http_idle_timeout, cleanup_interval=1, asyncore_use_poll=True,
        max_request_header_size=limits.http_max_header_bytes, inbuf_overflow=limits.http_buffer_bytes,
        outbuf_overflow=limits.http_buffer_bytes,
        clear_untrusted_proxy_headers=True, asyncore_loop_timeout=1,  # waitress int()s it: 0.1 was a busy loop
        recv_bytes=256 * 1024,  # an OTLP body of 512 spans is ~130 KB: read it in one or two recv() calls
    )  # fmt: skip
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    sock_map: dict[int, Any] = {}
    if sock is not None:
        sockinfo = (sock.family, sock.type, sock.proto, sock.getsockname())
        return EdgeServer(app, sock_map, _sock=sock, bind_socket=False, dispatcher=dispatcher, adj=adj,
                          sockinfo=sockinfo, limits=limits, on_close=on_close)  # fmt: skip
    server: EdgeServer | None = None
    # the stubs say list[str]: they are (family, socktype, proto, sockaddr) tuples
    for sockinfo in cast("list[tuple[Any, ...]]", adj.listen):
        if sockinfo[0] not in (socket.AF_INET, socket.AF_INET6):
            continue
        server = EdgeServer(app, sock_map, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo, limits=limits,
                            on_close=on_close)  # fmt: skip
    if server is None:
        raise OSError(f"cannot listen on {host}:{port}")
    return server
