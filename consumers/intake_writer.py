"""The intake writer of one shard: acts in, events out, exactly once.

Upstream systems produce acts (JSON, keyed by subject id) to the intake topic, which has
as many partitions as the ledger topic, so intake partition P holds exactly the subjects
whose events belong in ledger partition P. The writer of shard P reads a batch from
intake partition P and, in ONE Kafka transaction:

1. checks each act and appends its events to ledger partition P (encrypted);
2. sends each refused act to the rejected topic, with its reason and no personal value;
3. marks the batch's intake offsets consumed (``send_offsets_to_transaction``);
4. commits.

A failure anywhere aborts the transaction and the batch is read again from its first
offset: nothing is half-applied, nothing accepted is lost, nothing is recorded twice.

Only a refusal that would be the same on a retry (``ledger.refusals.is_refusal``: a
policy rule, a malformed act, an unknown subject, an act id taken) goes to the rejected
topic. Anything else that goes wrong with an act (the key store gone, a version
conflict, a bug) aborts the batch, and the writer stops (crash-only, see ``run_until``).

A poison act, one that fails the same way on every try, must neither stall the shard
for ever nor vanish. Each failure of an act is counted, durably and fenced like any
commit: a small transaction of its own commits the intake offset the batch started at
(unchanged) with the failing act's offset and count in the offset's metadata, so the
count survives the restart. Once an act has failed ``PARK_AFTER_FAILURES`` times, the
next writer does not try it again: it parks it (the parked topic gets its intake
coordinates, act id, rule and error type, never a value) inside the batch transaction
and goes on. An operator re-drives it from the intake topic (README, "On Kafka").
Faults of the infrastructure (``is_infrastructure_fault``) are not counted: they say
nothing about the act, and the shard waits for them to clear.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from ledger.application import LedgerApplication
from ledger.config import KafkaSettings
from ledger.crypto.key_cache import CachingKeyStore
from ledger.domain.policy_register import POLICY_REGISTER_ID
from ledger.errors import BrokerError, DuplicateAct
from ledger.intake.acts import IntakeAct, apply_act, parse_act
from ledger.kafka.audit_log import read_partition
from ledger.kafka.consumers import read_committed_consumer
from ledger.kafka.intake_progress import INTAKE_GROUP
from ledger.kafka.intake_trim import IntakeTrimmer
from ledger.kafka.partitioning import shard_of, subject_key
from ledger.kafka.recorder import KafkaApplicationRecorder
from ledger.policy import SYSTEM_ACTOR, seed_policy_text
from ledger.refusals import Refusal, is_infrastructure_fault, is_refusal, refusal_of

# How many times an act may make its batch fail before the writer parks it.
PARK_AFTER_FAILURES = 3
# How long an idle writer waits to learn where its intake partitions end.
CAUGHT_UP_TIMEOUT_MS = 10_000
# On an act forwarded to its home intake partition: "partition:offset" it arrived at.
HEADER_FORWARDED_FROM = "ledger-forwarded-from"
# An empty record an idle writer commits to its own intake partition to roll the
# partition's segment, so the segment holding recorded acts can leave the disk.
HEADER_SEGMENT_ROLL = "ledger-segment-roll"


@dataclass
class BatchReport:
    read: int = 0
    recorded: int = 0
    duplicate: int = 0
    rejected: int = 0
    parked: int = 0
    forwarded: int = 0  # acts sent on to their subject's home intake partition
    markers: int = 0  # the writer's own segment-roll markers read (no acts)
    last_offset: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    parked_offsets: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Failure:
    """An act that made its batch fail: its intake offset, how many times so far, and
    the error's rule and type (never its message, which may quote the act)."""

    offset: int
    failures: int
    rule: str
    error: str


@dataclass(frozen=True)
class FailureCounts:
    """The acts that made a batch fail, by intake offset, until a commit passes them.

    Kept in the metadata of the committed intake offset, so a restarted writer (a new
    process) knows them. Bounded, to stay far below the broker's 4 KiB metadata limit:
    beyond ``LIMIT`` the least counted go first, so an act close to parking keeps its
    count.
    """

    by_offset: Mapping[int, Failure] = field(default_factory=dict)
    LIMIT: ClassVar[int] = 16

    def of(self, offset: int) -> Failure | None:
        return self.by_offset.get(offset)

    def counted(self, offset: int, error: Exception) -> FailureCounts:
        """These counts with one more failure of the act at ``offset``."""
        before = self.by_offset.get(offset)
        failure = Failure(offset, before.failures + 1 if before else 1,
                          refusal_of(error).rule, type(error).__name__)
        others = sorted((f for f in self.by_offset.values() if f.offset != offset),
                        key=lambda f: (-f.failures, f.offset))[:self.LIMIT - 1]
        return FailureCounts({f.offset: f for f in [*others, failure]})

    def beyond(self, next_offset: int) -> FailureCounts:
        """The counts a commit up to ``next_offset`` keeps: those of acts after it."""
        return FailureCounts({o: f for o, f in self.by_offset.items() if o >= next_offset})

    def metadata(self) -> str:
        if not self.by_offset:
            return ""
        return orjson.dumps({"failing": [
            {"offset": f.offset, "failures": f.failures, "rule": f.rule, "error": f.error}
            for f in sorted(self.by_offset.values(), key=lambda f: f.offset)]}).decode()

    @classmethod
    def from_metadata(cls, text: str | None) -> FailureCounts:
        try:
            failing = orjson.loads(text or "null")["failing"]
            failures = [Failure(int(f["offset"]), int(f["failures"]), str(f["rule"]),
                                str(f["error"])) for f in failing]
        except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
            return cls()  # none, or not ours: nothing counted yet
        return cls({f.offset: f for f in failures})


@dataclass
class IntakeTrim:
    """How far a writer may move its intake partition's log start, and when its segment
    wants a roll."""

    held: list[int] = field(default_factory=list)  # offsets of parked acts, ascending
    acts_at: float | None = None  # when acts last committed, until a roll follows
    held_checked_at: float = float("-inf")

    def hold(self, offset: int) -> None:
        self.held = sorted({*self.held, offset})

    def target(self, committed: int) -> int:
        """The log start ``committed`` allows: it, or the first act still parked."""
        return min(committed, self.held[0]) if self.held else committed


def is_segment_roll(record: Any) -> bool:
    """A writer's own segment-roll marker: empty, with its header (never an act)."""
    return not record.value and any(key == HEADER_SEGMENT_ROLL
                                    for key, _ in (record.headers or []))


class IntakeWriter:
    def __init__(
        self, app: LedgerApplication, settings: KafkaSettings, shard: int, *,
        batch_size: int = 500, poll_ms: int = 500, park_after: int = PARK_AFTER_FAILURES,
        trimmer: IntakeTrimmer | None = None,
        group_metadata: Callable[[], Any] | None = None,
    ) -> None:
        if not isinstance(app.recorder, KafkaApplicationRecorder):
            raise BrokerError("the intake writer needs the Kafka persistence module")
        self.app = app
        self.recorder: KafkaApplicationRecorder = app.recorder
        self.settings = settings
        self.shard = shard
        self.batch_size = batch_size
        self.poll_ms = poll_ms
        self.park_after = park_after
        # The acts that made a batch fail, as last committed, and the one that made the
        # last batch of this writer fail (None: it did not, or not through its act).
        self.failures = FailureCounts()
        self.last_failure: Failure | None = None
        self.intake = TopicPartition(settings.intake_topic, shard)
        self.consumer = self._connect()
        self.recorder.claim()  # fence any earlier writer first, then read where it ended
        self._publish_policy()
        self._resume_from_committed()
        # Recorded acts leave the intake topic (None: they stay until its retention).
        self.trimmer = trimmer
        # Group mode (``ledger serve --group``): the intake group member's metadata, sent
        # with each commit's offsets so a member of an old generation is fenced too
        # (KIP-447); None: the group's name alone (static shards).
        self.group_metadata = group_metadata
        self._trim = IntakeTrim(self._still_parked() if trimmer is not None else [])

    def _publish_policy(self) -> None:
        """The writer of the shard that holds the policy register records the policy in
        force, as the embedded ledger does when it opens (once per version: the register
        refuses a version it holds), so the registers show when each was published."""
        if shard_of(POLICY_REGISTER_ID, self.settings.partitions) == self.shard:
            self.app.publish_policy(self.app.policy, seed_policy_text(), SYSTEM_ACTOR,
                                    datetime.now(UTC))

    def run_once(self) -> BatchReport:
        """Reads one batch and records it in one transaction; an empty poll does nothing."""
        records = self._poll()
        report = BatchReport(read=len(records))
        if not records:
            # Idle: sign the tree if its unsigned leaves have waited their time, so an
            # export can prove them (a transaction of its own, fenced like any).
            self.recorder.checkpoint_if_due()
            self._trim_idle()
            return report
        first_offset = records[0].offset
        handling: Any = None  # the record being handled, while one is
        self.recorder.begin_batch()  # 1. open the transaction
        try:
            # 2. acts -> events, rejections or parked acts, inside it. New keys commit
            # when this block ends, before step 4: no event may reach readers ahead of
            # its key.
            with self._key_batch():
                self._prefetch(records)
                for handling in records:
                    if self._handle(handling, report) == "parked":
                        break  # commit right after it: its count goes with the commit
                last, handling = handling, None
            next_offset = last.offset + 1
            kept = self.failures.beyond(next_offset)
            self.recorder.send_offsets(  # 3. the intake offsets, inside it
                {self.intake: OffsetAndMetadata(next_offset, kept.metadata(), -1)},
                self._group())
            self.recorder.commit_batch()  # 4. all of it, or none of it
        except BaseException as error:
            self.last_failure = None
            aborted = self._abort_quietly()
            # Its acts were not recorded: a restarted writer reads the batch again.
            self.consumer.seek(self.intake, first_offset)
            if (aborted and handling is not None and isinstance(error, Exception)
                    and not is_infrastructure_fault(error)):
                self._count_failure(first_offset, handling.offset, error)
            raise
        self.failures = kept
        if last is not records[-1]:
            self.consumer.seek(self.intake, next_offset)  # the rest is the next batch's
            report.read = records.index(last) + 1
        report.last_offset = last.offset
        self._trim_committed(next_offset, report)
        return report

    def close(self) -> None:
        if self.trimmer is not None:
            self.trimmer.trim_due(flush=True)  # what this writer committed last, too
        self.consumer.close()

    def caught_up(self) -> bool:
        """Whether this writer has read its intake partition to its end (its last stable
        offset, read_committed): what an idle exit waits for, beside a quiet period,
        since a shard whose first fetch has not come back yet is quiet too."""
        return caught_up(self.consumer, [self.intake])

    def _group(self) -> Any:
        """Whom the committed intake offsets belong to: the group member (group mode),
        or the intake group by name."""
        return self.group_metadata() if self.group_metadata is not None else INTAKE_GROUP

    def _key_batch(self) -> contextlib.AbstractContextManager[None]:
        store = self.app.key_store
        return store.batch() if store is not None else contextlib.nullcontext()

    def _prefetch(self, records: list[Any]) -> None:
        """Reads the batch's subjects' keys and events in one query each, not one per
        act. The record keys name them (upstream keys acts by subject id); a key that
        names no subject is skipped: this only saves reads, the acts themselves decide."""
        subjects = []
        for record in records:
            try:
                subjects.append(UUID(record.key.decode("ascii")))
            except (AttributeError, UnicodeDecodeError, ValueError):
                continue
        self.recorder.prefetch(subjects)
        store = self.app.key_store
        if isinstance(store, CachingKeyStore):
            store.prefetch(subjects)

    def _handle(self, record: Any, report: BatchReport) -> str:
        """What became of the act: recorded, duplicate, rejected, parked or forwarded
        (or a segment-roll marker of the writer's own, which is no act)."""
        if is_segment_roll(record):
            report.markers += 1
            return "marker"
        failure = self.failures.of(record.offset)
        if failure is not None and failure.failures >= self.park_after:
            self._park(record, failure, report)
            return "parked"
        act: IntakeAct | None = None
        try:
            act = parse_act(record.value)
            home = shard_of(act.subject_id, self.settings.partitions)
            if home != self.shard:
                self._forward(record, act, home, report)
                return "forwarded"
            apply_act(self.app, act)
        except DuplicateAct:
            report.duplicate += 1
            return "duplicate"
        except Exception as error:
            if not is_refusal(error):
                # Not a verdict on the act: a retry may go otherwise. Abort the batch so
                # it is read again; a committed rejection would lose the act for good.
                raise
            # The same rule and reason `ledger record` gives on the embedded backend.
            self._reject(record, act, refusal_of(error), report)
            return "rejected"
        report.recorded += 1
        return "recorded"

    def _forward(self, record: Any, act: IntakeAct, home: int, report: BatchReport) -> None:
        """Sends an act that arrived on another shard's intake partition on to its
        subject's home partition, in this batch's transaction (it is consumed here and
        appears there atomically, exactly once); the home shard's writer records it.

        Clients built on librdkafka (kcat, confluent-kafka, the Go and .NET clients)
        partition keys with CRC32 by default, not with the Java client's murmur2, so
        their acts land elsewhere. One producer keeps one partitioner, so a subject's
        acts from it all land on the same wrong partition and are forwarded in their
        order. The single-writer guarantee needs every event of a subject on its home
        shard: recording the act here would break it."""
        report.forwarded += 1
        headers = [*(record.headers or []),
                   (HEADER_FORWARDED_FROM, f"{record.partition}:{record.offset}".encode())]
        self.recorder.produce(self.settings.intake_topic, subject_key(act.subject_id),
                              record.value, headers, partition=home)

    def _reject(self, record: Any, act: IntakeAct | None, refusal: Refusal,
                report: BatchReport) -> None:
        report.rejected += 1
        report.reasons[refusal.rule] = report.reasons.get(refusal.rule, 0) + 1
        document = {
            "intake": {"topic": record.topic, "partition": record.partition,
                       "offset": record.offset},
            "act_id": act.context.act_id if act else refusal.act_id,
            "type": act.type if act else None,
            "subject_id": str(act.subject_id) if act else None,
            "rule": refusal.rule,
            "reason": refusal.reason,
        }
        key = str(act.subject_id).encode() if act else None
        # On the shard's own partition, as a parking: an act too broken to name its subject
        # would otherwise land anywhere, where a client watching this shard for its
        # answer never looks (and would take the silence for a re-delivery).
        self.recorder.produce(self.settings.rejected_topic, key, orjson.dumps(document),
                              [("rule", refusal.rule.encode())], partition=self.shard)

    def _park(self, record: Any, failure: Failure, report: BatchReport) -> None:
        """Sets aside an act that failed ``failure.failures`` times, by its intake
        coordinates: the act's text stays on the intake topic (while it is retained) for
        an operator to re-drive, and is never copied here."""
        act_id: str | None = None
        subject_id: str | None = None
        act_type: str | None = None
        try:
            act = parse_act(record.value)
            act_id, subject_id, act_type = act.context.act_id, str(act.subject_id), act.type
        except Exception as error:  # noqa: BLE001 - unreadable is fine: coordinates suffice
            act_id = refusal_of(error).act_id
        report.parked += 1
        report.parked_offsets.append(record.offset)
        self._trim.hold(record.offset)  # an act never recorded stays on the intake topic
        document = {
            "intake": {"topic": record.topic, "partition": record.partition,
                       "offset": record.offset},
            "act_id": act_id,
            "type": act_type,
            "subject_id": subject_id,
            "rule": failure.rule,
            "error": failure.error,
            "failures": failure.failures,
            "reason": f"failed {failure.failures} times ({failure.error}); parked so the "
                      "shard goes on: re-drive it from the intake topic once fixed",
        }
        self.recorder.produce(self.settings.parked_topic,
                              subject_id.encode() if subject_id else None,
                              orjson.dumps(document), [("rule", failure.rule.encode())],
                              partition=self.shard)

    def _count_failure(self, first_offset: int, offset: int, error: Exception) -> None:
        """Commits, in a transaction of its own and fenced like any, that the act at
        ``offset`` made its batch fail once more; the intake offset stays at the batch's
        first, so the batch is read again. If this commit fails too, the failure goes
        uncounted: the act gets another try, never an early parking."""
        counts = self.failures.beyond(first_offset).counted(offset, error)
        try:
            self.recorder.begin_batch()
            self.recorder.send_offsets(
                {self.intake: OffsetAndMetadata(first_offset, counts.metadata(), -1)},
                self._group())
            self.recorder.commit_batch()
        except BrokerError:
            self._abort_quietly()
            return
        self.failures = counts
        self.last_failure = counts.of(offset)

    def _poll(self) -> list[Any]:
        try:
            batches = self.consumer.poll(timeout_ms=self.poll_ms, max_records=self.batch_size)
        except KafkaError as error:
            raise BrokerError(f"cannot read intake partition {self.shard}: "
                              f"{type(error).__name__}") from error
        return [r for records in batches.values() for r in records]

    def _abort_quietly(self) -> bool:
        """Aborts the open batch; False if that failed too (fenced or stuck: the next
        begin_batch would start a new producer, which only a restart may do)."""
        # The batch's acts changed live aggregates that are now not recorded.
        self.app.forget_live_aggregates()
        try:
            self.recorder.abort_batch()
        except BrokerError:
            return False
        return True

    # -- recorded acts leave the intake topic (ledger.kafka.intake_trim) -----------------

    def _trim_committed(self, next_offset: int, report: BatchReport) -> None:
        """After a commit: every act before ``next_offset`` is recorded, rejected,
        forwarded or parked, so the partition may start there (but at a parked act)."""
        if self.trimmer is None:
            return
        if report.read > report.markers:
            self._trim.acts_at = time.monotonic()
        self._release_held()
        self.trimmer.advance(self.shard, self._trim.target(next_offset))
        self.trimmer.trim_due()

    def _trim_idle(self) -> None:
        """Between batches: trims what is due; and once recorded acts have waited a
        segment's time, rolls the segment that holds them (a broker rolls a segment
        only when something is appended), so the broker can delete it."""
        if self.trimmer is None:
            return
        acts_at = self._trim.acts_at
        roll_after_s = self.settings.intake_segment_ms / 1000 * 1.1 + 1.0
        if acts_at is not None and time.monotonic() - acts_at >= roll_after_s:
            self._trim.acts_at = None
            self._release_held()
            if not self._trim.held:  # a held act keeps its segment anyway
                self._roll_segment()
        self.trimmer.trim_due()

    def _roll_segment(self) -> None:
        """Commits an empty marker record to this shard's intake partition (a
        transaction of its own, fenced like any); the writer skips it when it reads it
        back and moves the log start past it, above the rolled segment."""
        self.recorder.begin_batch()
        try:
            self.recorder.produce(self.settings.intake_topic, None, b"",
                                  [(HEADER_SEGMENT_ROLL, b"")], partition=self.shard)
            self.recorder.commit_batch()
        except BaseException:
            self._abort_quietly()
            raise

    def _release_held(self) -> None:
        """Forgets parked acts the intake topic no longer holds (its retention took them)."""
        if not self._trim.held or time.monotonic() - self._trim.held_checked_at < 60:
            return
        self._trim.held_checked_at = time.monotonic()
        try:
            start = self.consumer.beginning_offsets([self.intake], timeout_ms=10_000)
        except KafkaError:
            return  # next time
        self._trim.held = [o for o in self._trim.held if o >= start[self.intake]]

    def _still_parked(self) -> list[int]:
        """The intake offsets of acts parked from this partition that the intake topic
        still holds: the partition's log start must not pass them (a parked act was
        never recorded, and its re-drive reads it from there)."""
        try:
            start = self.consumer.beginning_offsets([self.intake], timeout_ms=10_000)
        except KafkaError as error:
            raise BrokerError(f"cannot read the start of intake partition {self.shard}: "
                              f"{type(error).__name__}") from error
        held = []
        for record in read_partition(self.settings.bootstrap_servers,
                                     self.settings.parked_topic, self.shard,
                                     client_id=f"{self.settings.client_id}-parked"):
            try:
                where = orjson.loads(record.value)["intake"]
                offset = int(where["offset"])
                if (where["topic"] == self.intake.topic
                        and int(where["partition"]) == self.shard
                        and offset >= start[self.intake]):
                    held.append(offset)
            except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
                continue  # not a parked act of ours
        return sorted(held)

    def _connect(self) -> KafkaConsumer:
        return read_committed_consumer(
            self.settings.bootstrap_servers,
            client_id=f"{self.settings.client_id}-intake-{self.shard}",
            cannot="reach the intake topic", partitions=[self.intake], group_id=INTAKE_GROUP,
            auto_offset_reset="earliest", max_poll_records=self.batch_size,
        )

    def _resume_from_committed(self) -> None:
        try:
            committed = self.consumer.committed(self.intake, metadata=True)
        except KafkaError as error:
            raise BrokerError(f"cannot read the committed intake offset of shard "
                              f"{self.shard}: {type(error).__name__}") from error
        if committed is None:
            self.consumer.seek_to_beginning(self.intake)
            return
        self.consumer.seek(self.intake, committed.offset)
        self.failures = FailureCounts.from_metadata(committed.metadata).beyond(committed.offset)


def run_until(writers: list[IntakeWriter], should_stop: Callable[[], bool],
              on_batch: Callable[[int, BatchReport], None] | None = None) -> None:
    """Round-robin over the shards until asked to stop; a batch is never cut in half.

    Crash-only: a failed transaction (broker gone, or fenced by a newer writer of the
    shard) is aborted and ends the loop. Nothing decides shard ownership but the
    transactional id, so a writer that re-initialised itself could fence the newer,
    rightful one; a supervisor restarts the process instead, and the restart resumes
    exactly where the last commit ended.
    """
    while not should_stop():
        for writer in writers:
            report = writer.run_once()
            if on_batch is not None and report.read > report.markers:
                on_batch(writer.shard, report)
            if should_stop():
                return


def caught_up(consumer: KafkaConsumer, partitions: list[TopicPartition]) -> bool:
    """Whether ``consumer``'s position on every one of ``partitions`` has reached its end
    offset (for a read_committed consumer, the last stable offset). An end it cannot
    learn (the broker away) is not reached: the caller keeps serving."""
    if not partitions:
        return True
    try:
        ends = consumer.end_offsets(partitions, timeout_ms=CAUGHT_UP_TIMEOUT_MS)
        positions = [consumer.position(p, timeout_ms=CAUGHT_UP_TIMEOUT_MS)
                     for p in partitions]
    except KafkaError:
        return False
    return all(position is not None and position >= ends[p]
               for p, position in zip(partitions, positions, strict=True))
