"""The embedded (SQLite) event store's side of the ledger binding (``ledger.crypto.binding``).

The ledger id lives in a one-row table of its own, ``ledger_binding``, in the event
store's SQLite file, beside the eventsourcing library's tables (which it does not
touch). It is read before the application opens the file and written once, when the
ledger is new (or adopted from before binding), before any act is recorded.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from uuid import UUID

from ledger.crypto.binding import META_LEDGER_ID, StoreSide
from ledger.domain.policy_register import POLICY_REGISTER_ID
from ledger.errors import KeyStoreError, KeyStoreMismatch

TABLE = "ledger_binding"
# The policy register's events are not a subject's acts: a ledger that only published
# its policy holds nothing a lost key store could make unreadable.
_NOT_ACTS = (POLICY_REGISTER_ID.hex, str(POLICY_REGISTER_ID))


def read_event_store(path: Path) -> StoreSide:
    """What the event store at ``path`` says: its ledger id, and whether it holds acts.

    Reads only; a missing file is reported as missing, never created.
    """
    where = f"event store {path}"
    if not path.exists() or path.stat().st_size == 0:
        return StoreSide(where, None, holds_data=False, missing=not path.exists())
    try:
        with closing(sqlite3.connect(path, timeout=10, isolation_level=None)) as db:
            db.execute("PRAGMA query_only=ON")
            tables = [row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
            ledger_id = None
            if TABLE in tables:
                row = db.execute(f"SELECT value FROM {TABLE} WHERE name = ?",  # noqa: S608
                                 (META_LEDGER_ID,)).fetchone()
                ledger_id = None if row is None else UUID(str(row[0]))
            return StoreSide(where, ledger_id, holds_data=_holds_acts(db, tables))
    except (sqlite3.Error, ValueError) as error:
        raise KeyStoreError(
            f"cannot read the ledger binding of {where} ({type(error).__name__})"
        ) from error


def bind_event_store(path: Path, ledger_id: UUID) -> None:
    """Records ``ledger_id`` in the event store at ``path`` (created, owner-only, if
    missing); ``KeyStoreMismatch`` if another process bound it to another ledger first."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        with closing(sqlite3.connect(path, timeout=10, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")  # as the event store's own connections
            db.execute("BEGIN IMMEDIATE")
            db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ("
                       "name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute(f"INSERT INTO {TABLE} (name, value) VALUES (?, ?)"  # noqa: S608
                       " ON CONFLICT (name) DO NOTHING", (META_LEDGER_ID, str(ledger_id)))
            (bound,) = db.execute(f"SELECT value FROM {TABLE} WHERE name = ?",  # noqa: S608
                                  (META_LEDGER_ID,)).fetchone()
            db.execute("COMMIT")
    except sqlite3.Error as error:
        raise KeyStoreError(
            f"cannot bind the event store {path} to its key store ({type(error).__name__})"
        ) from error
    if UUID(str(bound)) != ledger_id:
        raise KeyStoreMismatch(
            f"event store {path} was bound to ledger {bound} while ledger {ledger_id}'s "
            "key store was opened: another process started another ledger here"
        )


def _holds_acts(db: sqlite3.Connection, tables: list[str]) -> bool:
    for table in tables:
        if table == TABLE or table.startswith("sqlite_"):
            continue
        columns = {row[1] for row in db.execute(f'PRAGMA table_info("{table}")').fetchall()}
        if "originator_id" not in columns:
            continue
        found = db.execute(
            f'SELECT 1 FROM "{table}" WHERE originator_id NOT IN (?, ?) LIMIT 1',  # noqa: S608
            _NOT_ACTS,
        ).fetchone()
        if found is not None:
            return True
    return False
