"""The shard index on PostgreSQL, when ``LEDGER_POSTGRES_DSN`` is set: the writer that
takes a shard over on another machine (``ledger serve --group``) finds the index there.

Every shard's events in one table of its own schema (``ledger_shard_index`` by
default), keyed by the shard's row in ``shards`` (topic, partition); tables are created
if absent, under an advisory lock so that writers starting together do not race. The
connection is in autocommit mode, with a transaction per ``add`` and ``drop``, so a
reader never leaves one idle; psycopg pipelines ``executemany``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from ledger.kafka.shard_index import Connection, ShardIndex, ShardIndexError, SQLShardIndex

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

_TABLES = """
CREATE TABLE IF NOT EXISTS {shards} (
    shard_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ledger_topic text NOT NULL,
    shard integer NOT NULL,
    indexed_through bigint NOT NULL,
    UNIQUE (ledger_topic, shard)
);
CREATE TABLE IF NOT EXISTS {events} (
    shard_id bigint NOT NULL,
    id bigint NOT NULL,
    originator_id text COLLATE "C" NOT NULL,
    originator_version bigint NOT NULL,
    topic text NOT NULL,
    state bytea NOT NULL,
    PRIMARY KEY (shard_id, id)
);
CREATE INDEX IF NOT EXISTS events_by_originator
    ON {events} (shard_id, originator_id, originator_version)
"""


class PostgresShardIndex(SQLShardIndex):
    """``ShardIndex`` of one shard in a PostgreSQL schema shared by every shard."""

    driver_error = psycopg.Error
    param = "%s"

    def __init__(self, dsn: str, topic: str, partition: int, *,
                 schema: str = "ledger_shard_index", connect_timeout: float = 10.0) -> None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise ShardIndexError("the shard index schema name must match "
                                  "[a-z_][a-z0-9_]{0,62}")
        self.schema = schema
        # Never the DSN in a label: it may carry a password.
        super().__init__(topic, partition,
                         f"shard index of {topic} partition {partition} in {schema}")
        self._tables = {name: sql.Identifier(schema, name).as_string()
                        for name in ("events", "shards")}
        try:
            self._db = psycopg.connect(dsn, autocommit=True,
                                       connect_timeout=max(1, round(connect_timeout)))
        except psycopg.Error as error:
            raise ShardIndexError(f"cannot connect the {self._label} "
                                  f"({type(error).__name__})") from error
        self._open()

    # -- what PostgreSQL does its own way ----------------------------------------------

    def _connection(self) -> Connection:
        return self._db

    def _prepare(self) -> None:
        with self._transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                             (f"ledger:{self.schema}",))
            self._db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(self.schema)))
            for statement in _TABLES.split(";"):
                self._db.execute(statement.format(**self._tables).encode())

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._db.transaction():
            yield

    def _insert_many(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(statement.encode(), rows)


def _conforms_to_port(index: PostgresShardIndex) -> ShardIndex:
    # Never called: makes mypy prove the adapter implements the whole port.
    return index
