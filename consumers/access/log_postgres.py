"""The access log in PostgreSQL (schema ``ledger_access``), when ``LEDGER_POSTGRES_DSN``
is set: every console host then writes to, and auditors read, one log.

Append-only there too: plpgsql triggers refuse UPDATE, DELETE and TRUNCATE (any of them
missing, say dropped by hand, is made again when a log opens). An append takes a
transaction-scoped advisory lock before it reads the last entry, so hosts appending
together get contiguous sequence numbers and one unbroken chain; an advisory lock needs
no privilege beyond INSERT and SELECT on the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from consumers.access.log import AccessLog, AccessLogError
from ledger.errors import translated

DEFAULT_SCHEMA = "ledger_access"
APPLICATION_NAME = "ledger-access-log"  # how its connections show in pg_stat_activity
_TRIGGERS = {"access_log_no_update": "UPDATE", "access_log_no_delete": "DELETE",
             "access_log_no_truncate": "TRUNCATE"}
_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    viewer TEXT NOT NULL,
    role TEXT NOT NULL,
    channel TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    shown TEXT NOT NULL,
    categories TEXT NOT NULL,
    case_ref TEXT NOT NULL,
    purpose TEXT NOT NULL,
    digest TEXT NOT NULL
)"""
_INDEX = "CREATE INDEX IF NOT EXISTS access_log_subject ON {table} (subject_id, seq)"
_IMPORTS = ("CREATE TABLE IF NOT EXISTS {imports} (head TEXT PRIMARY KEY, source TEXT NOT NULL,"
            " entries INTEGER NOT NULL, at TEXT NOT NULL)")
_REFUSE = """
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the access log is append-only' USING ERRCODE = 'restrict_violation';
END
$$"""
# Statement-level: refused even where no row matches, and TRUNCATE has no rows.
_TRIGGER = ("CREATE TRIGGER {name} BEFORE {operation} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION {function}()")


class PostgresAccessLog(AccessLog):
    """The append-only access log in a PostgreSQL schema, shared by every host."""

    param = "%s"
    driver_errors = (psycopg.Error,)

    def __init__(self, dsn: str, *, schema: str = DEFAULT_SCHEMA,
                 connect_timeout: float = 10.0) -> None:
        self.schema = schema
        self.table = sql.Identifier(schema, "access_log").as_string()
        self.imports_table = sql.Identifier(schema, "access_log_imports").as_string()
        self.label = f"the access log in PostgreSQL schema {schema}"
        self._lock_key = f"ledger-access-log:{schema}"
        # A pool that checks a connection before handing it out: a restarted server
        # costs the request in flight, not every request until the process restarts.
        # Explicitly READ COMMITTED: under REPEATABLE READ an append's snapshot would
        # predate the lock it waited for.
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            dsn, min_size=1, max_size=2, open=False, check=ConnectionPool.check_connection,
            name=f"access-log-{schema}",
            kwargs={"autocommit": True, "application_name": APPLICATION_NAME},
            configure=_read_committed)
        with translated((psycopg.Error, PoolTimeout), AccessLogError,
                        f"cannot open {self.label}"):
            self._pool.open(wait=True, timeout=connect_timeout)
            try:
                self._create()
            except BaseException:
                self._pool.close()
                raise

    def _create(self) -> None:
        names = {"table": sql.Identifier(self.schema, "access_log"),
                 "imports": sql.Identifier(self.schema, "access_log_imports"),
                 "function": sql.Identifier(self.schema, "access_log_append_only")}
        with self._pool.connection() as db, db.transaction():
            # Hosts opening together must not race on CREATE ... IF NOT EXISTS.
            db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_key,))
            db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(self.schema)))
            for statement in (_TABLE, _INDEX, _IMPORTS, _REFUSE):
                db.execute(sql.SQL(statement).format(**names))
            present = {row[0] for row in db.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass "
                "AND NOT tgisinternal", (self.table,))}
            for name, operation in _TRIGGERS.items():
                if name not in present:
                    db.execute(sql.SQL(_TRIGGER).format(
                        name=sql.Identifier(name), operation=sql.SQL(operation), **names))

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        with (self._pool.connection() as db, db.transaction(), db.cursor() as cursor):
            # Held until commit: the next host's append reads this one's entry as last.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_key,))
            yield cursor

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        with self._pool.connection() as db, db.cursor() as cursor:
            yield cursor

    def close(self) -> None:
        self._pool.close()


def _read_committed(db: psycopg.Connection[Any]) -> None:
    db.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
