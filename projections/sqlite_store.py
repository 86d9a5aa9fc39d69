"""The embedded projection store: one SQLite file (``settings.projection_store_path``).

``secure_delete`` zeroes deleted rows and freed pages (a rewritten subject document or
a reset leaves nothing behind in free pages), although the store never holds a
plaintext personal value in the first place. WAL lets readers in other processes go on
while a projector writes; ``synchronous=NORMAL`` suffices because a batch is atomic
either way and a lost last batch is simply projected again from the log.

One connection guarded by a lock (``projections.sql_store``); ``BEGIN IMMEDIATE`` keeps
writers in other processes out.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from ledger.errors import translated
from projections import sql
from projections.errors import ProjectionError
from projections.sql_store import Cursor, SQLProjectionStore
from projections.store import TABLES


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
    types={"uuid": "BLOB", "int": "INTEGER", "text": "TEXT", "time": "TEXT", "bytes": "BLOB",
           "without_rowid": " WITHOUT ROWID"},
)
_LOAD_CHUNK = 500


class SQLiteProjectionStore(SQLProjectionStore):
    """``ProjectionStore`` on a SQLite file, created 0600 if missing."""

    dialect = DIALECT
    driver_error = sqlite3.Error
    # IMMEDIATE takes the database's write lock up front: the position read when a
    # batch begins cannot change under it.
    begin_write = "BEGIN IMMEDIATE"
    lock_position = ""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        super().__init__(self.path.name)
        with translated((OSError, sqlite3.Error), ProjectionError,
                        f"cannot open the projection store at {self.path}"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                       check_same_thread=False, cached_statements=256)
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

    def reset(self) -> None:
        with self._locked("reset"):
            super().reset()
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def checkpoint(self) -> None:
        """Moves the WAL into the database file and truncates it."""
        with self._locked("checkpoint"):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    # -- what SQLite does its own way --------------------------------------------------

    def _execute(self, text: str, params: sql.Params | None = None) -> Cursor:
        return self._db.execute(text, params or ())

    def _execute_many(self, text: str, rows: Sequence[sql.Params]) -> None:
        self._db.executemany(text, rows)

    def _in_transaction(self) -> bool:
        return self._db.in_transaction

    def _lock_for_migration(self) -> None:
        pass  # BEGIN IMMEDIATE already keeps other writers out

    def _empty_tables(self) -> None:
        for table in TABLES:
            self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - constant names

    def _load_docs(self, subject_ids: list[UUID]) -> Mapping[UUID, bytes]:
        found: dict[UUID, bytes] = {}
        for start in range(0, len(subject_ids), _LOAD_CHUNK):
            chunk = subject_ids[start:start + _LOAD_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT subject_id, doc FROM subjects WHERE subject_id IN ({marks})",  # noqa: S608
                [s.bytes for s in chunk]).fetchall()
            found.update((UUID(bytes=r[0]), bytes(r[1])) for r in rows)
        return found
