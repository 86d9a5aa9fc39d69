"""The projection store on PostgreSQL, for deployments that outgrow one SQLite file.

Same tables and statements as the SQLite adapter (``projections.sql``), native types
(``uuid``, ``timestamptz``, ``bytea``) and ``COLLATE "C"`` text, so rows sort exactly as
they do in SQLite. A batch runs in one transaction that first locks the position row
(``FOR UPDATE``): a second projector waits, then finds the position moved.
The connection is in autocommit mode with explicit ``BEGIN``/``COMMIT`` for batches,
so a reader never leaves a transaction idle; psycopg prepares repeated statements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql as pgsql

from ledger.errors import translated
from projections import sql
from projections.errors import ProjectionError
from projections.sql_store import Cursor, SQLProjectionStore
from projections.store import TABLES


def _time_out(raw: Any) -> datetime:
    moment: datetime = raw
    return moment.astimezone(UTC)


def _uuid_out(raw: Any) -> UUID:
    return raw if isinstance(raw, UUID) else UUID(str(raw))


DIALECT = sql.Dialect(
    param="%s", uuid_in=lambda u: u, uuid_out=_uuid_out, time_in=lambda t: t,
    time_out=_time_out, least="LEAST", greatest="GREATEST", due_order="due_at NULLS LAST",
    # Text in "C" collation sorts byte-wise, as SQLite's does.
    types={"uuid": "UUID", "int": "BIGINT", "text": 'TEXT COLLATE "C"', "time": "TIMESTAMPTZ",
           "bytes": "BYTEA", "without_rowid": ""},
)


class PostgresProjectionStore(SQLProjectionStore):
    """``ProjectionStore`` in one schema of a PostgreSQL database."""

    dialect = DIALECT
    driver_error = psycopg.Error
    begin_write = "BEGIN"
    # A second projector's begin waits for this batch, then finds the position moved.
    lock_position = " FOR UPDATE"

    def __init__(self, dsn: str, *, schema: str = "ledger_projections") -> None:
        self.schema = schema
        super().__init__(schema)
        with translated(psycopg.Error, ProjectionError, "cannot connect the projection store"):
            self._db = psycopg.connect(dsn, autocommit=True)
        try:
            with self._translated("open"):
                self._db.execute("SET TIME ZONE 'UTC'")
                self._db.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    pgsql.Identifier(schema)))
                self._db.execute(pgsql.SQL("SET search_path TO {}").format(
                    pgsql.Identifier(schema)))
                self._migrate()
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def drop(self) -> None:
        """Removes the schema with everything in it (tests and benchmarks)."""
        with self._locked("drop"):
            self._db.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                pgsql.Identifier(self.schema)))

    # -- what PostgreSQL does its own way ----------------------------------------------

    def _execute(self, text: str, params: sql.Params | None = None) -> Cursor:
        return self._db.execute(text.encode(), params)

    def _execute_many(self, text: str, rows: Sequence[sql.Params]) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(text.encode(), rows)

    def _in_transaction(self) -> bool:
        return self._db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def _lock_for_migration(self) -> None:
        self._execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")

    def _empty_tables(self) -> None:
        self._db.execute(pgsql.SQL("TRUNCATE {}").format(
            pgsql.SQL(", ").join(pgsql.Identifier(t) for t in TABLES)))

    def _load_docs(self, subject_ids: list[UUID]) -> Mapping[UUID, bytes]:
        rows = self._db.execute(
            "SELECT subject_id, doc FROM subjects WHERE subject_id = ANY(%s)",
            (subject_ids,), prepare=True).fetchall()
        return {_uuid_out(r[0]): bytes(r[1]) for r in rows}
