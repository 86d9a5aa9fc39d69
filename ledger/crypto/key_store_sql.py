"""What the SQL key stores share: the queries, wrapping under the master, and the fence.

``key_store_sqlite`` and ``key_store_postgres`` keep the same four tables and run the
same statements, written here once with ``?`` placeholders and ``{table}`` names that
each adapter's ``Dialect`` fills in, along with how it stores ids and timestamps. What
an adapter supplies itself is what its database does differently: connections and
transactions (one locked connection with ``BEGIN IMMEDIATE``, or a pool with row locks),
the tables' DDL, how a shred leaves no copy of a deleted row behind (a WAL checkpoint
after ``secure_delete``, or a VACUUM), and the few steps whose concurrency control
differs (creating a key, deleting a subject's keys, binding an identity).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from ledger.crypto.binding import META_LEDGER_ID, StoreSide, settle
from ledger.crypto.identity import identity_digest
from ledger.crypto.keys import DataKey, DestroyedKey, WrappedKey, check_name, check_scopes
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
from ledger.errors import KeyDestroyed, KeyStoreError, translated

_EXPORT_PAGE = 1000
_SELECT_KEYS = "SELECT key_id, subject_id, scope, wrapped, master_fingerprint FROM {data_keys}"
# Subject ids per IN list of ``active_keys``: far below every driver's parameter limit.
_IN_CHUNK = 500
_SELECT_ACTIVE = _SELECT_KEYS + " WHERE subject_id = ? AND scope = ? AND {active}"
_SELECT_FENCE = "SELECT key_id, subject_id, scope, destroyed_at FROM {destroyed_keys}"
_INSERT_FENCE = (
    "INSERT INTO {destroyed_keys} (key_id, subject_id, scope, destroyed_at)"
    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


class Cursor(Protocol):
    """What the key store reads back from either driver's cursor."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def executemany(self, query: str, rows: Sequence[Sequence[Any]], /) -> object: ...

    def close(self) -> None: ...


class Connection(Protocol):
    """A sqlite3 or psycopg connection, as far as the shared statements use one."""

    def execute(self, query: str, params: Sequence[Any] = ..., /) -> Cursor: ...

    def cursor(self) -> Cursor: ...


@dataclass(frozen=True)
class Dialect:
    """How one database writes the shared statements and stores their values."""

    param: str  # the driver's placeholder, for the ``?`` in the statements here
    names: Mapping[str, str]  # table names and the fragments below, by template field:
    # {active}: the condition of the active key; {for_share}/{for_update}: row locks
    uuid_in: Callable[[UUID], Any]
    uuid_out: Callable[[Any], UUID]
    time_in: Callable[[datetime], Any]
    time_out: Callable[[Any], datetime]
    text_in: Callable[[str], Any]  # a text value of the meta table
    lowest_key_id: Any  # below every stored key id: where an export starts
    any_scope: Callable[[list[str]], tuple[str, list[Any]]]  # " AND scope IN ..."

    def render(self, template: str) -> str:
        text = template.format_map(self.names)
        return text if self.param == "?" else text.replace("?", self.param)


def text_out(raw: Any) -> str:
    """A meta value stored as text (SQLite) or as bytes (PostgreSQL), as text."""
    return bytes(raw).decode() if isinstance(raw, bytes | memoryview) else str(raw)


class _BatchState(threading.local):
    connection: Connection | None = None  # the open batch's, in this thread
    scrub_due: bool = False  # a shred in the batch: scrub once it commits


class SQLKeyStore(ABC):
    """A ``KeyStore`` on SQL tables; subclasses bring the database. See the module doc."""

    driver_error: type[Exception]  # what the adapter's driver raises, to translate

    def __init__(
        self, master_key: MasterKey, dialect: Dialect, *, name: str, label: str
    ) -> None:
        self._master = master_key
        # Every master this instance has held: a row fetched just before (or just after)
        # a rotation commits is unwrapped with the master it names, not refused.
        self._masters: dict[str, MasterKey] = {master_key.fingerprint: master_key}
        self._dialect = dialect
        self._what = f"key store {name}"  # as master-key mismatches name the store
        self._label = label  # as driver failures name it
        self._queries: dict[str, str] = {}
        self._batch = _BatchState()
        self._lookup_secret = b""  # set by _open_meta once the adapter has connected
        # The ledger this store is bound to (``ledger.crypto.binding``); None: unbound.
        self.ledger_id: UUID | None = None

    # -- what each adapter supplies ------------------------------------------------------

    @abstractmethod
    def _reading(self, operation: str) -> AbstractContextManager[Connection]:
        """A connection to read on (the open batch's, if any), errors translated."""

    @abstractmethod
    def _writing(self, operation: str) -> AbstractContextManager[Connection]:
        """A transaction that commits as the block exits, or the open batch's."""

    @abstractmethod
    def _create_tables(self, conn: Connection) -> None:
        """Creates (or upgrades) the tables, inside the opening transaction."""

    @abstractmethod
    def _delete_keys(self, conn: Connection, where: str, args: list[Any]) -> list[Any]:
        """Deletes the data keys ``where`` selects; their (key_id, scope) rows."""

    @abstractmethod
    def _bind(self, conn: Connection, digest: bytes, subject_id: Any, scope: str | None) -> bool:
        """Binds ``digest`` to the subject (or updates its scope); False if another
        subject holds it."""

    @abstractmethod
    def _scrub(self) -> None:
        """Clears what a committed delete leaves of the deleted rows in the database."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def _lock_subject(self, conn: Connection, subject_id: UUID) -> None:
        """Serialises the shreds and restores of one subject until commit."""

    @abstractmethod
    def _after_rotation(self) -> None:
        """Runs once a master rotation has committed."""

    @abstractmethod
    def _check_batch_intact(self, conn: Connection) -> None:
        """Raises ``KeyStoreError`` if the batch's transaction can no longer commit."""

    def _create_key(self, conn: Connection, subject_id: UUID, scope: str) -> DataKey:
        """A new active key for (subject, scope), which the caller found without one."""
        return self._insert_key(conn, self._check_current_master(conn), subject_id, scope)

    # -- KeyStore -------------------------------------------------------------------

    @property
    def master_fingerprint(self) -> str:
        return self._master.fingerprint

    def data_key(self, subject_id: UUID, scope: str) -> DataKey:
        check_name(scope, "scope")
        with self._reading("get a data key") as conn:
            row = self._active_row(conn, subject_id, scope)
            if row is not None:
                return self._unwrap(row)
            return self._create_key(conn, subject_id, scope)

    def active_keys(self, subject_ids: Collection[UUID]) -> list[DataKey]:
        return self._keys_where_in("subject_id", subject_ids, also="{active} AND ")

    def create_data_key(self, subject_id: UUID, scope: str) -> DataKey:
        check_name(scope, "scope")
        with self._reading("create a data key") as conn:
            return self._create_key(conn, subject_id, scope)

    def key_by_id(self, key_id: UUID) -> DataKey | None:
        query = self._sql(_SELECT_KEYS + " WHERE key_id = ?")
        with self._reading("read a data key") as conn:
            row = conn.execute(query, (self._dialect.uuid_in(key_id),)).fetchone()
        return None if row is None else self._unwrap(row)

    def keys_by_id(self, key_ids: Collection[UUID]) -> list[DataKey]:
        return self._keys_where_in("key_id", key_ids)

    def _keys_where_in(self, column: str, ids: Collection[UUID], *, also: str = ""
                       ) -> list[DataKey]:
        """The keys whose ``column`` is one of ``ids`` (and, with ``also``, that holds
        too), read in chunks of ``_IN_CHUNK`` ids per query."""
        wanted = [self._dialect.uuid_in(i) for i in dict.fromkeys(ids)]
        rows: list[Any] = []
        with self._reading("read data keys") as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start:start + _IN_CHUNK]
                query = self._sql(f"{_SELECT_KEYS} WHERE {also}{column} IN "
                                  f"({', '.join('?' * len(chunk))})")
                rows += conn.execute(query, chunk).fetchall()
        return [self._unwrap(row) for row in rows]

    def shred(self, subject_id: UUID, scopes: Collection[str] | None = None) -> list[UUID]:
        wanted = check_scopes(scopes)
        if wanted == []:
            return []
        d = self._dialect
        where, args = " WHERE subject_id = ?", [d.uuid_in(subject_id)]
        if wanted is not None:
            scope_clause, scope_args = d.any_scope(wanted)
            where, args = where + scope_clause, args + scope_args
        with self._writing("shred") as conn:
            self._lock_subject(conn, subject_id)
            rows = self._delete_keys(conn, where, args)
            destroyed_at = d.time_in(datetime.now(UTC))
            self._execute_many(
                conn, _INSERT_FENCE,
                [(key_id, args[0], scope, destroyed_at) for key_id, scope in rows],
            )
            forget = "DELETE FROM {identities}" + where  # noqa: S608 - fixed fragments
            forgotten = conn.execute(self._sql(forget), args).rowcount
        if rows or forgotten:
            self._scrub_when_committed()
        return [d.uuid_out(key_id) for key_id, _ in rows]

    def destroyed_keys(self, subject_id: UUID) -> list[DestroyedKey]:
        query = self._sql(_SELECT_FENCE + " WHERE subject_id = ? ORDER BY destroyed_at, key_id")
        with self._reading("read the erasure fence") as conn:
            rows = conn.execute(query, (self._dialect.uuid_in(subject_id),)).fetchall()
        return [self._destroyed(row) for row in rows]

    def is_fenced(self, key_id: UUID) -> bool:
        query = self._sql("SELECT 1 FROM {destroyed_keys} WHERE key_id = ?")
        with self._reading("read the erasure fence") as conn:
            row = conn.execute(query, (self._dialect.uuid_in(key_id),)).fetchone()
        return row is not None

    def export_wrapped(self) -> Iterator[WrappedKey]:
        d = self._dialect
        after = d.lowest_key_id
        query = self._sql(
            "SELECT key_id, subject_id, scope, wrapped, master_fingerprint, created_at"
            " FROM {data_keys} WHERE key_id > ? ORDER BY key_id LIMIT ?"
        )
        while True:
            with self._reading("export keys") as conn:
                rows = conn.execute(query, (after, _EXPORT_PAGE)).fetchall()
            for key_id, subject_id, scope, wrapped, fingerprint, created_at in rows:
                yield WrappedKey(
                    d.uuid_out(key_id), d.uuid_out(subject_id), scope, bytes(wrapped),
                    fingerprint, d.time_out(created_at),
                )
            if len(rows) < _EXPORT_PAGE:
                return
            after = rows[-1][0]

    def import_wrapped(self, record: WrappedKey) -> None:
        check_name(record.scope, "scope")
        d = self._dialect
        key_id, subject_id = d.uuid_in(record.key_id), d.uuid_in(record.subject_id)
        with self._writing("import a key") as conn:
            self._lock_subject(conn, record.subject_id)
            fenced = conn.execute(
                self._sql("SELECT destroyed_at FROM {destroyed_keys} WHERE key_id = ?"),
                (key_id,),
            ).fetchone()
            if fenced is not None:
                raise KeyDestroyed(
                    f"key {record.key_id} was destroyed at {d.time_out(fenced[0])}; "
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
                    "INSERT INTO {data_keys} (key_id, subject_id, scope, active, wrapped,"
                    " master_fingerprint, created_at) SELECT ?, ?, ?, NOT EXISTS ("
                    "SELECT 1 FROM {data_keys} WHERE subject_id = ? AND scope = ?"
                    " AND {active}), ?, ?, ? ON CONFLICT DO NOTHING"
                ),
                (key_id, subject_id, record.scope, subject_id, record.scope, record.wrapped,
                 record.master_fingerprint, d.time_in(record.created_at)),
            ).rowcount
            if inserted:
                return
            existing = conn.execute(
                self._sql("SELECT subject_id, scope FROM {data_keys} WHERE key_id = ?"),
                (key_id,),
            ).fetchone()
            if existing is None or tuple(existing) != (subject_id, record.scope):
                raise KeyStoreError(
                    f"key {record.key_id} is already stored for another subject or scope"
                )

    def export_fence(self) -> Iterator[DestroyedKey]:
        query = self._sql(_SELECT_FENCE + " ORDER BY destroyed_at, key_id")
        with self._reading("export the erasure fence") as conn:
            rows = conn.execute(query).fetchall()
        return iter([self._destroyed(row) for row in rows])

    def import_fence(self, record: DestroyedKey) -> None:
        check_name(record.scope, "scope")
        d = self._dialect
        with self._writing("import a fence record") as conn:
            self._lock_subject(conn, record.subject_id)
            conn.execute(
                self._sql(_INSERT_FENCE),
                (d.uuid_in(record.key_id), d.uuid_in(record.subject_id), record.scope,
                 d.time_in(record.destroyed_at)),
            )
            deleted = conn.execute(
                self._sql("DELETE FROM {data_keys} WHERE key_id = ?"), (d.uuid_in(record.key_id),)
            ).rowcount
        if deleted:
            self._scrub_when_committed()

    def rotate_master(self, new_master: MasterKey) -> int:
        with self._writing("rotate the master key") as conn:
            self._check_current_master(conn, for_update=True)
            rows = conn.execute(self._sql(_SELECT_KEYS + "{for_update}")).fetchall()
            rewrapped = [
                (wrap_data_key(new_master, key), new_master.fingerprint,
                 self._dialect.uuid_in(key.key_id))
                for key in map(self._unwrap, rows)
            ]
            self._execute_many(
                conn,
                "UPDATE {data_keys} SET wrapped = ?, master_fingerprint = ? WHERE key_id = ?",
                rewrapped,
            )
            self._put_meta(
                conn, META_LOOKUP_SECRET, wrap_lookup_secret(new_master, self._lookup_secret)
            )
            self._put_meta(conn, META_MASTER_FINGERPRINT, new_master.fingerprint)
            self._masters[new_master.fingerprint] = new_master  # commits as the block exits
        self._master = new_master
        self._after_rotation()
        return len(rewrapped)

    def bind_identity(
        self, kind: str, value: str, subject_id: UUID, *, scope: str | None = None
    ) -> None:
        if scope is not None:
            check_name(scope, "scope")
        digest = identity_digest(self._lookup_secret, kind, value)
        with self._writing("bind an identity") as conn:
            bound = self._bind(conn, digest, self._dialect.uuid_in(subject_id), scope)
        if not bound:
            raise KeyStoreError(
                f"this {kind} identity is already bound to another subject; "
                "look it up with lookup_identity"
            )

    def lookup_identity(self, kind: str, value: str) -> UUID | None:
        digest = identity_digest(self._lookup_secret, kind, value)
        with self._reading("look up an identity") as conn:
            row = conn.execute(
                self._sql("SELECT subject_id FROM {identities} WHERE digest = ?"), (digest,)
            ).fetchone()
        return None if row is None else self._dialect.uuid_out(row[0])

    @contextmanager
    def batch(self) -> Iterator[None]:
        # One transaction for the whole intake batch, on one connection held by this
        # thread: one commit (and fsync) per batch instead of one per new key or identity.
        if self._batch.connection is not None:
            yield  # nested: the outer batch commits
            return
        try:
            with self._writing("write a batch") as conn:
                self._check_current_master(conn)  # as each write would, once for the batch
                self._batch.connection = conn
                try:
                    yield
                    # A statement that failed inside the batch, its error swallowed by a
                    # caller, must not let the commit pass for the rest: say so instead.
                    self._check_batch_intact(conn)
                finally:
                    self._batch.connection = None
            if self._batch.scrub_due:
                self._scrub()
        finally:
            self._batch.scrub_due = False  # a rolled-back shred left nothing to clear

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------

    def _translated(self, operation: str) -> translated:
        """Turns driver errors into ``KeyStoreError``, keeping the original as the cause."""
        return translated(self.driver_error, KeyStoreError,
                          f"{self._label} failed to {operation}")

    def _sql(self, template: str) -> str:
        """``template`` in this store's dialect. Only table names and fixed fragments
        are interpolated; values always go as parameters."""
        query = self._queries.get(template)
        if query is None:
            query = self._queries[template] = self._dialect.render(template)
        return query

    def _execute_many(self, conn: Connection, template: str, rows: list[Any]) -> None:
        with closing(conn.cursor()) as cursor:
            cursor.executemany(self._sql(template), rows)

    def _open_meta(self, event_store: StoreSide | None = None) -> bytes:
        """Creates the tables if need be; the lookup secret, new or unwrapped.

        With ``event_store`` (what the event store says of its binding) the store must
        be that event store's: ``KeyStoreMismatch`` otherwise, checked before the master
        key and rolling back whatever the open created; a new or adopted store is bound
        in the same transaction.
        """
        with self._writing("open") as conn:
            self._create_tables(conn)
            meta = dict(conn.execute(self._sql("SELECT name, value FROM {meta}")).fetchall())
            bound = meta.get(META_LEDGER_ID)
            self.ledger_id = None if bound is None else UUID(text_out(bound))
            ledger_id = self.ledger_id
            if event_store is not None:
                ledger_id = settle(event_store, StoreSide(
                    self._what, self.ledger_id, holds_data=self._holds_keys(conn)))
            if META_MASTER_FINGERPRINT not in meta:
                secret = new_lookup_secret()
                self._put_meta(conn, META_SCHEMA_VERSION, SCHEMA_VERSION)
                self._put_meta(conn, META_MASTER_FINGERPRINT, self._master.fingerprint)
                self._put_meta(conn, META_LOOKUP_SECRET, wrap_lookup_secret(self._master, secret))
            else:
                version = text_out(meta.get(META_SCHEMA_VERSION, b""))
                if version != SCHEMA_VERSION:
                    raise KeyStoreError(
                        f"{self._what} has schema version {version!r}; "
                        f"this version reads {SCHEMA_VERSION!r}"
                    )
                check_master(self._master, text_out(meta[META_MASTER_FINGERPRINT]), self._what)
                secret = unwrap_lookup_secret(self._master, bytes(meta[META_LOOKUP_SECRET]))
            if ledger_id != self.ledger_id and ledger_id is not None:
                self._put_meta(conn, META_LEDGER_ID, str(ledger_id))
        self.ledger_id = ledger_id
        return secret

    def _holds_keys(self, conn: Connection) -> bool:
        """Whether the store holds any key or fence record: a ledger's, not a new one."""
        return any(
            conn.execute(self._sql(f"SELECT 1 FROM {{{table}}} LIMIT 1")).fetchone()  # noqa: S608
            is not None
            for table in ("data_keys", "destroyed_keys")
        )

    def _put_meta(self, conn: Connection, name: str, value: str | bytes) -> None:
        conn.execute(
            self._sql(
                "INSERT INTO {meta} (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
            ),
            (name, self._dialect.text_in(value) if isinstance(value, str) else value),
        )

    def _check_current_master(self, conn: Connection, *, for_update: bool = False) -> MasterKey:
        """The master the store is wrapped under now, if this process holds it."""
        # Where the database has row locks, share-locked until commit: a rotation (which
        # takes it for update) waits for us, and we never wrap under a retired master.
        query = (
            "SELECT value FROM {meta} WHERE name = ?{for_update}"
            if for_update
            else "SELECT value FROM {meta} WHERE name = ?{for_share}"
        )
        row = conn.execute(self._sql(query), (META_MASTER_FINGERPRINT,)).fetchone()
        if row is None:
            raise KeyStoreError(f"{self._what} has no master fingerprint")
        return self._master_for(text_out(row[0]), self._what)

    def _master_for(self, fingerprint: str, what: str) -> MasterKey:
        known = self._masters.get(fingerprint)
        if known is None:
            check_master(self._master, fingerprint, what)  # raises MasterKeyMismatch
            return self._master
        return known

    def _active_row(self, conn: Connection, subject_id: UUID, scope: str) -> Any:
        return conn.execute(
            self._sql(_SELECT_ACTIVE), (self._dialect.uuid_in(subject_id), scope)
        ).fetchone()

    def _insert_key(
        self, conn: Connection, master: MasterKey, subject_id: UUID, scope: str
    ) -> DataKey:
        d = self._dialect
        key = new_data_key(subject_id, scope)
        inserted = conn.execute(
            self._sql(
                "INSERT INTO {data_keys} (key_id, subject_id, scope, active, wrapped,"
                " master_fingerprint, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING"
            ),
            (d.uuid_in(key.key_id), d.uuid_in(subject_id), scope, True,
             wrap_data_key(master, key), master.fingerprint, d.time_in(datetime.now(UTC))),
        ).rowcount
        if inserted:
            return key
        # A concurrent creator won the partial unique index (one active key): use theirs.
        row = self._active_row(conn, subject_id, scope)
        if row is None:
            raise KeyStoreError(f"no active key for subject {subject_id} after creating one")
        return self._unwrap(row)

    def _unwrap(self, row: Sequence[Any]) -> DataKey:
        raw_key_id, subject_id, scope, wrapped, fingerprint = row
        key_id = self._dialect.uuid_out(raw_key_id)
        return unwrap_data_key(
            self._master_for(fingerprint, f"data key {key_id}"), key_id=key_id,
            subject_id=self._dialect.uuid_out(subject_id), scope=scope,
            wrapped=bytes(wrapped), wrapped_under=fingerprint,
        )

    def _destroyed(self, row: Sequence[Any]) -> DestroyedKey:
        key_id, subject_id, scope, destroyed_at = row
        d = self._dialect
        return DestroyedKey(
            d.uuid_out(key_id), d.uuid_out(subject_id), scope, d.time_out(destroyed_at)
        )

    def _scrub_when_committed(self) -> None:
        # Neither checkpoint nor VACUUM can run inside a transaction: a shred inside
        # batch() (an erasure handled by the intake writer) is scrubbed once it commits.
        if self._batch.connection is not None:
            self._batch.scrub_due = True
        else:
            self._scrub()

