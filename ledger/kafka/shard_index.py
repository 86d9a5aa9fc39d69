"""The shard index: a writer's persisted copy of its shard's committed events.

The writer of a shard (``ledger.kafka.recorder``) must know every (subject, version)
its partition holds before it commits, and eventsourcing reads a subject's events back
through it. Holding the whole partition in memory for that made a takeover of a shard
of 1M events read all of it first (~30 s, ~1 GB). The index keeps, per (ledger topic,
partition), the committed events exactly as they are on the topic: notification id
(offset + 1), originator id, version, event topic and state. The state is the stored
event's, whose personal values are ciphertext already: nothing plaintext is ever
written here, and an erasure (a shredded key) leaves nothing readable in it either.
Beside the events, ``indexed_through``: the next partition offset not yet indexed. A
new writer reads only the partition's tail from there.

It is a cache; Kafka is the truth. The recorder checks it against the partition when it
claims the shard and drops and rebuilds it from offset 0 when it does not match (ahead
of the partition's end, or its last event not the record at that offset: a topic of
the same name deleted and made again, an old file restored); see ``shard_events``.

Adapters: SQLite, one file per shard in the data directory (``shard_index_sqlite``),
and PostgreSQL when ``LEDGER_POSTGRES_DSN`` is set (``shard_index_postgres``). Both run
the statements below; driver errors become ``ShardIndexError`` (``raise ... from``),
whose messages name the topic, the partition and the operation, never an event.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from ledger.errors import BrokerError

# Originator ids per IN list of ``events_of_many``: far below every driver's limit.
_IN_CHUNK = 500
_EVENTS_OF_MANY = (
    "SELECT originator_id, originator_version, topic, state FROM {events} "
    "WHERE shard_id = ? AND originator_id IN ({marks}) ORDER BY originator_id, originator_version"
)


class ShardIndexError(BrokerError, rule="shard-index-error"):
    """A writer's shard index could not be opened, read or written. A fault of what the
    ledger runs on, like the broker's: never a verdict on an act."""


class ShardIndex(Protocol):
    """The committed events of one shard (``topic``, ``partition``), as on Kafka."""

    topic: str
    partition: int

    def indexed_through(self) -> int:
        """The next partition offset not yet indexed (0: nothing is)."""

    def add(self, notifications: Sequence[Notification], through: int) -> None:
        """Adds committed ``notifications`` (ids ascending, none above ``through``) and
        moves ``indexed_through`` to ``through``, in one transaction. Idempotent and
        never backwards: an event already indexed stays as it is, and a lower
        ``through`` changes nothing (a fenced writer's late add cannot undo what its
        successor indexed)."""

    def events(self, originator_id: UUID | str) -> list[StoredEvent]:
        """Every indexed event of one originator, by version."""

    def events_of_many(self, originator_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        """``events`` of many originators in one read (a batch about to act on them),
        by originator id as given; one without events is not in the answer."""

    def notifications(self, start: int, limit: int, stop: int | None = None,
                      topics: Sequence[str] = ()) -> list[Notification]:
        """Up to ``limit`` notifications with ids from ``start`` (inclusive) to ``stop``
        (inclusive, if given), of ``topics`` if any are given, by id."""

    def last_notification(self) -> Notification | None:
        """The indexed notification with the highest id."""

    def drop(self) -> None:
        """Forgets every event of the shard and sets ``indexed_through`` to 0 (to be
        rebuilt from the partition)."""

    def close(self) -> None: ...


def originator_id_of(text: str) -> UUID | str:
    """An originator id as eventsourcing gave it: a UUID, or the text it was."""
    try:
        return UUID(text)
    except ValueError:
        return text


class Connection(Protocol):
    def execute(self, query: Any, params: Any = ..., /) -> Any: ...

    def close(self) -> None: ...


_COLUMNS = "id, originator_id, originator_version, topic, state"


class SQLShardIndex(ABC):
    """``ShardIndex`` on SQL: the statements both adapters run; each adapter says how it
    connects and prepares the connection, holds a transaction and inserts many rows.
    Statements take ``?`` for a parameter and ``{events}``/``{shards}`` for the tables;
    ``_sql`` renders them."""

    driver_error: type[Exception]
    param = "?"

    def __init__(self, topic: str, partition: int, label: str) -> None:
        self.topic = topic
        self.partition = partition
        self._label = label
        self._tables = {"events": "events", "shards": "shards"}
        self._lock = threading.RLock()
        self._shard_id = -1  # set by _open_shard

    # -- what each adapter does its own way ------------------------------------------

    @abstractmethod
    def _connection(self) -> Connection: ...

    @abstractmethod
    def _prepare(self) -> None:
        """Readies the connection just made for the shard's row: the tables, made if
        missing, and whatever else the adapter sets up first."""

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[None]:
        """One write transaction on ``_connection()``, committed as it exits."""

    @abstractmethod
    def _insert_many(self, statement: str, rows: list[tuple[Any, ...]]) -> None: ...

    # -- the port ------------------------------------------------------------------------

    def indexed_through(self) -> int:
        with self._translated("read indexed_through"):
            row = self._run("SELECT indexed_through FROM {shards} WHERE shard_id = ?",
                            (self._shard_id,)).fetchone()
        return int(row[0])

    def add(self, notifications: Sequence[Notification], through: int) -> None:
        ids = [n.id for n in notifications]
        if ids and (ids != sorted(ids) or ids[-1] > through):
            raise ShardIndexError(f"{self._label}: notifications must come by id, none "
                                  f"above through ({through})")
        rows = [(self._shard_id, n.id, str(n.originator_id), n.originator_version, n.topic,
                 n.state) for n in notifications]
        with self._translated("add events"), self._transaction():
            if rows:
                self._insert_many(self._sql(
                    "INSERT INTO {events} (shard_id, id, originator_id, originator_version,"
                    " topic, state) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"), rows)
            self._run("UPDATE {shards} SET indexed_through = ? "
                      "WHERE shard_id = ? AND indexed_through < ?",
                      (through, self._shard_id, through))

    def events(self, originator_id: UUID | str) -> list[StoredEvent]:
        key = str(originator_id)
        return self.events_of_many([key]).get(key, [])

    def events_of_many(self, originator_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        wanted = list(dict.fromkeys(originator_ids))
        found: dict[str, list[StoredEvent]] = {}
        with self._translated("read subjects' events"):
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start:start + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))  # placeholders only: ids are parameters
                rows = self._run(_EVENTS_OF_MANY.replace("{marks}", marks),
                                 (self._shard_id, *chunk)).fetchall()
                for originator, version, topic, state in rows:
                    found.setdefault(originator, []).append(StoredEvent(
                        originator_id=originator_id_of(originator),
                        originator_version=int(version), topic=topic, state=bytes(state)))
        return found

    def notifications(self, start: int, limit: int, stop: int | None = None,
                      topics: Sequence[str] = ()) -> list[Notification]:
        where = "shard_id = ? AND id >= ?"
        params: list[Any] = [self._shard_id, start]
        if stop is not None:
            where += " AND id <= ?"
            params.append(stop)
        if topics:
            where += f" AND topic IN ({', '.join('?' * len(topics))})"
            params.extend(topics)
        params.append(limit)
        with self._translated("read notifications"):
            rows = self._run(f"SELECT {_COLUMNS} FROM {{events}} WHERE {where} "  # noqa: S608 - fixed fragments
                             "ORDER BY id LIMIT ?", params).fetchall()
        return [_notification(row) for row in rows]

    def last_notification(self) -> Notification | None:
        with self._translated("read the last notification"):
            row = self._run(f"SELECT {_COLUMNS} FROM {{events}} WHERE shard_id = ? "  # noqa: S608 - fixed fragments
                            "ORDER BY id DESC LIMIT 1", (self._shard_id,)).fetchone()
        return None if row is None else _notification(row)

    def drop(self) -> None:
        with self._translated("drop"), self._transaction():
            self._run("DELETE FROM {events} WHERE shard_id = ?", (self._shard_id,))
            self._run("UPDATE {shards} SET indexed_through = 0 WHERE shard_id = ?",
                      (self._shard_id,))

    def close(self) -> None:
        with self._lock, contextlib.suppress(self.driver_error):
            self._connection().close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._label})"

    # -- shared helpers ------------------------------------------------------------------

    def _open(self) -> None:
        """Prepares the connection the adapter just made and opens this shard's row
        on it; closes that connection if either fails."""
        try:
            with self._translated("open"):
                self._prepare()
                self._open_shard()
        except BaseException:
            self._connection().close()
            raise

    def _open_shard(self) -> None:
        """This shard's row, made if missing; its id keys the shard's events."""
        with self._transaction():
            self._run("INSERT INTO {shards} (ledger_topic, shard, indexed_through) "
                      "VALUES (?, ?, 0) ON CONFLICT (ledger_topic, shard) DO NOTHING",
                      (self.topic, self.partition))
            row = self._run("SELECT shard_id FROM {shards} WHERE ledger_topic = ? "
                            "AND shard = ?", (self.topic, self.partition)).fetchone()
        self._shard_id = int(row[0])

    def _sql(self, statement: str) -> str:
        return statement.format(**self._tables).replace("?", self.param)

    def _run(self, statement: str, params: Sequence[Any]) -> Any:
        return self._connection().execute(self._sql(statement), tuple(params))

    @contextmanager
    def _translated(self, operation: str) -> Iterator[None]:
        with self._lock:
            try:
                yield
            except self.driver_error as error:
                raise ShardIndexError(f"{self._label}: cannot {operation} "
                                      f"({type(error).__name__})") from error


def _notification(row: Sequence[Any]) -> Notification:
    notification_id, originator_id, version, topic, state = row
    return Notification(id=int(notification_id), originator_id=originator_id_of(originator_id),
                        originator_version=int(version), topic=topic, state=bytes(state))
