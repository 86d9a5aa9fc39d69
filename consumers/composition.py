"""The composition root: the one place settings become adapters and an application."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.errors import ConfigurationError
from ledger.policy import load_policy, seed_policy_text

SYSTEM_ACTOR = "ledger"


def event_store_env(settings: Settings) -> dict[str, str]:
    if settings.backend == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.event_store_path),
            # Every act is committed before it is acknowledged; losing one is not an option.
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    raise ConfigurationError(
        f"backend {settings.backend!r} is not available yet; use LEDGER_BACKEND=sqlite"
    )


@contextmanager
def open_ledger(settings: Settings) -> Iterator[LedgerApplication]:
    """The application on the configured backend, with the seed policy published."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = LedgerApplication(load_policy(), env=event_store_env(settings))
    try:
        app.publish_policy(app.policy, seed_policy_text(), SYSTEM_ACTOR, datetime.now(UTC))
        yield app
    finally:
        app.close()
