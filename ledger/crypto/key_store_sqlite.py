"""The embedded key store: one SQLite file beside the event store.

A shred must not leave the destroyed key in the file: ``secure_delete`` zeroes deleted
rows and freed pages, and a ``wal_checkpoint(TRUNCATE)`` after the shred empties the
write-ahead log, which would otherwise still hold the pages from before the delete.
``synchronous=FULL`` because a key must be durable before any event sealed under it is,
and a shred must survive a power cut once it has returned.

One connection, guarded by a lock: key operations are short, and a single connection
keeps the pragmas above in force for every statement (they are per connection).
The statements, wrapping and the fence are shared with PostgreSQL (``key_store_sql``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from ledger.crypto.binding import StoreSide, settle
from ledger.crypto.key_store_sql import Connection, Dialect, SQLKeyStore
from ledger.crypto.keys import DataKey, KeyStore
from ledger.crypto.master_key import MasterKey
from ledger.errors import KeyStoreError, LedgerError, translated

_log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS key_store_meta (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS data_keys (
    key_id BLOB PRIMARY KEY,
    subject_id BLOB NOT NULL,
    scope TEXT NOT NULL,
    active INTEGER NOT NULL,
    wrapped BLOB NOT NULL,
    master_fingerprint TEXT NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS data_keys_by_subject ON data_keys (subject_id, scope);
CREATE UNIQUE INDEX IF NOT EXISTS data_keys_one_active
    ON data_keys (subject_id, scope) WHERE active = 1;
CREATE TABLE IF NOT EXISTS destroyed_keys (
    key_id BLOB PRIMARY KEY,
    subject_id BLOB NOT NULL,
    scope TEXT NOT NULL,
    destroyed_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS destroyed_keys_by_subject ON destroyed_keys (subject_id);
CREATE TABLE IF NOT EXISTS identities (
    digest BLOB PRIMARY KEY,
    subject_id BLOB NOT NULL,
    scope TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identities_by_subject ON identities (subject_id);
"""


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    # Fixed width, so the text sorts in time order.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _any_scope(scopes: list[str]) -> tuple[str, list[Any]]:
    return f" AND scope IN ({', '.join('?' * len(scopes))})", list(scopes)


_DIALECT = Dialect(
    param="?",
    names={
        "meta": "key_store_meta", "data_keys": "data_keys",
        "destroyed_keys": "destroyed_keys", "identities": "identities",
        # The partial index's own condition, so SQLite can use it.
        "active": "active = 1",
        # No row locks: BEGIN IMMEDIATE already holds the database's write lock.
        "for_share": "", "for_update": "",
    },
    uuid_in=lambda u: u.bytes, uuid_out=lambda raw: UUID(bytes=bytes(raw)),
    time_in=_timestamp, time_out=datetime.fromisoformat, text_in=lambda text: text,
    lowest_key_id=b"", any_scope=_any_scope,
)


class SQLiteKeyStore(SQLKeyStore):
    """``KeyStore`` on a SQLite file. ``MasterKeyMismatch`` if opened with another master.

    With ``event_store`` (``ledger.crypto.binding``) it opens only as that event store's
    key store: a missing or empty file next to an existing ledger is refused before it
    is created or written (``KeyStoreMismatch``).
    """

    driver_error = sqlite3.Error

    def __init__(
        self, path: str | os.PathLike[str], master_key: MasterKey, *, busy_timeout: float = 5.0,
        event_store: StoreSide | None = None,
    ) -> None:
        self.path = Path(path)
        super().__init__(
            master_key, _DIALECT, name=str(self.path), label=f"SQLite key store at {self.path}"
        )
        if event_store is not None:
            require_for(self.path, event_store)
        self._lock = threading.RLock()
        self._closed = False
        with translated((OSError, sqlite3.Error), KeyStoreError,
                        f"cannot open the SQLite key store at {self.path}"):
            _create_private(self.path)
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        try:
            with self._translated("open"):
                self._configure()
                self._lookup_secret = self._open_meta(event_store)
        except LedgerError:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                # Closing the last connection checkpoints and removes the -wal file.
                self._db.close()

    def rotate_master(self, new_master: MasterKey) -> int:
        # Locked until self._master is the new master: a batch in another thread wraps
        # its new keys under self._master without reading the meta row again.
        with self._lock:
            return super().rotate_master(new_master)

    def __repr__(self) -> str:
        return f"SQLiteKeyStore(path={str(self.path)!r}, master={self._master.fingerprint!r})"

    # -- what SQLite does its own way --------------------------------------------------

    def _configure(self) -> None:
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal" and str(self.path) != ":memory:":
            raise KeyStoreError(f"SQLite key store at {self.path} cannot use WAL (got {mode})")
        self._db.execute("PRAGMA secure_delete=ON")
        if self._db.execute("PRAGMA secure_delete").fetchone()[0] != 1:
            raise KeyStoreError("this SQLite build cannot turn on secure_delete")
        self._db.execute("PRAGMA synchronous=FULL")

    def _create_tables(self, conn: Connection) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(identities)").fetchall()}
        if "scope" not in columns:  # a store created before identities had scopes
            conn.execute("ALTER TABLE identities ADD COLUMN scope TEXT")

    @contextmanager
    def _reading(self, operation: str) -> Iterator[Connection]:
        with self._lock, self._translated(operation):
            if self._closed:
                raise KeyStoreError(f"cannot {operation}: the key store is closed")
            yield self._db

    @contextmanager
    def _writing(self, operation: str) -> Iterator[Connection]:
        with self._reading(operation) as db:
            if self._batch.connection is not None:  # inside batch(): its transaction commits
                yield db
                return
            # IMMEDIATE takes the write lock up front: two processes cannot both decide
            # that a (subject, scope) has no key yet.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _create_key(self, conn: Connection, subject_id: UUID, scope: str) -> DataKey:
        if self._batch.connection is not None:
            # batch() holds the write lock and checked the master when it began:
            # nothing can have changed since the caller's read.
            return self._insert_key(conn, self._master, subject_id, scope)
        with self._writing("get a data key"):
            # Another process may have created it since the caller's read: then the
            # insert yields to the partial unique index and theirs is returned.
            return super()._create_key(conn, subject_id, scope)

    def _delete_keys(self, conn: Connection, where: str, args: list[Any]) -> list[Any]:
        # No DELETE ... RETURNING before SQLite 3.35; the write lock keeps the two as one.
        select = "SELECT key_id, scope FROM {data_keys}" + where  # noqa: S608 - fixed fragments
        rows = conn.execute(self._sql(select), args).fetchall()
        conn.execute(self._sql("DELETE FROM {data_keys}" + where), args)  # noqa: S608
        return rows

    def _bind(self, conn: Connection, digest: bytes, subject_id: Any, scope: str | None) -> bool:
        # Most bindings are new: one statement then, and a read only on conflict.
        inserted = conn.execute(
            "INSERT INTO identities (digest, subject_id, scope) VALUES (?, ?, ?)"
            " ON CONFLICT (digest) DO NOTHING",
            (digest, subject_id, scope),
        ).rowcount
        if inserted:
            return True
        bound_to, bound_scope = conn.execute(
            "SELECT subject_id, scope FROM identities WHERE digest = ?", (digest,)
        ).fetchone()
        if bound_to != subject_id:
            return False
        if bound_scope != scope:
            conn.execute("UPDATE identities SET scope = ? WHERE digest = ?", (scope, digest))
        return True

    def _scrub(self) -> None:
        with self._lock:
            if self._closed:
                return  # closing checkpointed already
            with self._translated("checkpoint the write-ahead log"):
                busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            # The shred is committed; only the old pages in the -wal file wait for readers.
            _log.warning(
                "key store %s: WAL checkpoint after a shred was blocked by another "
                "connection; deleted rows stay in the -wal file until the next checkpoint",
                self.path,
            )

    def _lock_subject(self, conn: Connection, subject_id: UUID) -> None:
        pass  # BEGIN IMMEDIATE already serialises every write transaction

    def _check_batch_intact(self, conn: Connection) -> None:
        """SQLite keeps a transaction usable after a failed statement: nothing to check."""

    def _after_rotation(self) -> None:
        # Copies wrapped under the retired master should not linger in the WAL either.
        self._scrub_when_committed()


def require_for(path: Path, event_store: StoreSide) -> None:
    """``KeyStoreMismatch`` if ``event_store`` belongs to a ledger and the key store file
    at ``path`` is missing or empty: creating it (or a master key for it) would make key
    loss look like a new, empty ledger."""
    if event_store.needs_its_pair and _is_absent(path):
        settle(event_store, StoreSide(f"key store {path}", None, holds_data=False,
                                      missing=not path.exists()))  # raises


def _is_absent(path: Path) -> bool:
    """No file, or an empty one (SQLite would turn it into a new database)."""
    return str(path) != ":memory:" and (not path.exists() or path.stat().st_size == 0)


def _create_private(path: Path) -> None:
    """Create the file owner-only; SQLite gives its -wal and -shm files the same mode."""
    if str(path) == ":memory:" or path.exists():
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _conforms_to_port(store: SQLiteKeyStore) -> KeyStore:
    # Never called: makes mypy prove the adapter implements the whole port.
    return store
