"""The verifiable log on Kafka: each shard's tree, its checkpoints, and reading them back.

Per shard (partition P of the ledger topic), the writer (``ledger.kafka.recorder``)
numbers its events 0, 1, 2, ... without gaps (Kafka offsets have gaps at commit
markers, so they are not it) and carries the number on each ledger record in the
``ledger-sequence`` header. In the *same transaction* as each batch it writes:

- the tree's state to partition P of the **tree topic** (compacted, one record per shard
  under the key ``shard-P``): the frontier (``Frontier.to_text``), the size and time of
  the last checkpoint, and the migration's boundary (below). A writer that takes the
  shard over reads this one record (the partition's tail, not the ledger partition)
  and resumes the tree exactly where the last committed transaction left it; an
  aborted or fenced batch never committed its tree record, so the tree never forks;
- when one is due, a signed checkpoint to partition P of the **checkpoints topic**
  (kept forever).

**Migration.** The first writer of a shard with no tree record numbers the partition's
existing records from offset 0 in offset order (records written before the verifiable
log carry no sequence header), and commits the tree record with ``migrated`` (how many)
and ``migrated_through_offset`` (the partition's end then): a verifier numbers
header-less records below that offset the same way, and names any header-less record
at or after it as inserted (a plain producer's forgery).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from kafka import TopicPartition
from kafka.errors import KafkaError

from ledger.audit.checkpoint import shard_origin
from ledger.audit.errors import AuditError
from ledger.audit.frontier import Frontier
from ledger.audit.verify import LeafRecord, Problem, ProblemKind, StoredTree
from ledger.errors import BrokerError
from ledger.kafka.consumers import PARTITION_READING, read_committed_consumer
from ledger.kafka.partitioning import shard_of

HEADER_SEQUENCE = "ledger-sequence"
HEADER_TOPIC = "event-topic"
HEADER_VERSION = "originator-version"
TREE_FORMAT = 1
_POLL_MS = 200
_DEADLINE_S = 60.0


def shard_key(shard: int) -> bytes:
    return f"shard-{shard}".encode()


@dataclass(frozen=True)
class TreeState:
    """What a shard's tree record holds."""

    frontier: Frontier
    signed_size: int = 0
    signed_at: float | None = None
    migrated: int = 0  # records numbered by the migration (they carry no header)
    migrated_through_offset: int = 0  # the partition's end offset when it ran

    def to_bytes(self) -> bytes:
        return orjson.dumps({
            "format": TREE_FORMAT, "frontier": self.frontier.to_text(),
            "signed_size": self.signed_size, "signed_at": self.signed_at,
            "migrated": self.migrated,
            "migrated_through_offset": self.migrated_through_offset})

    @classmethod
    def from_bytes(cls, data: bytes) -> TreeState:
        try:
            document = orjson.loads(data)
            if document.get("format") != TREE_FORMAT:
                raise ValueError
            signed_at = document.get("signed_at")
            return cls(Frontier.from_text(str(document["frontier"])),
                       int(document["signed_size"]),
                       None if signed_at is None else float(signed_at),
                       int(document["migrated"]), int(document["migrated_through_offset"]))
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            raise AuditError("a tree record does not decode (format "
                             f"{TREE_FORMAT} expected)") from None

    def advanced(self, frontier: Frontier, *, signed_at: float | None = None) -> TreeState:
        """This state with ``frontier``; signed at its size when ``signed_at`` is given."""
        if signed_at is None:
            return TreeState(frontier, self.signed_size, self.signed_at, self.migrated,
                             self.migrated_through_offset)
        return TreeState(frontier, frontier.size, signed_at, self.migrated,
                         self.migrated_through_offset)


# -- reading partitions -------------------------------------------------------------------


def _reading_consumer(bootstrap: str, topic: str, client_id: str) -> Any:
    """A consumer for reading ``topic`` to its end."""
    return read_committed_consumer(bootstrap, client_id=client_id,
                                   cannot=f"reach Kafka to read {topic}", **PARTITION_READING)


def read_partition(bootstrap: str, topic: str, partition: int, *,
                   client_id: str = "personal-data-ledger-audit") -> Iterator[Any]:
    """Every committed record of one partition, from its start to its end as it was when
    the read began (read_committed: aborted batches are never seen)."""
    where = TopicPartition(topic, partition)
    consumer = _reading_consumer(bootstrap, topic, client_id)
    try:
        consumer.assign([where])
        consumer.seek_to_beginning(where)
        end = consumer.end_offsets([where])[where]
        while consumer.position(where) < end:
            for records in consumer.poll(timeout_ms=_POLL_MS).values():
                yield from records
    except KafkaError as error:
        raise BrokerError(f"cannot read {topic} partition {partition}: "
                          f"{type(error).__name__}") from error
    finally:
        consumer.close()


def partition_bounds(bootstrap: str, topic: str, partition: int) -> tuple[int, int]:
    """(first offset, end offset) of a partition: the first is past 0 once records were
    deleted (DeleteRecords, or retention)."""
    where = TopicPartition(topic, partition)
    cannot = f"read the bounds of {topic} partition {partition}"
    consumer = read_committed_consumer(bootstrap, client_id="personal-data-ledger-audit",
                                       cannot=cannot, **PARTITION_READING)
    try:
        with closing(consumer):
            first = consumer.beginning_offsets([where])[where]
            end = consumer.end_offsets([where])[where]
    except KafkaError as error:
        raise BrokerError(f"cannot {cannot}: {type(error).__name__}") from error
    return first, end


def read_latest(bootstrap: str, topic: str, partition: int, key: bytes, *,
                client_id: str = "personal-data-ledger-audit") -> Any | None:
    """The last committed record under ``key`` in one partition, read from its tail
    (a window that widens until it holds one): never the whole partition."""
    where = TopicPartition(topic, partition)
    consumer = _reading_consumer(bootstrap, topic, client_id)
    try:
        consumer.assign([where])
        first = consumer.beginning_offsets([where])[where]
        end = consumer.end_offsets([where])[where]
        window = 16
        deadline = time.monotonic() + _DEADLINE_S
        while True:
            start = max(first, end - window)
            consumer.seek(where, start)
            found = None
            while consumer.position(where) < end:
                if time.monotonic() > deadline:
                    raise BrokerError(f"reading the tail of {topic} partition {partition} "
                                      "took too long")
                for records in consumer.poll(timeout_ms=_POLL_MS).values():
                    for record in records:
                        if record.offset < end and record.key == key:
                            found = record
            if found is not None or start == first:
                return found
            window *= 8
    except KafkaError as error:
        raise BrokerError(f"cannot read {topic} partition {partition}: "
                          f"{type(error).__name__}") from error
    finally:
        consumer.close()


def read_tree(bootstrap: str, tree_topic: str, shard: int) -> TreeState | None:
    record = read_latest(bootstrap, tree_topic, shard, shard_key(shard))
    return None if record is None else TreeState.from_bytes(record.value)


def sequence_of(record: Any) -> int | None:
    """The ``ledger-sequence`` header of a ledger record (None: it has none, or it is
    not a number)."""
    for name, value in record.headers or ():
        if name == HEADER_SEQUENCE:
            try:
                text = value.decode("ascii")
                return int(text) if text.isdigit() else None
            except UnicodeDecodeError:
                return None
    return None


def leaf_record(record: Any, sequence: int | None) -> LeafRecord:
    """A ledger record as the leaf it is (key: subject id; headers: event topic and
    version; value: the stored state)."""
    headers = dict(record.headers or ())
    key = record.key.decode("utf-8", "replace") if record.key is not None else ""
    try:
        originator = str(UUID(key))
    except ValueError:
        originator = key
    try:
        version = int(headers.get(HEADER_VERSION, b"-1"))
        topic = headers.get(HEADER_TOPIC, b"").decode("utf-8", "replace")
    except ValueError:
        version, topic = -1, ""
    return LeafRecord(sequence, originator, max(version, 0), topic, record.value or b"",
                      where=f"offset {record.offset}")


def numbered(records: Iterator[Any], tree: TreeState | None) -> Iterator[LeafRecord]:
    """Ledger records as leaf records, header-less ones below the migration's boundary
    numbered as the migration numbered them (in offset order from 0)."""
    through = tree.migrated_through_offset if tree is not None else 0
    implicit = 0
    for record in records:
        sequence = sequence_of(record)
        if sequence is None and record.offset < through:
            sequence, implicit = implicit, implicit + 1
        yield leaf_record(record, sequence)


class KafkaAuditLog:
    """Each shard of a Kafka ledger, read back for `ledger audit verify` and exports.

    Read in this order, so that nothing read later is older than what was read before
    it: a shard's tree record, its checkpoints, then its ledger partition up to its end
    as it is then (a writer committing meanwhile only adds to the end).
    """

    def __init__(self, bootstrap: str, ledger_topic: str, tree_topic: str,
                 checkpoints_topic: str, partitions: int) -> None:
        self.bootstrap = bootstrap
        self.ledger_topic = ledger_topic
        self.tree_topic = tree_topic
        self.checkpoints_topic = checkpoints_topic
        self.partitions = partitions
        self._trees: dict[int, TreeState] = {}

    def shards(self) -> list[int]:
        return list(range(self.partitions))

    def shard_of(self, subject_id: UUID) -> int:
        return shard_of(subject_id, self.partitions)

    def origin(self, shard: int) -> str:
        return shard_origin(self.ledger_topic, shard)

    def stored_tree(self, shard: int) -> StoredTree:
        """The shard's tree record; a shard no writer has numbered yet (from before the
        verifiable log) is numbered here as its first writer will number it."""
        first, end = partition_bounds(self.bootstrap, self.ledger_topic, shard)
        tree = read_tree(self.bootstrap, self.tree_topic, shard)
        if tree is None:
            self._trees[shard] = TreeState(Frontier(), migrated_through_offset=end)
            return StoredTree(None, 0)
        self._trees[shard] = tree
        problems: tuple[Problem, ...] = ()
        if 0 < first < tree.migrated_through_offset:
            problems = (Problem(ProblemKind.TRUNCATED, None, None,
                                f"the partition starts at offset {first}: records before "
                                "it were deleted (DeleteRecords, or a retention)"),)
        return StoredTree(tree.frontier, tree.frontier.size, exact=False, problems=problems)

    def checkpoints(self, shard: int) -> list[str]:
        return [r.value.decode("utf-8", "replace") for r in read_partition(
            self.bootstrap, self.checkpoints_topic, shard) if r.value is not None]

    def latest_checkpoint(self, shard: int) -> str | None:
        record = read_latest(self.bootstrap, self.checkpoints_topic, shard, shard_key(shard))
        return None if record is None or record.value is None else record.value.decode(
            "utf-8", "replace")

    def size_hint(self, shard: int) -> int:
        first, end = partition_bounds(self.bootstrap, self.ledger_topic, shard)
        return end - first

    def records(self, shard: int) -> Iterator[LeafRecord]:
        if shard not in self._trees:
            self.stored_tree(shard)
        return numbered(read_partition(self.bootstrap, self.ledger_topic, shard),
                        self._trees[shard])

    def close(self) -> None:
        """Every read closes its own consumer."""


def holds_records(bootstrap: str, topic: str, partitions: int) -> bool:
    """Whether any partition of ``topic`` ever held a record (its end offset is past 0)."""
    wanted = [TopicPartition(topic, p) for p in range(partitions)]
    cannot = f"read the end offsets of {topic}"
    consumer = read_committed_consumer(bootstrap, client_id="personal-data-ledger-audit",
                                       cannot=cannot, **PARTITION_READING)
    try:
        with closing(consumer):
            ends = consumer.end_offsets(wanted)
    except KafkaError as error:
        raise BrokerError(f"cannot {cannot}: {type(error).__name__}") from error
    return any(end > 0 for end in ends.values())
