"""What every route of the web process shares: the backend and stores (on the ledger
thread), the office key, the sessions, and the server's settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from consumers.access.log import AccessLog
from consumers.services.ports import Backend
from consumers.web.sessions import SECURE_SESSION_COOKIE, SESSION_COOKIE, Sessions
from consumers.web.throttle import SignInThrottle
from consumers.web.tokens import Principal, TokenStore
from consumers.web.worker import LedgerWorker
from ledger.crypto.office_signing import OfficeKey
from projections.reader import LedgerReader

T = TypeVar("T")
DEFAULT_MAX_ACTS_BODY = 4 * 1024 * 1024
DEFAULT_MAX_BODY = 256 * 1024


@dataclass(frozen=True)
class WebConfig:
    tls: bool = False
    idle_timeout_s: float = 15 * 60.0
    max_acts_body: int = DEFAULT_MAX_ACTS_BODY  # POST /v1/acts
    max_body: int = DEFAULT_MAX_BODY  # every other request with a body
    wait_s: float = 30.0  # on Kafka: how long an act waits for `ledger serve`
    # How long a token check is reused: a token revoked by another process (`ledger
    # tokens revoke`) is refused at most this long after; a revocation through this
    # process's API or pages at once.
    token_cache_s: float = 1.0

    @property
    def session_cookie(self) -> str:
        return SECURE_SESSION_COOKIE if self.tls else SESSION_COOKIE


@dataclass
class WebContext:
    config: WebConfig
    worker: LedgerWorker
    backend: Backend
    access_log: AccessLog
    tokens: TokenStore
    office: OfficeKey
    sessions: Sessions = field(init=False)
    throttle: SignInThrottle = field(default_factory=SignInThrottle)

    _principals: dict[str, tuple[Principal, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sessions = Sessions(self.config.idle_timeout_s)

    async def principal_of_hash(self, hashed: str) -> Principal | None:
        """The live token's holder, checked in the token store at most once per
        ``token_cache_s`` (each check is a trip to the ledger thread)."""
        now = time.monotonic()
        cached = self._principals.get(hashed)
        if cached is not None and now - cached[1] < self.config.token_cache_s:
            return cached[0]
        principal: Principal | None = await self.worker.run(self.tokens.principal_of_hash,
                                                            hashed)
        if principal is None:
            self._principals.pop(hashed, None)
        else:
            if len(self._principals) > 10_000:
                self._principals.clear()
            self._principals[hashed] = (principal, now)
        return principal

    def forget_tokens(self) -> None:
        """After a revocation here: every token is checked again at its next use."""
        self._principals.clear()

    async def read(self, fn: Callable[[LedgerReader], T]) -> T:
        """``fn`` over a reader caught up with the log, on the ledger thread."""
        def caught_up() -> T:
            with self.backend.reading() as reader:
                return fn(reader)
        return await self.worker.run(caught_up)
