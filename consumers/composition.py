"""The composition root: the one place settings become adapters and an application."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.crypto.key_cache import CachingKeyStore
from ledger.crypto.key_store_sqlite import SQLiteKeyStore
from ledger.crypto.keys import KeyStore
from ledger.crypto.master_key import master_key_from_settings
from ledger.errors import ConfigurationError
from ledger.policy import load_policy, seed_policy_text

SYSTEM_ACTOR = "ledger"
KEY_CACHE_MAX_AGE_SECONDS = 30.0


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


def open_key_store(settings: Settings) -> KeyStore:
    master = master_key_from_settings(settings)
    if settings.postgres_dsn:
        from ledger.crypto.key_store_postgres import PostgresKeyStore  # noqa: PLC0415 - optional extra

        inner: KeyStore = PostgresKeyStore(settings.postgres_dsn, master)
    else:
        inner = SQLiteKeyStore(settings.key_store_path, master)
    # Bounded in age as well as size: another process (`ledger erase`, the retention
    # enforcer) may shred a key, and a stale cached key must not outlive that for long.
    return CachingKeyStore(inner, max_age=KEY_CACHE_MAX_AGE_SECONDS)


@contextmanager
def open_ledger(settings: Settings) -> Iterator[LedgerApplication]:
    """The application on the configured backend, with the seed policy published."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key_store = open_key_store(settings)
    try:
        app = LedgerApplication(load_policy(), env=event_store_env(settings),
                                key_store=key_store)
        try:
            app.publish_policy(app.policy, seed_policy_text(), SYSTEM_ACTOR,
                               datetime.now(UTC))
            yield app
        finally:
            app.close()
    finally:
        key_store.close()
