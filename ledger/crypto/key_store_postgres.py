"""The key store on PostgreSQL, for deployments that run more than one process.

Tables live in one schema (``ledger_keys`` by default) and are created if absent, under
an advisory lock so that processes starting together do not race. Cross-process safety
comes from the database: creating a key races on a partial unique index (one active key
per subject and scope), and every write that wraps under the master key share-locks the
meta row that a master rotation updates, so a process still holding a retired master
gets ``MasterKeyMismatch`` instead of writing keys nobody can unwrap.

PostgreSQL has no secure delete: after a shred a VACUUM (in autocommit, it cannot run in
a transaction) drops the dead tuples of the key and identity tables. The write-ahead
log and backups can still hold the old rows for a while; they are wrapped under the
master key (keys) or keyed hashes (identities), which is why both exist.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

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
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_EXPORT_PAGE = 1000
_NIL = UUID(int=0)

_TABLES = """
CREATE TABLE IF NOT EXISTS {schema}.meta (
    name text PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.data_keys (
    key_id uuid PRIMARY KEY,
    subject_id uuid NOT NULL,
    scope text NOT NULL,
    active boolean NOT NULL,
    wrapped bytea NOT NULL,
    master_fingerprint text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS data_keys_by_subject ON {schema}.data_keys (subject_id, scope);
CREATE UNIQUE INDEX IF NOT EXISTS data_keys_one_active
    ON {schema}.data_keys (subject_id, scope) WHERE active;
CREATE TABLE IF NOT EXISTS {schema}.destroyed_keys (
    key_id uuid PRIMARY KEY,
    subject_id uuid NOT NULL,
    scope text NOT NULL,
    destroyed_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS destroyed_keys_by_subject ON {schema}.destroyed_keys (subject_id);
CREATE TABLE IF NOT EXISTS {schema}.identities (
    digest bytea PRIMARY KEY,
    subject_id uuid NOT NULL,
    scope text
);
CREATE INDEX IF NOT EXISTS identities_by_subject ON {schema}.identities (subject_id);
ALTER TABLE {schema}.identities ADD COLUMN IF NOT EXISTS scope text
"""


class PostgresKeyStore:
    """``KeyStore`` on PostgreSQL. ``MasterKeyMismatch`` if opened with another master."""

    def __init__(
        self,
        dsn: str,
        master_key: MasterKey,
        *,
        schema: str = "ledger_keys",
        pool_size: int = 4,
        connect_timeout: float = 10.0,
        vacuum_after_shred: bool = True,
    ) -> None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise KeyStoreError("the key store schema name must match [a-z_][a-z0-9_]{0,62}")
        self.schema = schema
        self._master = master_key
        # Every master this instance has held: a row fetched just before (or just after)
        # a rotation commits is unwrapped with the master it names, not refused.
        self._masters: dict[str, MasterKey] = {master_key.fingerprint: master_key}
        self._vacuum_after_shred = vacuum_after_shred
        self._batch = threading.local()  # the open batch's connection, per thread
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            dsn, min_size=1, max_size=pool_size, open=False,
            check=ConnectionPool.check_connection, name=f"key-store-{schema}",
        )
        try:
            with self._translated("connect"):
                self._pool.open(wait=True, timeout=connect_timeout)
            with self._translated("open"):
                self._lookup_secret = self._open_schema()
        except LedgerError:
            self._pool.close()
            raise

    # -- KeyStore -------------------------------------------------------------------

    @property
    def master_fingerprint(self) -> str:
        return self._master.fingerprint

    def data_key(self, subject_id: UUID, scope: str) -> DataKey:
        check_name(scope, "scope")
        select = self._sql(
            "SELECT key_id, subject_id, scope, wrapped, master_fingerprint"
            " FROM {schema}.data_keys WHERE subject_id = %s AND scope = %s AND active"
        )
        with self._translated("get a data key"), self._conn() as conn:
            row = conn.execute(select, (subject_id, scope)).fetchone()
            if row is not None:
                return self._unwrap(row)
            master = self._check_current_master(conn)
            key = new_data_key(subject_id, scope)
            # A concurrent creator wins the partial unique index; then read theirs.
            conn.execute(
                self._sql(
                    "INSERT INTO {schema}.data_keys (key_id, subject_id, scope, active, wrapped,"
                    " master_fingerprint, created_at) VALUES (%s, %s, %s, true, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING"
                ),
                (key.key_id, subject_id, scope, wrap_data_key(master, key),
                 master.fingerprint, datetime.now(UTC)),
            )
            row = conn.execute(select, (subject_id, scope)).fetchone()
            if row is None:
                raise KeyStoreError(f"no active key for subject {subject_id} after creating one")
            return self._unwrap(row)

    def key_by_id(self, key_id: UUID) -> DataKey | None:
        with self._translated("read a data key"), self._conn() as conn:
            row = conn.execute(
                self._sql(
                    "SELECT key_id, subject_id, scope, wrapped, master_fingerprint"
                    " FROM {schema}.data_keys WHERE key_id = %s"
                ),
                (key_id,),
            ).fetchone()
        return None if row is None else self._unwrap(row)

    def shred(self, subject_id: UUID, scopes: Collection[str] | None = None) -> list[UUID]:
        wanted = check_scopes(scopes)
        if wanted == []:
            return []
        with self._translated("shred"), self._conn() as conn:
            self._lock_subject(conn, subject_id)
            delete = "DELETE FROM {schema}.data_keys WHERE subject_id = %s"
            args: list[object] = [subject_id]
            if wanted is not None:
                delete += " AND scope = ANY(%s)"
                args.append(wanted)
            rows = conn.execute(self._sql(delete + " RETURNING key_id, scope"), args).fetchall()
            destroyed_at = datetime.now(UTC)
            with conn.cursor() as cursor:
                cursor.executemany(
                    self._sql(
                        "INSERT INTO {schema}.destroyed_keys (key_id, subject_id, scope,"
                        " destroyed_at) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
                    ),
                    [(key_id, subject_id, scope, destroyed_at) for key_id, scope in rows],
                )
            forget = "DELETE FROM {schema}.identities WHERE subject_id = %s"
            if wanted is not None:
                forget += " AND scope = ANY(%s)"
            forgotten = conn.execute(self._sql(forget), args).rowcount
        if rows or forgotten:
            self._vacuum()
        return [key_id for key_id, _ in rows]

    def destroyed_keys(self, subject_id: UUID) -> list[DestroyedKey]:
        with self._translated("read the erasure fence"), self._conn() as conn:
            rows = conn.execute(
                self._sql(
                    "SELECT key_id, subject_id, scope, destroyed_at FROM {schema}.destroyed_keys"
                    " WHERE subject_id = %s ORDER BY destroyed_at, key_id"
                ),
                (subject_id,),
            ).fetchall()
        return [_destroyed(row) for row in rows]

    def is_fenced(self, key_id: UUID) -> bool:
        with self._translated("read the erasure fence"), self._conn() as conn:
            row = conn.execute(
                self._sql("SELECT 1 FROM {schema}.destroyed_keys WHERE key_id = %s"), (key_id,)
            ).fetchone()
        return row is not None

    def export_wrapped(self) -> Iterator[WrappedKey]:
        after = _NIL
        query = self._sql(
            "SELECT key_id, subject_id, scope, wrapped, master_fingerprint, created_at"
            " FROM {schema}.data_keys WHERE key_id > %s ORDER BY key_id LIMIT %s"
        )
        while True:
            with self._translated("export keys"), self._conn() as conn:
                rows = conn.execute(query, (after, _EXPORT_PAGE)).fetchall()
            for key_id, subject_id, scope, wrapped, fingerprint, created_at in rows:
                yield WrappedKey(
                    key_id, subject_id, scope, bytes(wrapped), fingerprint,
                    created_at.astimezone(UTC),
                )
            if len(rows) < _EXPORT_PAGE:
                return
            after = rows[-1][0]

    def import_wrapped(self, record: WrappedKey) -> None:
        check_name(record.scope, "scope")
        with self._translated("import a key"), self._conn() as conn:
            self._lock_subject(conn, record.subject_id)
            fenced = conn.execute(
                self._sql("SELECT destroyed_at FROM {schema}.destroyed_keys WHERE key_id = %s"),
                (record.key_id,),
            ).fetchone()
            if fenced is not None:
                raise KeyDestroyed(
                    f"key {record.key_id} was destroyed at {fenced[0].astimezone(UTC)}; "
                    "a destroyed key cannot be restored"
                )
            master = self._check_current_master(conn)
            # Verify before storing: a corrupt or misattributed backup row fails here.
            unwrap_data_key(
                master, key_id=record.key_id, subject_id=record.subject_id,
                scope=record.scope, wrapped=record.wrapped,
                wrapped_under=record.master_fingerprint,
            )
            # Inactive when the (subject, scope) already has an active key: one stays active.
            inserted = conn.execute(
                self._sql(
                    "INSERT INTO {schema}.data_keys (key_id, subject_id, scope, active, wrapped,"
                    " master_fingerprint, created_at) SELECT %s, %s, %s, NOT EXISTS ("
                    "SELECT 1 FROM {schema}.data_keys WHERE subject_id = %s AND scope = %s"
                    " AND active), %s, %s, %s ON CONFLICT DO NOTHING"
                ),
                (record.key_id, record.subject_id, record.scope, record.subject_id,
                 record.scope, record.wrapped, record.master_fingerprint, record.created_at),
            ).rowcount
            if inserted:
                return
            existing = conn.execute(
                self._sql("SELECT subject_id, scope FROM {schema}.data_keys WHERE key_id = %s"),
                (record.key_id,),
            ).fetchone()
            if existing != (record.subject_id, record.scope):
                raise KeyStoreError(
                    f"key {record.key_id} is already stored for another subject or scope"
                )

    def export_fence(self) -> Iterator[DestroyedKey]:
        with self._translated("export the erasure fence"), self._conn() as conn:
            rows = conn.execute(
                self._sql(
                    "SELECT key_id, subject_id, scope, destroyed_at FROM {schema}.destroyed_keys"
                    " ORDER BY destroyed_at, key_id"
                )
            ).fetchall()
        return iter([_destroyed(row) for row in rows])

    def import_fence(self, record: DestroyedKey) -> None:
        check_name(record.scope, "scope")
        with self._translated("import a fence record"), self._conn() as conn:
            self._lock_subject(conn, record.subject_id)
            conn.execute(
                self._sql(
                    "INSERT INTO {schema}.destroyed_keys (key_id, subject_id, scope,"
                    " destroyed_at) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
                ),
                (record.key_id, record.subject_id, record.scope, record.destroyed_at),
            )
            deleted = conn.execute(
                self._sql("DELETE FROM {schema}.data_keys WHERE key_id = %s"), (record.key_id,)
            ).rowcount
        if deleted:
            self._vacuum()

    def rotate_master(self, new_master: MasterKey) -> int:
        with self._translated("rotate the master key"), self._conn() as conn:
            self._check_current_master(conn, for_update=True)
            rows = conn.execute(
                self._sql(
                    "SELECT key_id, subject_id, scope, wrapped, master_fingerprint"
                    " FROM {schema}.data_keys FOR UPDATE"
                )
            ).fetchall()
            rewrapped = [
                (wrap_data_key(new_master, key), new_master.fingerprint, key.key_id)
                for key in map(self._unwrap, rows)
            ]
            with conn.cursor() as cursor:
                cursor.executemany(
                    self._sql(
                        "UPDATE {schema}.data_keys SET wrapped = %s, master_fingerprint = %s"
                        " WHERE key_id = %s"
                    ),
                    rewrapped,
                )
            self._put_meta(
                conn, META_LOOKUP_SECRET, wrap_lookup_secret(new_master, self._lookup_secret)
            )
            self._put_meta(conn, META_MASTER_FINGERPRINT, new_master.fingerprint.encode())
            self._masters[new_master.fingerprint] = new_master  # commits as the block exits
        self._master = new_master
        return len(rewrapped)

    def bind_identity(
        self, kind: str, value: str, subject_id: UUID, *, scope: str | None = None
    ) -> None:
        if scope is not None:
            check_name(scope, "scope")
        digest = identity_digest(self._lookup_secret, kind, value)
        with self._translated("bind an identity"), self._conn() as conn:
            # Rebinding to the same subject updates the scope; another subject's row stays.
            written = conn.execute(
                self._sql(
                    "INSERT INTO {schema}.identities (digest, subject_id, scope)"
                    " VALUES (%s, %s, %s) ON CONFLICT (digest) DO UPDATE SET scope ="
                    " excluded.scope WHERE identities.subject_id = excluded.subject_id"
                    " AND identities.scope IS DISTINCT FROM excluded.scope"
                ),
                (digest, subject_id, scope),
            ).rowcount
            row = (subject_id,) if written else conn.execute(
                self._sql("SELECT subject_id FROM {schema}.identities WHERE digest = %s"),
                (digest,),
            ).fetchone()
        if row is None or row[0] != subject_id:
            raise KeyStoreError(
                f"this {kind} identity is already bound to another subject; "
                "look it up with lookup_identity"
            )

    def lookup_identity(self, kind: str, value: str) -> UUID | None:
        digest = identity_digest(self._lookup_secret, kind, value)
        with self._translated("look up an identity"), self._conn() as conn:
            row = conn.execute(
                self._sql("SELECT subject_id FROM {schema}.identities WHERE digest = %s"),
                (digest,),
            ).fetchone()
        return None if row is None else UUID(str(row[0]))

    @contextmanager
    def batch(self) -> Iterator[None]:
        # One transaction for the whole intake batch, on one connection held by this
        # thread: one commit per batch instead of one per new key or identity.
        if getattr(self._batch, "conn", None) is not None:
            yield  # nested: the outer batch commits
            return
        self._batch.vacuum = False
        with self._translated("write a batch"), self._pool.connection() as conn:
            self._check_current_master(conn)  # as each write would, once for the batch
            self._batch.conn = conn
            try:
                yield
            finally:
                self._batch.conn = None
        if self._batch.vacuum:
            self._batch.vacuum = False
            self._vacuum()

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """This thread's batch connection inside ``batch()``, else one from the pool."""
        conn = getattr(self._batch, "conn", None)
        if conn is not None:
            yield conn
            return
        with self._pool.connection() as pooled:
            yield pooled

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresKeyStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        # Never the DSN: it may carry a password.
        return f"PostgresKeyStore(schema={self.schema!r}, master={self._master.fingerprint!r})"

    # -- internals --------------------------------------------------------------------

    def _sql(self, template: str) -> sql.Composed:
        # Only the validated schema name is interpolated; values always go as parameters.
        return sql.SQL(template).format(schema=sql.Identifier(self.schema))

    def _open_schema(self) -> bytes:
        with self._conn() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ledger:{self.schema}",))
            conn.execute(self._sql("CREATE SCHEMA IF NOT EXISTS {schema}"))
            for statement in _TABLES.split(";"):
                conn.execute(self._sql(statement))
            meta = {
                name: bytes(value)
                for name, value in conn.execute(
                    self._sql("SELECT name, value FROM {schema}.meta")
                ).fetchall()
            }
            if META_MASTER_FINGERPRINT not in meta:
                secret = new_lookup_secret()
                self._put_meta(conn, META_SCHEMA_VERSION, SCHEMA_VERSION.encode())
                self._put_meta(conn, META_MASTER_FINGERPRINT, self._master.fingerprint.encode())
                self._put_meta(conn, META_LOOKUP_SECRET, wrap_lookup_secret(self._master, secret))
                return secret
        version = meta.get(META_SCHEMA_VERSION, b"").decode()
        if version != SCHEMA_VERSION:
            raise KeyStoreError(
                f"key store schema {self.schema} has version {version!r}; "
                f"this version reads {SCHEMA_VERSION!r}"
            )
        check_master(
            self._master, meta[META_MASTER_FINGERPRINT].decode(), f"key store {self.schema}"
        )
        return unwrap_lookup_secret(self._master, meta[META_LOOKUP_SECRET])

    def _put_meta(self, conn: psycopg.Connection[Any], name: str, value: bytes) -> None:
        conn.execute(
            self._sql(
                "INSERT INTO {schema}.meta (name, value) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
            ),
            (name, value),
        )

    def _check_current_master(
        self, conn: psycopg.Connection[Any], *, for_update: bool = False
    ) -> MasterKey:
        """The master the store is wrapped under now, if this process holds it."""
        # Share-locked until commit: a rotation (which takes it for update) waits for us.
        query = (
            "SELECT value FROM {schema}.meta WHERE name = %s FOR UPDATE"
            if for_update
            else "SELECT value FROM {schema}.meta WHERE name = %s FOR SHARE"
        )
        row = conn.execute(
            self._sql(query),
            (META_MASTER_FINGERPRINT,),
        ).fetchone()
        if row is None:
            raise KeyStoreError(f"key store schema {self.schema} has no master fingerprint")
        return self._master_for(bytes(row[0]).decode(), f"key store {self.schema}")

    def _lock_subject(self, conn: psycopg.Connection[Any], subject_id: UUID) -> None:
        # Serialises shreds and restores of one subject until commit. Without it, an
        # import racing a shred of the same key could commit the key after its fence.
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))",
            (f"ledger-keys:{self.schema}", str(subject_id)),
        )

    def _master_for(self, fingerprint: str, what: str) -> MasterKey:
        known = self._masters.get(fingerprint)
        if known is None:
            check_master(self._master, fingerprint, what)  # raises MasterKeyMismatch
            return self._master
        return known

    def _unwrap(self, row: tuple[Any, ...]) -> DataKey:
        key_id, subject_id, scope, wrapped, fingerprint = row
        return unwrap_data_key(
            self._master_for(fingerprint, f"data key {key_id}"), key_id=key_id,
            subject_id=subject_id, scope=scope, wrapped=bytes(wrapped), wrapped_under=fingerprint,
        )

    def _vacuum(self) -> None:
        if not self._vacuum_after_shred:
            return
        if getattr(self._batch, "conn", None) is not None:
            # VACUUM cannot run inside a transaction: the batch runs it once committed.
            self._batch.vacuum = True
            return
        try:
            with self._pool.connection() as conn:  # its own: VACUUM runs outside any batch
                conn.autocommit = True
                try:
                    # INDEX_CLEANUP ON: by default a VACUUM that finds few dead rows in a
                    # large table skips the indexes, leaving the shredded digest in one.
                    conn.execute(
                        self._sql(
                            "VACUUM (INDEX_CLEANUP ON) {schema}.data_keys, {schema}.identities"
                        )
                    )
                finally:
                    conn.autocommit = False
        except psycopg.Error as exc:
            # The shred is committed; only the dead tuples wait for autovacuum now.
            _log.warning(
                "key store %s: VACUUM after a shred failed (%s); dead rows remain until "
                "autovacuum runs", self.schema, type(exc).__name__,
            )

    def _translated(self, operation: str) -> _Translated:
        return _Translated(self.schema, operation)


class _Translated:
    """Turns psycopg errors into ``KeyStoreError``, keeping the original as the cause."""

    __slots__ = ("operation", "schema")

    def __init__(self, schema: str, operation: str) -> None:
        self.schema = schema
        self.operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(error, psycopg.Error):
            raise KeyStoreError(
                f"PostgreSQL key store {self.schema} failed to {self.operation} "
                f"({type(error).__name__})"
            ) from error


def _destroyed(row: tuple[Any, ...]) -> DestroyedKey:
    key_id, subject_id, scope, destroyed_at = row
    return DestroyedKey(key_id, subject_id, scope, destroyed_at.astimezone(UTC))


def _conforms_to_port(store: PostgresKeyStore) -> KeyStore:
    # Never called: makes mypy prove the adapter implements the whole port.
    return store
