"""What every route of the web process shares: the backend and stores (on the ledger
thread), the office key, the sessions, and the server's settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from consumers.access.log import AccessLog
from consumers.services.ports import Backend
from consumers.web.sessions import SECURE_SESSION_COOKIE, SESSION_COOKIE, Sessions
from consumers.web.throttle import SignInThrottle
from consumers.web.tokens import TokenStore
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

    def __post_init__(self) -> None:
        self.sessions = Sessions(self.config.idle_timeout_s)

    async def read(self, fn: Callable[[LedgerReader], T]) -> T:
        """``fn`` over a reader caught up with the log, on the ledger thread."""
        def caught_up() -> T:
            with self.backend.reading() as reader:
                return fn(reader)
        return await self.worker.run(caught_up)
