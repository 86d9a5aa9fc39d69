"""The embedded projection store: one SQLite file (``settings.projection_store_path``).

``secure_delete`` zeroes deleted rows and freed pages (a rewritten subject document or
a reset leaves nothing behind in free pages), although the store never holds a
plaintext personal value in the first place. WAL lets readers in other processes go on
while a projector writes; ``synchronous=NORMAL`` suffices because a batch is atomic
either way and a lost last batch is simply projected again from the log.

One connection guarded by a lock: a transaction holds the lock from ``begin`` to
``commit``, so a batch and its position cannot interleave with another writer here,
and ``BEGIN IMMEDIATE`` keeps writers in other processes out.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from projections import sql
from projections.errors import PositionMoved, ProjectionError
from projections.rows import (
    AuditRow,
    Changes,
    ValueRow,
)
from projections.store import STORE_SCHEMA, TABLES
from projections.store_reads import StoreReads

_DDL = """
CREATE TABLE IF NOT EXISTS projection_meta (
    name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subjects (
    subject_id BLOB PRIMARY KEY, version INTEGER NOT NULL,
    notification_id INTEGER NOT NULL, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    notification_id INTEGER PRIMARY KEY, subject_id BLOB, version INTEGER NOT NULL,
    event_type TEXT NOT NULL, topic TEXT NOT NULL, act_id TEXT NOT NULL,
    actor TEXT NOT NULL, policy_version TEXT NOT NULL, occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL, detail BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit (subject_id, notification_id);
CREATE TABLE IF NOT EXISTS value_log (
    notification_id INTEGER NOT NULL, subject_id BLOB NOT NULL, version INTEGER NOT NULL,
    field TEXT NOT NULL, category TEXT NOT NULL, purpose TEXT NOT NULL,
    scope TEXT NOT NULL, key_id BLOB NOT NULL, blob BLOB NOT NULL,
    event_type TEXT NOT NULL, act_id TEXT NOT NULL, occurred_at TEXT,
    PRIMARY KEY (notification_id, field, category));
CREATE INDEX IF NOT EXISTS value_log_by_subject ON value_log (subject_id, notification_id);
CREATE TABLE IF NOT EXISTS disclosures (
    notification_id INTEGER PRIMARY KEY, subject_id BLOB NOT NULL, recipient TEXT NOT NULL,
    recipient_kind TEXT NOT NULL, purpose TEXT NOT NULL, ground TEXT NOT NULL,
    categories TEXT NOT NULL, act_id TEXT NOT NULL, occurred_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS disclosures_by_recipient
    ON disclosures (recipient, subject_id, notification_id);
CREATE INDEX IF NOT EXISTS disclosures_by_subject ON disclosures (subject_id, notification_id);
CREATE TABLE IF NOT EXISTS retention_schedule (
    subject_id BLOB NOT NULL, scope TEXT NOT NULL, due_at TEXT, holds TEXT NOT NULL,
    PRIMARY KEY (subject_id, scope)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS retention_by_due ON retention_schedule (due_at);
CREATE TABLE IF NOT EXISTS requests (
    subject_id BLOB NOT NULL, seq INTEGER NOT NULL, request_ref TEXT NOT NULL,
    kind TEXT NOT NULL, channel TEXT NOT NULL, act_id TEXT NOT NULL,
    requested_at TEXT NOT NULL, due_at TEXT NOT NULL, extended_months INTEGER NOT NULL,
    reasons TEXT NOT NULL, status TEXT NOT NULL, closed_at TEXT,
    PRIMARY KEY (subject_id, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS requests_by_status_due ON requests (status, due_at);
CREATE TABLE IF NOT EXISTS ropa (
    purpose TEXT NOT NULL, kind TEXT NOT NULL, item TEXT NOT NULL, qualifier TEXT NOT NULL,
    acts INTEGER NOT NULL, first_at TEXT NOT NULL, last_at TEXT NOT NULL,
    PRIMARY KEY (purpose, kind, item, qualifier)) WITHOUT ROWID;
INSERT OR IGNORE INTO projection_meta (name, value) VALUES ('position', 0);
"""


def _time_in(moment: datetime) -> str:
    # Fixed-width UTC text sorts as the instants do, so range queries use the indexes.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _uuid_out(raw: Any) -> UUID:
    return UUID(bytes=bytes(raw))


def _time_out(raw: Any) -> datetime:
    return datetime.fromisoformat(str(raw))


DIALECT = sql.Dialect(
    param="?", uuid_in=lambda u: u.bytes, uuid_out=_uuid_out, time_in=_time_in,
    time_out=_time_out, least="min", greatest="max", due_order="due_at IS NULL, due_at",
)
_LOAD_CHUNK = 500


class SQLiteProjectionStore(StoreReads):
    """``ProjectionStore`` on a SQLite file, created 0600 if missing."""

    dialect = DIALECT

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                       check_same_thread=False, cached_statements=256)
        except (OSError, sqlite3.Error) as error:
            raise ProjectionError(
                f"cannot open the projection store at {self.path} ({type(error).__name__})"
            ) from error
        try:
            with self._translated("open"):
                for pragma in ("journal_mode = WAL", "synchronous = NORMAL",
                               "secure_delete = ON", "cache_size = -65536",
                               "temp_store = MEMORY"):
                    self._db.execute(f"PRAGMA {pragma}")
                self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _migrate(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("CREATE TABLE IF NOT EXISTS projection_meta ("
                             "name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID")
            row = self._db.execute(
                "SELECT value FROM projection_meta WHERE name = 'schema'").fetchone()
            if row is not None and row[0] != STORE_SCHEMA:
                # Derived data in an older shape: drop it; the catch-up rebuilds it.
                for table in TABLES:
                    self._db.execute(f"DROP TABLE IF EXISTS {table}")
                self._db.execute("DELETE FROM projection_meta")
            for statement in _DDL.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute("INSERT OR REPLACE INTO projection_meta (name, value)"
                             " VALUES ('schema', ?)", (STORE_SCHEMA,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    # -- writing -----------------------------------------------------------------------

    def position(self) -> int:
        with self._locked("read the position"):
            return self._position()

    def _position(self) -> int:
        row = self._db.execute(
            "SELECT value FROM projection_meta WHERE name = 'position'").fetchone()
        return int(row[0]) if row else 0

    def begin(self, expected_position: int) -> _Transaction:
        self._lock.acquire()
        try:
            with self._translated("begin a batch"):
                self._db.execute("BEGIN IMMEDIATE")
                current = self._position()
                if current != expected_position:
                    self._db.execute("ROLLBACK")
                    raise PositionMoved(
                        f"the projection position is {current}, not {expected_position}")
        except BaseException:
            self._lock.release()
            raise
        return _Transaction(self, expected_position)

    def reset(self) -> None:
        with self._locked("reset"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for table in TABLES:
                    self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - constant names
                self._db.execute("UPDATE projection_meta SET value = 0 WHERE name = 'position'")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def checkpoint(self) -> None:
        """Moves the WAL into the database file and truncates it."""
        with self._locked("checkpoint"):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    # -- reading -----------------------------------------------------------------------

    def subject_doc(self, subject_id: UUID) -> bytes | None:
        with self._locked("read a subject"):
            row = self._db.execute("SELECT doc FROM subjects WHERE subject_id = ?",
                                   (subject_id.bytes,)).fetchone()
        return None if row is None else bytes(row[0])

    def subject_count(self) -> int:
        with self._locked("count subjects"):
            return int(self._db.execute("SELECT count(*) FROM subjects").fetchone()[0])

    def audit_rows(
        self, *, subject_id: UUID | None = None, occurred_until: datetime | None = None,
        recorded_until: datetime | None = None, after: int = 0, limit: int | None = None,
    ) -> list[AuditRow]:
        text, params = sql.audit_query(DIALECT, subject_id=subject_id,
                                       occurred_until=occurred_until,
                                       recorded_until=recorded_until, after=after, limit=limit)
        return [sql.audit_row(DIALECT, r) for r in self._fetch(text, params)]

    def value_rows(self, subject_id: UUID) -> list[ValueRow]:
        text = (f"SELECT {sql.VALUE_COLUMNS} FROM value_log WHERE subject_id = ?"  # noqa: S608
                " ORDER BY notification_id, field, category")
        return [sql.value_row(DIALECT, r) for r in self._fetch(text, (subject_id.bytes,))]

    # -- plumbing ----------------------------------------------------------------------

    def _fetch(self, text: str, params: sql.Params) -> list[sql.Params]:
        with self._locked("read"):
            return [tuple(r) for r in self._db.execute(text, params).fetchall()]

    @contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        with self._lock, self._translated(what):
            yield

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise ProjectionError(
                f"projection store {self.path.name}: cannot {what} ({type(error).__name__})"
            ) from error


class _Transaction:
    def __init__(self, store: SQLiteProjectionStore, expected_position: int) -> None:
        self._store = store
        self._db = store._db
        self._expected = expected_position
        self._open = True

    def load_docs(self, subject_ids: Collection[UUID]) -> Mapping[UUID, bytes]:
        ids = sorted(subject_ids)
        found: dict[UUID, bytes] = {}
        with self._store._translated("load subjects"):
            for start in range(0, len(ids), _LOAD_CHUNK):
                chunk = ids[start:start + _LOAD_CHUNK]
                marks = ", ".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT subject_id, doc FROM subjects WHERE subject_id IN ({marks})",  # noqa: S608
                    [s.bytes for s in chunk]).fetchall()
                found.update((UUID(bytes=r[0]), bytes(r[1])) for r in rows)
        return found

    def write(self, changes: Changes) -> None:
        if changes.position <= self._expected:
            raise ProjectionError(
                f"a batch must move the position forward from {self._expected}, "
                f"not to {changes.position}")
        with self._store._translated("write a batch"):
            for statement, rows in sql.write_statements(DIALECT, changes):
                self._db.executemany(statement, rows)

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
                except sqlite3.Error:
                    if self._db.in_transaction:  # a failed COMMIT leaves it open: undo it
                        self._db.execute("ROLLBACK")
                    raise
        finally:
            self._store._lock.release()
