"""A private SQLite file for the consumers' own small stores (access log, web tokens)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ledger.errors import translated


def open_private_sqlite(path: Path, schema: str, *pragmas: str, store: str,
                        error: Callable[[str], Exception]) -> sqlite3.Connection:
    """Opens the SQLite file at ``path`` (created 0600, in a 0700 folder, if missing) in
    autocommit and WAL mode, sets ``pragmas`` and runs ``schema``. Fails with ``error``
    ("cannot open STORE at PATH (ErrorType)") where the file system or SQLite does."""
    with translated((OSError, sqlite3.Error), error, f"cannot open {store} at {path}"):
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        for pragma in pragmas:
            db.execute(f"PRAGMA {pragma}")
        db.executescript(schema)
        return db


@contextmanager
def sqlite_transaction(db: sqlite3.Connection, begin: str = "BEGIN") -> Iterator[sqlite3.Cursor]:
    """A cursor in one transaction of the autocommit connection ``db``, committed when
    the block ends, rolled back if it raises (``begin``: "BEGIN IMMEDIATE" to take the
    write lock first). The caller holds whatever lock guards ``db``."""
    cursor = db.cursor()
    cursor.execute(begin)
    try:
        yield cursor
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
