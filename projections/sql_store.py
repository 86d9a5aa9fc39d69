"""What the SQLite and PostgreSQL projection stores share: the lock, transactions, the
schema check, error translation and the batch.

A store holds one connection guarded by a lock; a batch holds the lock from ``begin``
to ``commit``, so a batch and its position cannot interleave with another writer in
this process, and the database keeps writers in other processes out (``BEGIN
IMMEDIATE`` in SQLite, a row lock on the position in PostgreSQL). An adapter supplies
its connection, its ``sql.Dialect`` (placeholders, value and column types) and how it
runs statements; the statements and DDL are in ``projections.sql``, the reads in
``projections.store_reads``.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol
from uuid import UUID

from ledger.errors import translated
from projections import sql
from projections.errors import PositionMoved, ProjectionError
from projections.rows import Changes
from projections.store import STORE_SCHEMA, TABLES
from projections.store_reads import StoreReads


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SQLProjectionStore(StoreReads, ABC):
    """``ProjectionStore`` on SQL tables; subclasses bring the database."""

    driver_error: ClassVar[type[Exception]]  # what the driver raises, to translate
    begin_write: ClassVar[str]  # the statement that starts a write transaction
    lock_position: ClassVar[str]  # appended to the position's read when a batch begins

    def __init__(self, name: str) -> None:
        self._name = name  # as errors name the store
        self._lock = threading.RLock()

    # -- what each adapter supplies ------------------------------------------------------

    @abstractmethod
    def _execute(self, text: str, params: sql.Params | None = None) -> Cursor: ...

    @abstractmethod
    def _execute_many(self, text: str, rows: Sequence[sql.Params]) -> None: ...

    @abstractmethod
    def _in_transaction(self) -> bool: ...

    @abstractmethod
    def _load_docs(self, subject_ids: list[UUID]) -> Mapping[UUID, bytes]: ...

    @abstractmethod
    def _empty_tables(self) -> None: ...

    @abstractmethod
    def _lock_for_migration(self) -> None:
        """Keeps stores opening together from migrating at once."""

    # -- writing -----------------------------------------------------------------------

    def position(self) -> int:
        with self._locked("read the position"):
            return self._position()

    def _position(self, *, lock: bool = False) -> int:
        text = "SELECT value FROM projection_meta WHERE name = 'position'"
        row = self._execute(text + self.lock_position if lock else text).fetchone()
        return int(row[0]) if row else 0

    def begin(self, expected_position: int) -> _Transaction:
        self._lock.acquire()
        try:
            with self._translated("begin a batch"):
                self._execute(self.begin_write)
                current = self._position(lock=True)
                if current != expected_position:
                    raise PositionMoved(
                        f"the projection position is {current}, not {expected_position}")
        except BaseException:
            if self._in_transaction():
                self._execute("ROLLBACK")
            self._lock.release()
            raise
        return _Transaction(self, expected_position)

    def reset(self) -> None:
        with self._locked("reset"), self._transaction():
            self._empty_tables()
            self._execute("UPDATE projection_meta SET value = 0 WHERE name = 'position'")

    def _migrate(self) -> None:
        statements = sql.create_statements(self.dialect)
        with self._transaction():
            self._lock_for_migration()
            self._execute(statements[0])  # projection_meta, which holds the schema version
            row = self._execute(
                "SELECT value FROM projection_meta WHERE name = 'schema'").fetchone()
            if row is not None and row[0] != STORE_SCHEMA:
                # Derived data in an older shape: drop it; the catch-up rebuilds it.
                for table in TABLES:
                    self._execute(f"DROP TABLE IF EXISTS {table}")
                self._execute("DELETE FROM projection_meta")
            for statement in statements:
                self._execute(statement)
            self._execute(self.dialect.q(
                "INSERT INTO projection_meta (name, value) VALUES ('schema', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value"), (STORE_SCHEMA,))

    # -- plumbing ----------------------------------------------------------------------

    def _fetch(self, text: str, params: sql.Params, what: str = "read") -> list[sql.Params]:
        with self._locked(what):
            return [tuple(r) for r in self._execute(text, params).fetchall()]

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._execute(self.begin_write)
        try:
            yield
        except BaseException:
            if self._in_transaction():
                self._execute("ROLLBACK")
            raise
        self._execute("COMMIT")

    @contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        with self._lock, self._translated(what):
            yield

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        with translated(self.driver_error, ProjectionError,
                        f"projection store {self._name}: cannot {what}"):
            yield


class _Transaction:
    def __init__(self, store: SQLProjectionStore, expected_position: int) -> None:
        self._store = store
        self._expected = expected_position
        self._open = True

    def load_docs(self, subject_ids: Collection[UUID]) -> Mapping[UUID, bytes]:
        with self._store._translated("load subjects"):
            return self._store._load_docs(sorted(subject_ids))

    def write(self, changes: Changes) -> None:
        if changes.position <= self._expected:
            raise ProjectionError(
                f"a batch must move the position forward from {self._expected}, "
                f"not to {changes.position}")
        with self._store._translated("write a batch"):
            for statement, rows in sql.write_statements(self._store.dialect, changes):
                self._store._execute_many(statement, rows)

    def commit(self) -> None:
        self._finish("COMMIT")

    def rollback(self) -> None:
        self._finish("ROLLBACK")

    def _finish(self, verb: str) -> None:
        if not self._open:
            return
        self._open = False
        store = self._store
        try:
            with store._translated(verb.lower()):
                try:
                    store._execute(verb)
                except store.driver_error:
                    if store._in_transaction():  # a failed COMMIT leaves it open: undo it
                        store._execute("ROLLBACK")
                    raise
        finally:
            store._lock.release()
