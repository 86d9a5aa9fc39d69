"""An eventsourcing application recorder on one partition of the ledger topic.

One shard is one partition: one totally ordered sequence, one writer. Records are keyed
by subject id (the default partitioner's murmur2 puts every event of a subject in the
same partition), the value is the stored event's state (personal values already
encrypted), and headers carry the library topic and the aggregate version in clear for
audit. Notification id = offset + 1, so commit markers leave gaps.

What the recorder knows of its shard's committed events (``ledger.kafka.shard_events``)
it reads with a read_committed consumer. A reader, or a writer without an index: the
whole partition, into memory. A writer given a shard index (``ledger.kafka.shard_index``,
persisted; the ledger's composition root always gives one): only the partition's tail
past what the index holds, which it adds there, and it reads nothing before it claims
the shard (``claim``, or its first use). The index is a cache and Kafka the truth: one
that does not match the partition is dropped and rebuilt from offset 0. Version
conflicts raise the library's ``IntegrityError``. A writer owns its shard through its
``transactional.id``: starting a second writer with the same id fences the first, whose
next commit then fails.

Writes either run in a transaction of their own, or join a batch transaction opened
with ``begin_batch`` (the intake loop's read-process-write cycle), in which later
inserts see the earlier, still uncommitted ones.

A writer given a tree topic (``ShardAddress.tree_topic``: the ledger's composition root
always gives one) keeps the shard's verifiable log (``ledger.kafka.audit_log``): each
event's sequence number in a header, the tree's state and any checkpoint due in the
batch's own transaction, and the tree resumed from its last committed record when the
writer claims the shard (or numbered once, for a shard from before the tree).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    Notification,
    StoredEvent,
    Subscription,
)
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from ledger.audit.errors import AuditError
from ledger.audit.frontier import Frontier
from ledger.audit.leaves import event_leaf_hash
from ledger.audit.signer import CheckpointSigner
from ledger.errors import BrokerError
from ledger.kafka.audit_log import (
    HEADER_SEQUENCE,
    HEADER_TOPIC,
    HEADER_VERSION,
    TreeState,
    read_partition,
    read_tree,
    sequence_of,
    shard_key,
)
from ledger.kafka.consumers import PARTITION_READING, read_committed_consumer
from ledger.kafka.shard_events import IndexedEvents, InMemoryEvents, KnownEvents
from ledger.kafka.shard_index import ShardIndex, originator_id_of
from ledger.kafka.transactions import GuardedTransactions, WriterFenced, translate

__all__ = ["HEADER_SEQUENCE", "HEADER_TOPIC", "HEADER_VERSION", "PRODUCER_TUNING",
           "KafkaAggregateRecorder", "KafkaApplicationRecorder", "ShardAddress",
           "notification_from_record"]
POLL_MS = 200
# The writer's producer settings, shared with the benchmark's raw baseline so the two
# differ only by what the ledger does. Batches of 1 MiB instead of kafka-python's 16 KiB
# default: one intake batch of a thousand acts then goes out in a few produce requests
# instead of a hundred, which cut the sender thread's share of the CPU.
PRODUCER_TUNING: dict[str, Any] = {
    "acks": "all", "enable_idempotence": True, "linger_ms": 5, "batch_size": 1 << 20,
}
# A claim adds what it reads to the shard index in transactions of this many records:
# few enough commits to build an index of millions quickly, little held in memory.
CATCH_UP_BATCH = 10_000


@dataclass(frozen=True)
class ShardAddress:
    bootstrap_servers: str
    topic: str
    partition: int
    transactional_id: str | None = None  # None: a read-only recorder (projectors)
    client_id: str = "personal-data-ledger"
    deadline_s: float = 30.0
    # The verifiable log of a writer (ledger.kafka.audit_log); None: the library's bare
    # recorder contract, without one (never so in the ledger's own composition).
    tree_topic: str | None = None
    checkpoints_topic: str | None = None


class KafkaApplicationRecorder(ApplicationRecorder):
    def __init__(self, address: ShardAddress, index: ShardIndex | None = None) -> None:
        """``index``: the writer's shard index, which the recorder then owns (closes);
        a read-only recorder takes none."""
        if index is not None and address.transactional_id is None:
            raise BrokerError("a shard index is a writer's: this recorder is read-only")
        self.address = address
        self.partition = TopicPartition(address.topic, address.partition)
        self._lock = threading.RLock()
        self._known: KnownEvents = (
            InMemoryEvents() if index is None
            else IndexedEvents(index, record_of=notification_from_record))
        self._indexed = index is not None
        self._resumed = False  # the consumer is where the known events end
        self._claimed = False
        # Records the catch-ups read from the partition (with an index: only its tail).
        self.records_read = 0
        self._pending: list[tuple[StoredEvent, Any]] = []
        # The open batch's events by subject: a batch may hold thousands of acts.
        self._pending_by_subject: dict[str, list[StoredEvent]] = {}
        self._in_batch = False
        self._fenced = False
        self._producer: KafkaProducer | None = None
        self._transactions: GuardedTransactions | None = None
        # The verifiable log: the committed tree, the open batch's, and who signs.
        self.signer: CheckpointSigner | None = None
        self._tree: TreeState | None = None
        self._pending_tree: Frontier | None = None
        self._sign_at_commit = False  # sign whatever is unsigned (closing)
        self._broken = False  # a transaction failed: nothing more is tried at close
        try:
            self._consumer = self._connect_consumer()
            if index is None:
                self._catch_up()
        except BaseException:
            self._known.close()
            raise

    # -- writing -----------------------------------------------------------------------

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return None
        with self._lock:
            self._ensure_claimed()
            self._check_versions(stored_events)
            if self._in_batch:
                self._add_pending(stored_events)
                return None
            self.begin_batch()
            try:
                self._add_pending(stored_events)
                committed = self.commit_batch()
            except BaseException:
                self._abort_quietly()
                raise
            return [n.id for n in committed]

    def begin_batch(self) -> None:
        with self._lock:
            if self._in_batch:
                raise BrokerError("a batch transaction is already open on this shard")
            self._ensure_claimed()
            self._ensure_tree()
            try:
                self._writer().begin()
            except WriterFenced:
                self._fenced = True
                raise
            self._in_batch = True
            if self._tree is not None:
                self._pending_tree = self._tree.frontier.copy()

    def send_offsets(self, offsets: dict[Any, Any], group_metadata: Any) -> None:
        """Marks intake offsets as consumed by the open batch (read-process-write)."""
        self._writer().send_offsets(offsets, group_metadata)

    def produce(self, topic: str, key: bytes | None, value: bytes,
                headers: list[tuple[str, bytes]], *, partition: int | None = None) -> None:
        """Another record (the rejected or parked topic) in the open batch transaction;
        to ``partition``, or where the key's hash puts it."""
        if not self._in_batch:
            raise BrokerError("produce needs an open batch transaction")
        assert self._producer is not None  # noqa: S101 - set by begin_batch
        self._producer.send(topic, key=key, value=value, headers=headers, partition=partition)

    def commit_batch(self) -> list[Notification]:
        """Commits the open batch; the known events (and the shard index, after the
        Kafka commit: a crash in between is covered by the next claim's tail read)
        learn its events only now."""
        with self._lock:
            writer = self._writer()
            try:
                tree, tree_sends = self._stage_tree()
                self._producer.flush(timeout=writer.deadline_s)  # type: ignore[union-attr]
                offsets = [future.get(timeout=writer.deadline_s) for _, future in self._pending]
                for future in tree_sends:
                    future.get(timeout=writer.deadline_s)
                writer.commit()
            except WriterFenced:
                self._fenced = self._broken = True
                raise
            except KafkaError as error:
                self._broken = True
                if isinstance(translate(error, ""), WriterFenced):
                    self._fenced = True
                raise translate(error, f"commit of shard {self.address.partition}"
                                ) from error
            except BaseException:
                self._broken = True
                raise
            if tree is not None:
                self._tree = tree  # what the committed transaction recorded
            self._pending_tree = None
            committed = [
                Notification(id=meta.offset + 1, originator_id=event.originator_id,
                             originator_version=event.originator_version,
                             topic=event.topic, state=event.state)
                for (event, _), meta in zip(self._pending, offsets, strict=True)
            ]
            if committed:
                self._known.learn(committed, committed[-1].id, committed=True)
            self._clear_pending()
            self._in_batch = False
            return committed

    def abort_batch(self) -> None:
        """Aborts the open batch; nothing of it reaches the index or a reader (nor its
        leaves the tree: the committed tree stays where it was)."""
        with self._lock:
            self._clear_pending()
            self._in_batch = False
            self._pending_tree = None
            self._sign_at_commit = False
            if self._transactions is not None:
                try:
                    self._transactions.abort()
                except WriterFenced:
                    self._fenced = self._broken = True
                    self._discard_producer()
                    raise
                except BrokerError:
                    # A stuck producer cannot abort; a new one (same id) takes over.
                    self._broken = True
                    self._discard_producer()
                    raise

    def _add_pending(self, stored_events: Sequence[StoredEvent]) -> None:
        for event in stored_events:
            self._pending.append((event, self._send(event)))
            self._pending_by_subject.setdefault(str(event.originator_id), []).append(event)

    def _clear_pending(self) -> None:
        self._pending.clear()
        self._pending_by_subject.clear()

    def _abort_quietly(self) -> None:
        """Aborts after a failure without masking it (a fenced producer cannot abort)."""
        try:
            self.abort_batch()
        except BrokerError:
            self._discard_producer()

    def _send(self, event: StoredEvent) -> Any:
        assert self._producer is not None  # noqa: S101 - set by begin_batch
        headers = [(HEADER_TOPIC, event.topic.encode()),
                   (HEADER_VERSION, str(event.originator_version).encode())]
        tree = self._pending_tree
        if tree is not None:  # the event's place in the shard's log, and its leaf
            sequence = tree.append(event_leaf_hash(tree.size, event))
            headers.append((HEADER_SEQUENCE, str(sequence).encode()))
        try:
            return self._producer.send(
                self.address.topic, partition=self.address.partition,
                key=str(event.originator_id).encode(), value=event.state, headers=headers,
            )
        except KafkaError as error:
            raise translate(error, f"send to shard {self.address.partition}") from error

    def _check_versions(self, stored_events: Sequence[StoredEvent]) -> None:
        """``IntegrityError`` if any (subject, version) is recorded, pending or repeated."""
        taken: dict[str, set[int]] = {}
        for event in stored_events:
            key = str(event.originator_id)
            if key not in taken:
                taken[key] = {e.originator_version for e in self._known.events_of(key)}
                taken[key].update(
                    e.originator_version for e in self._pending_by_subject.get(key, ()))
            if event.originator_version in taken[key]:
                raise IntegrityError(
                    f"version {event.originator_version} of {key} is already recorded")
            taken[key].add(event.originator_version)

    def claim(self) -> None:
        """Becomes the shard's writer, then reads what earlier writers committed, and
        where their tree stands.

        Order matters: ``init_transactions`` fences the previous writer and waits for
        its in-flight commit, so only afterwards is the partition's end final for us.
        """
        with self._lock:
            self._writer()
            self._catch_up()
            self._claimed = True
            self._ensure_tree()

    def _ensure_claimed(self) -> None:
        """A writer with an index claims its shard on first use: its index must never
        move past records a previous writer was still committing."""
        if self._indexed and not self._claimed:
            self.claim()

    # -- the verifiable log --------------------------------------------------------------

    @property
    def tree_state(self) -> TreeState | None:
        """The tree as the last committed transaction left it (None: no tree kept)."""
        return self._tree

    def checkpoint_if_due(self, *, closing: bool = False) -> bool:
        """Signs the tree in a transaction of its own if a checkpoint is due (its time
        has come with leaves unsigned; or, ``closing``, any leaf is unsigned). Called by
        the intake writer between batches; True if it signed."""
        with self._lock:
            tree, signer = self._tree, self.signer
            if (self._in_batch or tree is None or signer is None or self._fenced
                    or self._broken or not signer.due(
                        tree.frontier.size, tree.signed_size, tree.signed_at,
                        closing=closing)):
                return False
            self.begin_batch()
            self._sign_at_commit = closing
            try:
                self.commit_batch()
            except BaseException:
                self._abort_quietly()
                raise
            return True

    def _stage_tree(self) -> tuple[TreeState | None, list[Any]]:
        """Into the open transaction: the tree's new state (if it grew, or a checkpoint
        is due) and the checkpoint; returns that state and the sends to wait for."""
        tree, frontier = self._tree, self._pending_tree
        closing, self._sign_at_commit = self._sign_at_commit, False
        if tree is None or frontier is None:
            return None, []
        signer = self.signer
        due = signer is not None and signer.due(frontier.size, tree.signed_size,
                                                tree.signed_at, closing=closing)
        if frontier.size == tree.frontier.size and not due:
            return None, []
        assert self._producer is not None  # noqa: S101 - set by begin_batch
        sends = []
        key, shard = shard_key(self.address.partition), self.address.partition
        if due and signer is not None:
            signed = signer.sign(frontier)
            state = tree.advanced(frontier.copy(), signed_at=signer.now())
            sends.append(self._producer.send(
                self.address.checkpoints_topic, partition=shard, key=key,
                value=signed.encode().encode("utf-8"),
                headers=[("tree-size", str(frontier.size).encode())]))
        else:
            state = tree.advanced(frontier.copy())
        sends.append(self._producer.send(self.address.tree_topic, partition=shard, key=key,
                                         value=state.to_bytes()))
        return state, sends

    def _ensure_tree(self) -> None:
        """The committed tree of the shard, read once the shard is ours: from its tree
        record, or, for a shard without one, numbered here from offset 0 (once)."""
        address = self.address
        if (self._tree is not None or address.tree_topic is None
                or address.transactional_id is None):
            return
        if address.checkpoints_topic is None:
            raise BrokerError("a writer that keeps a tree needs a checkpoints topic")
        self._writer()  # fenced the previous writer: its last commit is final
        state = read_tree(address.bootstrap_servers, address.tree_topic, address.partition)
        self._tree = state if state is not None else self._number_shard()

    def _number_shard(self) -> TreeState:
        """The one-time migration: the partition's records, numbered in offset order,
        committed as the shard's first tree record (``ledger.kafka.audit_log``)."""
        address = self.address
        frontier = Frontier()
        through = 0
        for record in read_partition(address.bootstrap_servers, address.topic,
                                     address.partition, client_id=f"{address.client_id}-tree"):
            if sequence_of(record) is not None:
                raise AuditError(
                    f"shard {address.partition} holds numbered events but its tree record "
                    "is gone (was the tree topic deleted, or is it another?): numbering it "
                    "again would fork its tree; restore the tree topic")
            frontier.append(event_leaf_hash(frontier.size, notification_from_record(record)))
            through = record.offset + 1
        self._tree = TreeState(Frontier(), 0, None, frontier.size, through)
        self.begin_batch()
        self._pending_tree = frontier
        self._sign_at_commit = True  # pin the numbered history under a signature at once
        try:
            self.commit_batch()
        except BaseException:
            self._abort_quietly()
            self._tree = None
            raise
        assert self._tree is not None  # noqa: S101 - set by the commit
        return self._tree

    def _writer(self) -> GuardedTransactions:
        if self.address.transactional_id is None:
            raise BrokerError("this recorder is read-only: it has no transactional.id")
        if self._fenced:
            raise WriterFenced(f"shard {self.address.partition} belongs to another writer")
        if self._transactions is None:
            try:
                self._producer = KafkaProducer(
                    bootstrap_servers=self.address.bootstrap_servers,
                    client_id=self.address.client_id,
                    transactional_id=self.address.transactional_id,
                    **PRODUCER_TUNING,
                    max_block_ms=int(self.address.deadline_s * 1000),
                )
            except KafkaError as error:
                raise BrokerError(f"cannot reach Kafka for shard {self.address.partition}: "
                                  f"{type(error).__name__}") from error
            self._transactions = GuardedTransactions(self._producer, self.address.deadline_s)
            self._transactions.init()
        return self._transactions

    def _discard_producer(self) -> None:
        producer, self._producer, self._transactions = self._producer, None, None
        if producer is not None:
            # A fenced or stuck producer has nothing worth flushing; closing may still
            # complain about the records it drops, which changes nothing.
            with contextlib.suppress(KafkaError):
                producer.close(timeout=1)

    # -- reading -----------------------------------------------------------------------

    def prefetch(self, originator_ids: Sequence[UUID | str]) -> None:
        """A hint from the intake writer: these subjects are the next batch's. A writer
        with an index reads their events in one query instead of one per act."""
        with self._lock:
            self._ensure_claimed()
            self._known.prefetch([str(originator) for originator in originator_ids])

    def select_events(
        self, originator_id: UUID | str, *, gt: int | None = None, lte: int | None = None,
        desc: bool = False, limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        with self._lock:
            self._ensure_claimed()
            key = str(originator_id)
            events = list(self._known.events_of(key))
            events += self._pending_by_subject.get(key, [])
        events.sort(key=lambda e: e.originator_version)
        selected = [e for e in events
                    if (gt is None or e.originator_version > gt)
                    and (lte is None or e.originator_version <= lte)]
        if desc:
            selected.reverse()
        return selected[:limit] if limit is not None else selected

    def select_notifications(
        self, start: int | None, limit: int, stop: int | None = None,
        topics: Sequence[str] = (), *, inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        first = 1 if start is None else start if inclusive_of_start else start + 1
        with self._lock:
            if self.address.transactional_id is None:
                self._catch_up()
            self._ensure_claimed()
            return self._known.select_notifications(first, limit, stop, topics)

    def max_notification_id(self) -> int | None:
        with self._lock:
            if self.address.transactional_id is None:
                self._catch_up()
            self._ensure_claimed()
            return self._known.max_notification_id()

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()
                  ) -> Subscription[ApplicationRecorder]:
        raise NotImplementedError(
            "poll select_notifications instead: projections here read in batches")

    def close(self, *, sign: bool = True) -> None:
        """Closes the shard; a healthy writer first signs what is unsigned (``sign``:
        False for a writer that must commit nothing more, e.g. one whose shard was
        lost to another group member)."""
        with self._lock:
            if sign and self._transactions is not None and not (
                    self._fenced or self._broken or self._in_batch):
                # At shutdown: sign what is unsigned. Best effort: a writer that cannot
                # is replaced, and its successor signs in its turn.
                with contextlib.suppress(BrokerError, KafkaError):
                    self.checkpoint_if_due(closing=True)
            self._consumer.close()
            if self._producer is not None:
                self._producer.close(timeout=self.address.deadline_s)
            self._known.close()

    # -- reading the partition -------------------------------------------------------------

    def _connect_consumer(self) -> KafkaConsumer:
        return read_committed_consumer(
            self.address.bootstrap_servers, client_id=f"{self.address.client_id}-index",
            cannot=f"read shard {self.address.partition}", partitions=[self.partition],
            # A seek below the log start (records deleted since an index was made) reads
            # from the start, never skips to the end.
            auto_offset_reset="earliest", **PARTITION_READING,
        )

    def _catch_up(self) -> None:
        """Reads committed records up to the partition's last stable offset, from where
        the known events end (the first time: where they say they end), and adds them
        in batches."""
        consumer, partition = self._consumer, self.partition
        try:
            end = consumer.end_offsets([partition])[partition]
            if not self._resumed:
                self.records_read += self._known.resume(consumer, partition, end)
                self._resumed = True
            read: list[Notification] = []
            while (position := consumer.position(partition)) < end:
                for records in consumer.poll(timeout_ms=POLL_MS).values():
                    self.records_read += len(records)
                    read.extend(notification_from_record(record) for record in records)
                if len(read) >= CATCH_UP_BATCH:
                    self._known.learn(read, consumer.position(partition))
                    read = []
            self._known.learn(read, position)
        except KafkaError as error:
            raise BrokerError(f"cannot read shard {self.address.partition}: "
                              f"{type(error).__name__}") from error


class KafkaAggregateRecorder(KafkaApplicationRecorder):
    """The same shard seen as an aggregate recorder: inserts return no notification ids."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        super().insert_events(stored_events, **kwargs)
        return None


def notification_from_record(record: Any) -> Notification:
    headers = dict(record.headers or [])
    return Notification(
        id=record.offset + 1,
        originator_id=originator_id_of(record.key.decode()),
        originator_version=int(headers[HEADER_VERSION]),
        topic=headers[HEADER_TOPIC].decode(),
        state=record.value,
    )

