"""The token store in PostgreSQL (schema ``ledger_web``), when ``LEDGER_POSTGRES_DSN``
is set: several console hosts then share one set of tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from consumers.web.tokens import SQLTokenStore, TokenStoreError
from ledger.errors import translated

DEFAULT_SCHEMA = "ledger_web"
APPLICATION_NAME = "ledger-tokens"  # how its connections show in pg_stat_activity


class PostgresTokenStore(SQLTokenStore):
    param = "%s"

    def __init__(self, dsn: str, *, schema: str = DEFAULT_SCHEMA,
                 connect_timeout: float = 10.0) -> None:
        self.table = f'"{schema}".tokens'
        # A pool that checks a connection before handing it out: a restarted server
        # costs the request in flight, not every sign-in until the process restarts.
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            dsn, min_size=1, max_size=2, open=False, check=ConnectionPool.check_connection,
            name=f"tokens-{schema}",
            kwargs={"autocommit": True, "application_name": APPLICATION_NAME})
        with translated((psycopg.Error, PoolTimeout), TokenStoreError,
                        f"cannot open the token store in PostgreSQL schema {schema}"):
            self._pool.open(wait=True, timeout=connect_timeout)
            try:
                with self._pool.connection() as db, db.transaction():
                    db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        sql.Identifier(schema)))
                    db.execute(sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {}.tokens (name TEXT PRIMARY KEY, "
                        "role TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, "
                        "created_at TEXT NOT NULL, revoked_at TEXT)").format(
                            sql.Identifier(schema)))
            except BaseException:
                self._pool.close()
                raise

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        with (translated(psycopg.Error, TokenStoreError, "the PostgreSQL token store failed"),
              self._pool.connection() as db, db.transaction(), db.cursor() as cursor):
            yield cursor

    def close(self) -> None:
        self._pool.close()
