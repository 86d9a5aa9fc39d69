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
The statements, wrapping and the fence are shared with SQLite (``key_store_sql``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from ledger.crypto.binding import StoreSide
from ledger.crypto.key_store_sql import Connection, Dialect, SQLKeyStore
from ledger.crypto.keys import KeyStore
from ledger.crypto.master_key import MasterKey
from ledger.errors import KeyStoreError, LedgerError

_log = logging.getLogger(__name__)
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

_TABLES = """
CREATE TABLE IF NOT EXISTS {meta} (
    name text PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS {data_keys} (
    key_id uuid PRIMARY KEY,
    subject_id uuid NOT NULL,
    scope text NOT NULL,
    active boolean NOT NULL,
    wrapped bytea NOT NULL,
    master_fingerprint text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS data_keys_by_subject ON {data_keys} (subject_id, scope);
CREATE UNIQUE INDEX IF NOT EXISTS data_keys_one_active
    ON {data_keys} (subject_id, scope) WHERE active;
CREATE TABLE IF NOT EXISTS {destroyed_keys} (
    key_id uuid PRIMARY KEY,
    subject_id uuid NOT NULL,
    scope text NOT NULL,
    destroyed_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS destroyed_keys_by_subject ON {destroyed_keys} (subject_id);
CREATE TABLE IF NOT EXISTS {identities} (
    digest bytea PRIMARY KEY,
    subject_id uuid NOT NULL,
    scope text
);
CREATE INDEX IF NOT EXISTS identities_by_subject ON {identities} (subject_id);
ALTER TABLE {identities} ADD COLUMN IF NOT EXISTS scope text
"""


def _dialect(schema: str) -> Dialect:
    def table(name: str) -> str:
        # Only the validated schema name is interpolated; values always go as parameters.
        return sql.Identifier(schema, name).as_string()

    return Dialect(
        param="%s",
        names={
            "schema": sql.Identifier(schema).as_string(), "meta": table("meta"),
            "data_keys": table("data_keys"), "destroyed_keys": table("destroyed_keys"),
            "identities": table("identities"), "active": "active",
            "for_share": " FOR SHARE", "for_update": " FOR UPDATE",
        },
        uuid_in=lambda u: u, uuid_out=lambda raw: raw if isinstance(raw, UUID) else UUID(str(raw)),
        time_in=lambda moment: moment, time_out=lambda moment: moment.astimezone(UTC),
        text_in=str.encode, lowest_key_id=UUID(int=0),
        any_scope=lambda scopes: (" AND scope = ANY(%s)", [scopes]),
    )


class PostgresKeyStore(SQLKeyStore):
    """``KeyStore`` on PostgreSQL. ``MasterKeyMismatch`` if opened with another master."""

    driver_error = psycopg.Error

    def __init__(
        self,
        dsn: str,
        master_key: MasterKey,
        *,
        schema: str = "ledger_keys",
        pool_size: int = 4,
        connect_timeout: float = 10.0,
        vacuum_after_shred: bool = True,
        event_store: StoreSide | None = None,
    ) -> None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise KeyStoreError("the key store schema name must match [a-z_][a-z0-9_]{0,62}")
        self.schema = schema
        super().__init__(
            master_key, _dialect(schema), name=schema, label=f"PostgreSQL key store {schema}"
        )
        self._vacuum_after_shred = vacuum_after_shred
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            dsn, min_size=1, max_size=pool_size, open=False,
            check=ConnectionPool.check_connection, name=f"key-store-{schema}",
        )
        try:
            with self._translated("connect"):
                self._pool.open(wait=True, timeout=connect_timeout)
            # With ``event_store``: only as its key store (``ledger.crypto.binding``); a
            # refusal rolls back the tables the open would have created.
            self._lookup_secret = self._open_meta(event_store)
        except LedgerError:
            self._pool.close()
            raise

    def close(self) -> None:
        self._pool.close()

    def __repr__(self) -> str:
        # Never the DSN: it may carry a password.
        return f"PostgresKeyStore(schema={self.schema!r}, master={self._master.fingerprint!r})"

    # -- what PostgreSQL does its own way ----------------------------------------------

    @contextmanager
    def _reading(self, operation: str) -> Iterator[Connection]:
        """This thread's batch connection inside ``batch()``, else one from the pool:
        each pooled connection's block is one transaction, committed as it exits."""
        with self._translated(operation):
            conn = self._batch.connection
            if conn is not None:
                yield conn
                return
            with self._pool.connection() as pooled:
                yield pooled

    def _writing(self, operation: str) -> AbstractContextManager[Connection]:
        return self._reading(operation)  # a pooled connection's block is a transaction

    def _check_batch_intact(self, conn: Connection) -> None:
        # PostgreSQL turns COMMIT of a transaction in error into a silent ROLLBACK: the
        # batch's new keys would vanish while the events sealed with them commit.
        if (isinstance(conn, psycopg.Connection)
                and conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR):
            raise KeyStoreError(
                f"{self._label}: a statement in the batch failed; the batch was rolled "
                "back and none of its keys were stored")

    def _create_tables(self, conn: Connection) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ledger:{self.schema}",))
        conn.execute(self._dialect.render("CREATE SCHEMA IF NOT EXISTS {schema}"))
        for statement in _TABLES.split(";"):
            conn.execute(self._dialect.render(statement))

    def _lock_subject(self, conn: Connection, subject_id: UUID) -> None:
        # Serialises shreds and restores of one subject until commit. Without it, an
        # import racing a shred of the same key could commit the key after its fence.
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))",
            (f"ledger-keys:{self.schema}", str(subject_id)),
        )

    def _delete_keys(self, conn: Connection, where: str, args: list[Any]) -> list[Any]:
        delete = "DELETE FROM {data_keys}" + where  # noqa: S608 - fixed fragments
        return conn.execute(self._sql(delete + " RETURNING key_id, scope"), args).fetchall()

    def _bind(self, conn: Connection, digest: bytes, subject_id: Any, scope: str | None) -> bool:
        # One statement: rebinding to the same subject updates the scope, another
        # subject's row stays (and then the read below tells whose it is).
        written = conn.execute(
            self._sql(
                "INSERT INTO {identities} (digest, subject_id, scope) VALUES (?, ?, ?)"
                " ON CONFLICT (digest) DO UPDATE SET scope = excluded.scope"
                " WHERE identities.subject_id = excluded.subject_id"
                " AND identities.scope IS DISTINCT FROM excluded.scope"
            ),
            (digest, subject_id, scope),
        ).rowcount
        if written:
            return True
        row = conn.execute(
            self._sql("SELECT subject_id FROM {identities} WHERE digest = ?"), (digest,)
        ).fetchone()
        return row is not None and row[0] == subject_id

    def _after_rotation(self) -> None:
        pass  # only shreds vacuum: autovacuum removes the row versions a rotation leaves

    def _scrub(self) -> None:
        if not self._vacuum_after_shred:
            return
        try:
            with self._pool.connection() as conn:  # its own: VACUUM runs outside any batch
                conn.autocommit = True
                try:
                    # INDEX_CLEANUP ON: by default a VACUUM that finds few dead rows in a
                    # large table skips the indexes, leaving the shredded digest in one.
                    conn.execute(self._sql("VACUUM (INDEX_CLEANUP ON) {data_keys}, {identities}"))
                finally:
                    conn.autocommit = False
        except psycopg.Error as exc:
            # The shred is committed; only the dead tuples wait for autovacuum now.
            _log.warning(
                "key store %s: VACUUM after a shred failed (%s); dead rows remain until "
                "autovacuum runs", self.schema, type(exc).__name__,
            )


def _conforms_to_port(store: PostgresKeyStore) -> KeyStore:
    # Never called: makes mypy prove the adapter implements the whole port.
    return store
