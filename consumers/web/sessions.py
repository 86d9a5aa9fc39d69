"""Sessions of people signed in with a token: a random id in a cookie, kept in memory.

The cookie holds only a random session id (HttpOnly, SameSite=Strict, Secure under
TLS); the server keeps the token's hash, so revoking the token ends the session at its
next request, and a CSRF token for the session's forms. A session idle for longer than
the timeout is gone; a restart of the server signs everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SESSION_COOKIE = "ledger_session"
SECURE_SESSION_COOKIE = "__Host-ledger_session"  # only ever set over TLS, Path=/


@dataclass
class Session:
    id: str
    token_hash: str
    csrf: str
    last_seen: float = field(default=0.0)


class Sessions:
    def __init__(self, idle_timeout_s: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_timeout_s = idle_timeout_s
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, token_hash: str) -> Session:
        session = Session(secrets.token_urlsafe(32), token_hash, secrets.token_urlsafe(32),
                          self._clock())
        with self._lock:
            self._expire()
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of that id, its idle clock restarted; None if none."""
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.last_seen > self.idle_timeout_s:
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._sessions.items()
                    if now - s.last_seen > self.idle_timeout_s]:
            del self._sessions[key]


def same_secret(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
