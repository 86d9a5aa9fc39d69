"""The token store in PostgreSQL (schema ``ledger_web``), when ``LEDGER_POSTGRES_DSN``
is set: several console hosts then share one set of tokens."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from consumers.web.tokens import SQLTokenStore, TokenStoreError
from ledger.errors import translated

DEFAULT_SCHEMA = "ledger_web"


class PostgresTokenStore(SQLTokenStore):
    param = "%s"

    def __init__(self, dsn: str, *, schema: str = DEFAULT_SCHEMA) -> None:
        self.table = f'"{schema}".tokens'
        self._lock = threading.Lock()
        with translated(psycopg.Error, TokenStoreError,
                        f"cannot open the token store in PostgreSQL schema {schema}"):
            self._db = psycopg.connect(dsn, autocommit=True)
            with self._db.transaction():
                self._db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    sql.Identifier(schema)))
                self._db.execute(sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.tokens (name TEXT PRIMARY KEY, "
                    "role TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, "
                    "created_at TEXT NOT NULL, revoked_at TEXT)").format(
                        sql.Identifier(schema)))

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        with (self._lock,
              translated(psycopg.Error, TokenStoreError, "the PostgreSQL token store failed"),
              self._db.transaction(), self._db.cursor() as cursor):
            yield cursor

    def close(self) -> None:
        with self._lock:
            self._db.close()
