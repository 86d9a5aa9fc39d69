"""The embedded key store: one SQLite file beside the event store.

A shred must not leave the destroyed key in the file: ``secure_delete`` zeroes deleted
rows and freed pages, and a ``wal_checkpoint(TRUNCATE)`` after the shred empties the
write-ahead log, which would otherwise still hold the pages from before the delete.
``synchronous=FULL`` because a key must be durable before any event sealed under it is,
and a shred must survive a power cut once it has returned.

One connection, guarded by a lock: key operations are short, and a single connection
keeps the pragmas above in force for every statement (they are per connection).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from uuid import UUID

from ledger.crypto.identity import identity_digest
from ledger.crypto.keys import (
    DataKey,
    DestroyedKey,
    KeyStore,
    WrappedKey,
    check_name,
    check_scopes,
)
from ledger.crypto.master_key import MasterKey
from ledger.crypto.wrapping import (
    META_LOOKUP_SECRET,
    META_MASTER_FINGERPRINT,
    META_SCHEMA_VERSION,
    SCHEMA_VERSION,
    check_master,
    new_data_key,
    new_lookup_secret,
    unwrap_data_key,
    unwrap_lookup_secret,
    wrap_data_key,
    wrap_lookup_secret,
)
from ledger.errors import KeyDestroyed, KeyStoreError, LedgerError

_log = logging.getLogger(__name__)
_EXPORT_PAGE = 1000

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

_KEYS = "SELECT key_id, subject_id, scope, wrapped, master_fingerprint FROM data_keys"
_SELECT_ACTIVE = _KEYS + " WHERE subject_id = ? AND scope = ? AND active = 1"
_SELECT_BY_ID = _KEYS + " WHERE key_id = ?"


class SQLiteKeyStore:
    """``KeyStore`` on a SQLite file. ``MasterKeyMismatch`` if opened with another master."""

    def __init__(
        self, path: str | os.PathLike[str], master_key: MasterKey, *, busy_timeout: float = 5.0
    ) -> None:
        self.path = Path(path)
        self._master = master_key
        self._lock = threading.RLock()
        self._closed = False
        self._batch_depth = 0
        self._checkpoint_pending = False
        try:
            _create_private(self.path)
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise KeyStoreError(
                f"cannot open the SQLite key store at {self.path} ({type(exc).__name__})"
            ) from exc
        try:
            with self._translated("open"):
                self._configure()
                self._lookup_secret = self._open_meta()
        except LedgerError:
            self._db.close()
            raise

    # -- KeyStore -------------------------------------------------------------------

    @property
    def master_fingerprint(self) -> str:
        return self._master.fingerprint

    def data_key(self, subject_id: UUID, scope: str) -> DataKey:
        check_name(scope, "scope")
        select, args = _SELECT_ACTIVE, (subject_id.bytes, scope)
        with self._locked("get a data key"):
            row = self._db.execute(select, args).fetchone()
            if row is not None:
                return self._unwrap(row)
            if self._batch_depth:
                # batch() holds the write lock and checked the master when it began:
                # nothing can have changed since the read above.
                return self._insert_key(subject_id, scope)
            with self._transaction():
                self._check_current_master()
                # Another process may have created it since the first read.
                row = self._db.execute(select, args).fetchone()
                if row is not None:
                    return self._unwrap(row)
                return self._insert_key(subject_id, scope)

    def _insert_key(self, subject_id: UUID, scope: str) -> DataKey:
        key = new_data_key(subject_id, scope)
        self._db.execute(
            "INSERT INTO data_keys (key_id, subject_id, scope, active, wrapped,"
            " master_fingerprint, created_at) VALUES (?, ?, ?, 1, ?, ?, ?)",
            (key.key_id.bytes, subject_id.bytes, scope, wrap_data_key(self._master, key),
             self._master.fingerprint, _now()),
        )
        return key

    def key_by_id(self, key_id: UUID) -> DataKey | None:
        with self._locked("read a data key"):
            row = self._db.execute(_SELECT_BY_ID, (key_id.bytes,)).fetchone()
            return None if row is None else self._unwrap(row)

    def shred(self, subject_id: UUID, scopes: Collection[str] | None = None) -> list[UUID]:
        wanted = check_scopes(scopes)
        if wanted == []:
            return []
        with self._locked("shred"):
            with self._transaction():
                query = "SELECT key_id, scope FROM data_keys WHERE subject_id = ?"
                args: list[object] = [subject_id.bytes]
                if wanted is not None:
                    query += f" AND scope IN ({', '.join('?' * len(wanted))})"
                    args += wanted
                rows = self._db.execute(query, args).fetchall()
                destroyed_at = _now()
                self._db.executemany(
                    "INSERT INTO destroyed_keys (key_id, subject_id, scope, destroyed_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [(key_id, subject_id.bytes, scope, destroyed_at) for key_id, scope in rows],
                )
                self._db.executemany(
                    "DELETE FROM data_keys WHERE key_id = ?", [(key_id,) for key_id, _ in rows]
                )
                forget = "DELETE FROM identities WHERE subject_id = ?"
                if wanted is not None:
                    forget += f" AND scope IN ({', '.join('?' * len(wanted))})"
                forgotten = self._db.execute(forget, args).rowcount
            if rows or forgotten:
                self._checkpoint_after_commit()
        return [UUID(bytes=key_id) for key_id, _ in rows]

    def destroyed_keys(self, subject_id: UUID) -> list[DestroyedKey]:
        with self._locked("read the erasure fence"):
            rows = self._db.execute(
                "SELECT key_id, subject_id, scope, destroyed_at FROM destroyed_keys"
                " WHERE subject_id = ? ORDER BY destroyed_at, key_id",
                (subject_id.bytes,),
            ).fetchall()
        return [_destroyed(row) for row in rows]

    def is_fenced(self, key_id: UUID) -> bool:
        with self._locked("read the erasure fence"):
            row = self._db.execute(
                "SELECT 1 FROM destroyed_keys WHERE key_id = ?", (key_id.bytes,)
            ).fetchone()
        return row is not None

    def export_wrapped(self) -> Iterator[WrappedKey]:
        after = b""
        while True:
            with self._locked("export keys"):
                rows = self._db.execute(
                    "SELECT key_id, subject_id, scope, wrapped, master_fingerprint, created_at"
                    " FROM data_keys WHERE key_id > ? ORDER BY key_id LIMIT ?",
                    (after, _EXPORT_PAGE),
                ).fetchall()
            for key_id, subject_id, scope, wrapped, fingerprint, created_at in rows:
                yield WrappedKey(
                    UUID(bytes=key_id), UUID(bytes=subject_id), scope, bytes(wrapped),
                    fingerprint, datetime.fromisoformat(created_at),
                )
            if len(rows) < _EXPORT_PAGE:
                return
            after = rows[-1][0]

    def import_wrapped(self, record: WrappedKey) -> None:
        check_name(record.scope, "scope")
        with self._locked("import a key"), self._transaction():
            self._refuse_fenced(record.key_id)
            self._check_current_master()
            # Verify before storing: a corrupt or misattributed backup row fails here.
            unwrap_data_key(
                self._master, key_id=record.key_id, subject_id=record.subject_id,
                scope=record.scope, wrapped=record.wrapped,
                wrapped_under=record.master_fingerprint,
            )
            existing = self._db.execute(
                "SELECT subject_id, scope FROM data_keys WHERE key_id = ?",
                (record.key_id.bytes,),
            ).fetchone()
            if existing is not None:
                if existing == (record.subject_id.bytes, record.scope):
                    return
                raise KeyStoreError(
                    f"key {record.key_id} is already stored for another subject or scope"
                )
            has_active = self._db.execute(
                "SELECT 1 FROM data_keys WHERE subject_id = ? AND scope = ? AND active = 1",
                (record.subject_id.bytes, record.scope),
            ).fetchone()
            self._db.execute(
                "INSERT INTO data_keys (key_id, subject_id, scope, active, wrapped,"
                " master_fingerprint, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.key_id.bytes, record.subject_id.bytes, record.scope,
                 0 if has_active else 1, record.wrapped, record.master_fingerprint,
                 _timestamp(record.created_at)),
            )

    def export_fence(self) -> Iterator[DestroyedKey]:
        with self._locked("export the erasure fence"):
            rows = self._db.execute(
                "SELECT key_id, subject_id, scope, destroyed_at FROM destroyed_keys"
                " ORDER BY destroyed_at, key_id"
            ).fetchall()
        return iter([_destroyed(row) for row in rows])

    def import_fence(self, record: DestroyedKey) -> None:
        check_name(record.scope, "scope")
        with self._locked("import a fence record"):
            with self._transaction():
                self._db.execute(
                    "INSERT INTO destroyed_keys (key_id, subject_id, scope, destroyed_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (record.key_id.bytes, record.subject_id.bytes, record.scope,
                     _timestamp(record.destroyed_at)),
                )
                deleted = self._db.execute(
                    "DELETE FROM data_keys WHERE key_id = ?", (record.key_id.bytes,)
                ).rowcount
            if deleted:
                self._checkpoint_after_commit()

    def rotate_master(self, new_master: MasterKey) -> int:
        with self._locked("rotate the master key"):
            with self._transaction():
                self._check_current_master()
                rows = self._db.execute(_KEYS).fetchall()
                rewrapped = [
                    (wrap_data_key(new_master, key), new_master.fingerprint, key.key_id.bytes)
                    for key in map(self._unwrap, rows)
                ]
                self._db.executemany(
                    "UPDATE data_keys SET wrapped = ?, master_fingerprint = ? WHERE key_id = ?",
                    rewrapped,
                )
                self._put_meta(
                    META_LOOKUP_SECRET, wrap_lookup_secret(new_master, self._lookup_secret)
                )
                self._put_meta(META_MASTER_FINGERPRINT, new_master.fingerprint)
            self._master = new_master
            # Copies wrapped under the retired master should not linger in the WAL either.
            self._checkpoint()
        return len(rewrapped)

    def bind_identity(
        self, kind: str, value: str, subject_id: UUID, *, scope: str | None = None
    ) -> None:
        if scope is not None:
            check_name(scope, "scope")
        digest = identity_digest(self._lookup_secret, kind, value)
        with self._locked("bind an identity"), self._transaction():
            # Most bindings are new: one statement then, and a read only on conflict.
            inserted = self._db.execute(
                "INSERT INTO identities (digest, subject_id, scope) VALUES (?, ?, ?)"
                " ON CONFLICT (digest) DO NOTHING",
                (digest, subject_id.bytes, scope),
            ).rowcount
            if inserted:
                return
            row = self._db.execute(
                "SELECT subject_id, scope FROM identities WHERE digest = ?", (digest,)
            ).fetchone()
            if row[0] != subject_id.bytes:
                raise KeyStoreError(
                    f"this {kind} identity is already bound to another subject; "
                    "look it up with lookup_identity"
                )
            if row[1] != scope:
                self._db.execute(
                    "UPDATE identities SET scope = ? WHERE digest = ?", (scope, digest)
                )

    def lookup_identity(self, kind: str, value: str) -> UUID | None:
        digest = identity_digest(self._lookup_secret, kind, value)
        with self._locked("look up an identity"):
            row = self._db.execute(
                "SELECT subject_id FROM identities WHERE digest = ?", (digest,)
            ).fetchone()
        return None if row is None else UUID(bytes=row[0])

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                # Closing the last connection checkpoints and removes the -wal file.
                self._db.close()

    def __enter__(self) -> SQLiteKeyStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteKeyStore(path={str(self.path)!r}, master={self._master.fingerprint!r})"

    # -- internals --------------------------------------------------------------------

    def _configure(self) -> None:
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal" and str(self.path) != ":memory:":
            raise KeyStoreError(f"SQLite key store at {self.path} cannot use WAL (got {mode})")
        self._db.execute("PRAGMA secure_delete=ON")
        if self._db.execute("PRAGMA secure_delete").fetchone()[0] != 1:
            raise KeyStoreError("this SQLite build cannot turn on secure_delete")
        self._db.execute("PRAGMA synchronous=FULL")
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(identities)")}
            if "scope" not in columns:  # a store created before identities had scopes
                self._db.execute("ALTER TABLE identities ADD COLUMN scope TEXT")

    def _open_meta(self) -> bytes:
        with self._transaction():
            meta = dict(self._db.execute("SELECT name, value FROM key_store_meta").fetchall())
            if META_MASTER_FINGERPRINT not in meta:
                secret = new_lookup_secret()
                self._put_meta(META_SCHEMA_VERSION, SCHEMA_VERSION)
                self._put_meta(META_MASTER_FINGERPRINT, self._master.fingerprint)
                self._put_meta(META_LOOKUP_SECRET, wrap_lookup_secret(self._master, secret))
                return secret
        if meta.get(META_SCHEMA_VERSION) != SCHEMA_VERSION:
            raise KeyStoreError(
                f"key store at {self.path} has schema version "
                f"{meta.get(META_SCHEMA_VERSION)!r}; this version reads {SCHEMA_VERSION!r}"
            )
        check_master(self._master, meta[META_MASTER_FINGERPRINT], f"key store {self.path}")
        return unwrap_lookup_secret(self._master, bytes(meta[META_LOOKUP_SECRET]))

    def _put_meta(self, name: str, value: str | bytes) -> None:
        self._db.execute(
            "INSERT INTO key_store_meta (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def _check_current_master(self) -> None:
        # Another process may have rotated the master since this store was opened.
        row = self._db.execute(
            "SELECT value FROM key_store_meta WHERE name = ?", (META_MASTER_FINGERPRINT,)
        ).fetchone()
        check_master(self._master, row[0], f"key store {self.path}")

    def _refuse_fenced(self, key_id: UUID) -> None:
        row = self._db.execute(
            "SELECT destroyed_at FROM destroyed_keys WHERE key_id = ?", (key_id.bytes,)
        ).fetchone()
        if row is not None:
            raise KeyDestroyed(
                f"key {key_id} was destroyed at {row[0]}; a destroyed key cannot be restored"
            )

    def _unwrap(self, row: tuple[bytes, bytes, str, bytes, str]) -> DataKey:
        key_id, subject_id, scope, wrapped, fingerprint = row
        return unwrap_data_key(
            self._master, key_id=UUID(bytes=key_id), subject_id=UUID(bytes=subject_id),
            scope=scope, wrapped=bytes(wrapped), wrapped_under=fingerprint,
        )

    def _checkpoint(self) -> None:
        busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            # The shred is committed; only the old pages in the -wal file wait for readers.
            _log.warning(
                "key store %s: WAL checkpoint after a shred was blocked by another "
                "connection; deleted rows stay in the -wal file until the next checkpoint",
                self.path,
            )

    @contextmanager
    def _locked(self, operation: str) -> Iterator[None]:
        with self._lock, self._translated(operation):
            if self._closed:
                raise KeyStoreError(f"cannot {operation}: the key store is closed")
            yield

    @contextmanager
    def _translated(self, operation: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise KeyStoreError(
                f"SQLite key store at {self.path} failed to {operation} ({type(exc).__name__})"
            ) from exc

    def _checkpoint_after_commit(self) -> None:
        # SQLite cannot checkpoint inside a transaction: a shred inside batch() (an
        # erasure handled by the intake writer) checkpoints when the batch commits.
        if self._batch_depth:
            self._checkpoint_pending = True
        else:
            self._checkpoint()

    @contextmanager
    def batch(self) -> Iterator[None]:
        # One fsync per intake batch instead of one per new key or identity: durable
        # commits were what bounded the intake writer.
        with self._locked("write a batch"):
            try:
                with self._transaction():
                    self._check_current_master()  # once for the batch, not per new key
                    self._batch_depth += 1
                    try:
                        yield
                    finally:
                        self._batch_depth -= 1
                if self._checkpoint_pending:
                    self._checkpoint()
            finally:
                self._checkpoint_pending = False  # a rolled-back shred left nothing to clear

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._batch_depth:  # inside batch(): its transaction commits for us
            yield
            return
        # IMMEDIATE takes the write lock up front: two processes cannot both decide
        # that a (subject, scope) has no key yet.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def _create_private(path: Path) -> None:
    """Create the file owner-only; SQLite gives its -wal and -shm files the same mode."""
    if str(path) == ":memory:" or path.exists():
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _now() -> str:
    return _timestamp(datetime.now(UTC))


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    # Fixed width, so the text sorts in time order.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _destroyed(row: tuple[bytes, bytes, str, str]) -> DestroyedKey:
    key_id, subject_id, scope, destroyed_at = row
    return DestroyedKey(
        UUID(bytes=key_id), UUID(bytes=subject_id), scope, datetime.fromisoformat(destroyed_at)
    )


def _conforms_to_port(store: SQLiteKeyStore) -> KeyStore:
    # Never called: makes mypy prove the adapter implements the whole port.
    return store
