"""Server-side login state: which sessions are live, and which clients are locked out after failed logins.

Flask's session cookie is signed, not stored: clearing it on logout does nothing to a copy of it. So the cookie
carries only a random session id, and this registry is the authority: logout (or expiry) removes the id, and
a copied cookie stops working. Both tables are bounded, so no client can grow them without limit; the state is
per process (a restart logs everyone out).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict

SESSION_TTL_S = 12 * 3600.0
MAX_SESSIONS = 10_000
MAX_FAILURES = 5  # failed logins per client ...
FAILURE_WINDOW_S = 300.0  # ... within this window lock the client out for the rest of it
MAX_CLIENTS = 10_000


class Sessions:
    """Live session ids with their expiry (oldest evicted beyond :data:`MAX_SESSIONS`)."""

    def __init__(self, ttl_s: float = SESSION_TTL_S, max_sessions: int = MAX_SESSIONS) -> None:
        self._ttl, self._max = ttl_s, max_sessions
        self._live: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def start(self) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._live[sid] = time.monotonic() + self._ttl
            while len(self._live) > self._max:
                self._live.popitem(last=False)
        return sid

    def valid(self, sid: object) -> bool:
        if not isinstance(sid, str):
            return False
        with self._lock:
            expiry = self._live.get(sid)
            if expiry is None:
                return False
            if expiry < time.monotonic():
                del self._live[sid]
                return False
            return True

    def end(self, sid: object) -> None:
        if isinstance(sid, str):
            with self._lock:
                self._live.pop(sid, None)


class FailedLogins:
    """Failed login attempts per client; :data:`MAX_FAILURES` within :data:`FAILURE_WINDOW_S` lock it out."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S,
                 max_clients: int = MAX_CLIENTS) -> None:  # fmt: skip
        self._max, self._window, self._clients = max_failures, window_s, max_clients
        self._seen: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: it may try now)."""
        now = time.monotonic()
        with self._lock:
            times = [t for t in self._seen.get(client, ()) if t > now - self._window]
            if len(times) < self._max:
                return 0
            return max(1, int(times[0] + self._window - now + 0.999))

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            times = [t for t in self._seen.pop(client, ()) if t > now - self._window]
            times.append(now)
            self._seen[client] = times[-self._max :]
            while len(self._seen) > self._clients:
                self._seen.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._seen.pop(client, None)
