"""The projection store on PostgreSQL, for deployments that outgrow one SQLite file.

Same tables and statements as the SQLite adapter (``projections.sql``), native types
(``uuid``, ``timestamptz``, ``bytea``) and ``COLLATE "C"`` text, so rows sort exactly as
they do in SQLite. A batch runs in one transaction that first locks the position row
(``FOR UPDATE``): a second projector waits, then finds the position moved.
The connection is in autocommit mode with explicit ``BEGIN``/``COMMIT`` for batches,
so a reader never leaves a transaction idle; psycopg prepares repeated statements.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql as pgsql

from projections import sql
from projections.errors import PositionMoved, ProjectionError
from projections.rows import (
    AuditRow,
    Changes,
    ValueRow,
)
from projections.store import STORE_SCHEMA, TABLES
from projections.store_reads import StoreReads

_T = 'TEXT COLLATE "C"'
_DDL = """
CREATE TABLE IF NOT EXISTS projection_meta (name TEXT_C PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS subjects (
    subject_id UUID PRIMARY KEY, version BIGINT NOT NULL, notification_id BIGINT NOT NULL,
    doc BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    notification_id BIGINT PRIMARY KEY, subject_id UUID, version BIGINT NOT NULL,
    event_type TEXT_C NOT NULL, topic TEXT_C NOT NULL, act_id TEXT_C NOT NULL,
    actor TEXT_C NOT NULL, policy_version TEXT_C NOT NULL, occurred_at TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL, detail BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit (subject_id, notification_id);
CREATE TABLE IF NOT EXISTS value_log (
    notification_id BIGINT NOT NULL, subject_id UUID NOT NULL, version BIGINT NOT NULL,
    field TEXT_C NOT NULL, category TEXT_C NOT NULL, purpose TEXT_C NOT NULL, scope TEXT_C NOT NULL,
    key_id UUID NOT NULL, blob BYTEA NOT NULL, event_type TEXT_C NOT NULL,
    act_id TEXT_C NOT NULL, occurred_at TIMESTAMPTZ,
    PRIMARY KEY (notification_id, field, category));
CREATE INDEX IF NOT EXISTS value_log_by_subject ON value_log (subject_id, notification_id);
CREATE TABLE IF NOT EXISTS disclosures (
    notification_id BIGINT PRIMARY KEY, subject_id UUID NOT NULL, recipient TEXT_C NOT NULL,
    recipient_kind TEXT_C NOT NULL, purpose TEXT_C NOT NULL, ground TEXT_C NOT NULL,
    categories TEXT_C NOT NULL, act_id TEXT_C NOT NULL, occurred_at TIMESTAMPTZ NOT NULL);
CREATE INDEX IF NOT EXISTS disclosures_by_recipient
    ON disclosures (recipient, subject_id, notification_id);
CREATE INDEX IF NOT EXISTS disclosures_by_subject ON disclosures (subject_id, notification_id);
CREATE TABLE IF NOT EXISTS retention_schedule (
    subject_id UUID NOT NULL, scope TEXT_C NOT NULL, due_at TIMESTAMPTZ, holds TEXT_C NOT NULL,
    PRIMARY KEY (subject_id, scope));
CREATE INDEX IF NOT EXISTS retention_by_due ON retention_schedule (due_at);
CREATE TABLE IF NOT EXISTS requests (
    subject_id UUID NOT NULL, seq BIGINT NOT NULL, request_ref TEXT_C NOT NULL,
    kind TEXT_C NOT NULL, channel TEXT_C NOT NULL, act_id TEXT_C NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL, due_at TIMESTAMPTZ NOT NULL,
    extended_months BIGINT NOT NULL, reasons TEXT_C NOT NULL, status TEXT_C NOT NULL,
    closed_at TIMESTAMPTZ, PRIMARY KEY (subject_id, seq));
CREATE INDEX IF NOT EXISTS requests_by_status_due ON requests (status, due_at);
CREATE TABLE IF NOT EXISTS ropa (
    purpose TEXT_C NOT NULL, kind TEXT_C NOT NULL, item TEXT_C NOT NULL, qualifier TEXT_C NOT NULL,
    acts BIGINT NOT NULL, first_at TIMESTAMPTZ NOT NULL, last_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (purpose, kind, item, qualifier));
INSERT INTO projection_meta (name, value) VALUES ('position', 0) ON CONFLICT DO NOTHING
""".replace("TEXT_C", _T)


def _time_out(raw: Any) -> datetime:
    moment: datetime = raw
    return moment.astimezone(UTC)


def _uuid_out(raw: Any) -> UUID:
    return raw if isinstance(raw, UUID) else UUID(str(raw))


DIALECT = sql.Dialect(
    param="%s", uuid_in=lambda u: u, uuid_out=_uuid_out, time_in=lambda t: t,
    time_out=_time_out, least="LEAST", greatest="GREATEST", due_order="due_at NULLS LAST",
)


class PostgresProjectionStore(StoreReads):
    """``ProjectionStore`` in one schema of a PostgreSQL database."""

    dialect = DIALECT

    def __init__(self, dsn: str, *, schema: str = "ledger_projections") -> None:
        self.schema = schema
        self._lock = threading.RLock()
        try:
            self._db = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as error:
            raise ProjectionError(
                f"cannot connect the projection store ({type(error).__name__})") from error
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

    def _migrate(self) -> None:
        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
            self._db.execute(_DDL.split(";")[0].encode())
            row = self._db.execute(
                "SELECT value FROM projection_meta WHERE name = 'schema'").fetchone()
            if row is not None and row[0] != STORE_SCHEMA:
                # Derived data in an older shape: drop it; the catch-up rebuilds it.
                for table in TABLES:
                    self._db.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(
                        pgsql.Identifier(table)))
                self._db.execute("DELETE FROM projection_meta")
            for statement in _DDL.split(";"):
                if statement.strip():
                    self._db.execute(statement.encode())
            self._db.execute(
                "INSERT INTO projection_meta (name, value) VALUES ('schema', %s)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value", (STORE_SCHEMA,))

    # -- writing -----------------------------------------------------------------------

    def position(self) -> int:
        with self._locked("read the position"):
            return self._position()

    def _position(self, *, lock: bool = False) -> int:
        text = "SELECT value FROM projection_meta WHERE name = 'position'"
        row = self._db.execute(text + (" FOR UPDATE" if lock else "")).fetchone()
        return int(row[0]) if row else 0

    def begin(self, expected_position: int) -> _Transaction:
        self._lock.acquire()
        try:
            with self._translated("begin a batch"):
                self._db.execute("BEGIN")
                current = self._position(lock=True)
                if current != expected_position:
                    self._db.execute("ROLLBACK")
                    raise PositionMoved(
                        f"the projection position is {current}, not {expected_position}")
        except BaseException:
            if self._db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                self._db.execute("ROLLBACK")
            self._lock.release()
            raise
        return _Transaction(self, expected_position)

    def reset(self) -> None:
        with self._locked("reset"), self._db.transaction():
            self._db.execute(pgsql.SQL("TRUNCATE {}").format(
                pgsql.SQL(", ").join(pgsql.Identifier(t) for t in TABLES)))
            self._db.execute("UPDATE projection_meta SET value = 0 WHERE name = 'position'")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def drop(self) -> None:
        """Removes the schema with everything in it (tests and benchmarks)."""
        with self._locked("drop"):
            self._db.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                pgsql.Identifier(self.schema)))

    # -- reading -----------------------------------------------------------------------

    def subject_doc(self, subject_id: UUID) -> bytes | None:
        with self._locked("read a subject"):
            row = self._db.execute("SELECT doc FROM subjects WHERE subject_id = %s",
                                   (subject_id,), prepare=True).fetchone()
        return None if row is None else bytes(row[0])

    def subject_count(self) -> int:
        with self._locked("count subjects"):
            row = self._db.execute("SELECT count(*) FROM subjects").fetchone()
        return int(row[0]) if row else 0

    def audit_rows(
        self, *, subject_id: UUID | None = None, occurred_until: datetime | None = None,
        recorded_until: datetime | None = None, after: int = 0, limit: int | None = None,
    ) -> list[AuditRow]:
        text, params = sql.audit_query(DIALECT, subject_id=subject_id,
                                       occurred_until=occurred_until,
                                       recorded_until=recorded_until, after=after, limit=limit)
        return [sql.audit_row(DIALECT, r) for r in self._fetch(text, params)]

    def value_rows(self, subject_id: UUID) -> list[ValueRow]:
        text = (f"SELECT {sql.VALUE_COLUMNS} FROM value_log WHERE subject_id = %s"  # noqa: S608
                " ORDER BY notification_id, field, category")
        return [sql.value_row(DIALECT, r) for r in self._fetch(text, (subject_id,))]

    # -- plumbing ----------------------------------------------------------------------

    def _fetch(self, text: str, params: sql.Params) -> list[sql.Params]:
        with self._locked("read"):
            return [tuple(r) for r in self._db.execute(text.encode(), params).fetchall()]

    @contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        with self._lock, self._translated(what):
            yield

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as error:
            raise ProjectionError(
                f"projection store {self.schema}: cannot {what} ({type(error).__name__})"
            ) from error


class _Transaction:
    def __init__(self, store: PostgresProjectionStore, expected_position: int) -> None:
        self._store = store
        self._db = store._db
        self._expected = expected_position
        self._open = True

    def load_docs(self, subject_ids: Collection[UUID]) -> Mapping[UUID, bytes]:
        with self._store._translated("load subjects"):
            rows = self._db.execute(
                "SELECT subject_id, doc FROM subjects WHERE subject_id = ANY(%s)",
                (sorted(subject_ids),), prepare=True).fetchall()
        return {_uuid_out(r[0]): bytes(r[1]) for r in rows}

    def write(self, changes: Changes) -> None:
        if changes.position <= self._expected:
            raise ProjectionError(
                f"a batch must move the position forward from {self._expected}, "
                f"not to {changes.position}")
        with self._store._translated("write a batch"), self._db.cursor() as cursor:
            for statement, rows in sql.write_statements(DIALECT, changes):
                cursor.executemany(statement.encode(), rows)

    def commit(self) -> None:
        self._finish("COMMIT")

    def rollback(self) -> None:
        self._finish("ROLLBACK")

    def _finish(self, verb: str) -> None:
        if not self._open:
            return
        self._open = False
        try:
            with self._store._translated(verb.lower()):
                try:
                    self._db.execute(verb)
                except psycopg.Error:
                    if self._db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                        self._db.execute("ROLLBACK")
                    raise
        finally:
            self._store._lock.release()
