"""The shard index in a SQLite file: one file per shard, in the data directory
(``Settings.shard_index_path``), created 0600.

A file holds one shard: rows of any other (topic, partition) found as it opens (a file
copied from another ledger's data directory, another topic's) are deleted first, so
they neither mix with this shard's nor linger. ``synchronous=NORMAL``: a power cut may
lose the last transactions but never tears one (WAL), and what it loses is the
partition's tail, which the next claim reads again. No ``secure_delete``: the rows hold
nothing the ledger topic does not hold too (ids, versions, ciphertext).

One connection guarded by a lock; ``BEGIN IMMEDIATE`` takes the write lock up front.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ledger.kafka.shard_index import Connection, ShardIndex, ShardIndexError, SQLShardIndex

_SCHEMA = """
CREATE TABLE IF NOT EXISTS shards (
    shard_id INTEGER PRIMARY KEY,
    ledger_topic TEXT NOT NULL,
    shard INTEGER NOT NULL,
    indexed_through INTEGER NOT NULL,
    UNIQUE (ledger_topic, shard)
);
CREATE TABLE IF NOT EXISTS events (
    shard_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    originator_id TEXT NOT NULL,
    originator_version INTEGER NOT NULL,
    topic TEXT NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (shard_id, id)
);
CREATE INDEX IF NOT EXISTS events_by_originator
    ON events (shard_id, originator_id, originator_version);
"""


class SQLiteShardIndex(SQLShardIndex):
    """``ShardIndex`` of one shard in a SQLite file."""

    driver_error = sqlite3.Error

    def __init__(self, path: str | os.PathLike[str], topic: str, partition: int, *,
                 busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        super().__init__(topic, partition, f"shard index of {topic} partition {partition} "
                                           f"at {self.path}")
        try:
            _create_private(self.path)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                       check_same_thread=False, cached_statements=64)
        except (OSError, sqlite3.Error) as error:
            raise ShardIndexError(f"cannot open the {self._label} ({type(error).__name__})"
                                  ) from error
        self._open()

    # -- what SQLite does its own way --------------------------------------------------

    def _connection(self) -> Connection:
        return self._db

    def _prepare(self) -> None:
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL",
                       "cache_size = -32768", "temp_store = MEMORY"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(_SCHEMA)
        self._forget_other_shards()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _insert_many(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        self._db.executemany(statement, rows)

    def _forget_other_shards(self) -> None:
        others = [row[0] for row in self._db.execute(
            "SELECT shard_id FROM shards WHERE NOT (ledger_topic = ? AND shard = ?)",
            (self.topic, self.partition)).fetchall()]
        if not others:
            return
        with self._transaction():
            for shard_id in others:
                self._db.execute("DELETE FROM events WHERE shard_id = ?", (shard_id,))
                self._db.execute("DELETE FROM shards WHERE shard_id = ?", (shard_id,))


def _create_private(path: Path) -> None:
    """The file, owner-only (SQLite gives its -wal and -shm files the same mode), in a
    private folder if that has to be made."""
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _conforms_to_port(index: SQLiteShardIndex) -> ShardIndex:
    # Never called: makes mypy prove the adapter implements the whole port.
    return index
