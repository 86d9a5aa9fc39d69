"""The access log on a SQLite file of its own, ``DATA_DIR/access-log.sqlite`` (0600),
apart from the event store, the keys and the projections; used when
``LEDGER_POSTGRES_DSN`` is not set."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from consumers.access.log import AccessLog, AccessLogError
from consumers.sqlite_file import open_private_sqlite, sqlite_transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
);
CREATE INDEX IF NOT EXISTS access_log_subject ON access_log (subject_id, seq);
CREATE TABLE IF NOT EXISTS access_log_imports (
    head TEXT PRIMARY KEY, source TEXT NOT NULL, entries INTEGER NOT NULL, at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS access_log_no_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS access_log_no_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
"""


class SQLiteAccessLog(AccessLog):
    """The append-only access log on a SQLite file (created 0600 if missing)."""

    driver_errors = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = f"the access log at {path}"
        self._lock = threading.Lock()
        # Who looked must survive a crash of the process that showed the values.
        self._db = open_private_sqlite(path, _SCHEMA, "synchronous=FULL",
                                       store="the access log", error=AccessLogError)

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Cursor]:
        # BEGIN IMMEDIATE takes the file's write lock before the last entry is read.
        with self._lock, sqlite_transaction(self._db, "BEGIN IMMEDIATE") as cursor:
            yield cursor

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            yield self._db.cursor()

    def close(self) -> None:
        with self._lock:
            self._db.close()
