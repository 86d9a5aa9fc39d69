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
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from ledger.application import LedgerApplication
from ledger.config import KafkaSettings
from ledger.errors import BrokerError, DuplicateAct, InvalidAct
from ledger.intake.acts import IntakeAct, apply_act, parse_act
from ledger.kafka.partitioning import shard_of
from ledger.kafka.recorder import KafkaApplicationRecorder
from ledger.refusals import Refusal, refusal_of

INTAKE_GROUP = "personal-data-ledger-intake"


@dataclass
class BatchReport:
    read: int = 0
    recorded: int = 0
    duplicate: int = 0
    rejected: int = 0
    last_offset: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)


class IntakeWriter:
    def __init__(
        self, app: LedgerApplication, settings: KafkaSettings, shard: int, *,
        batch_size: int = 500, poll_ms: int = 500,
    ) -> None:
        if not isinstance(app.recorder, KafkaApplicationRecorder):
            raise BrokerError("the intake writer needs the Kafka persistence module")
        self.app = app
        self.recorder: KafkaApplicationRecorder = app.recorder
        self.settings = settings
        self.shard = shard
        self.batch_size = batch_size
        self.poll_ms = poll_ms
        self.intake = TopicPartition(settings.intake_topic, shard)
        self.consumer = self._connect()
        self.recorder.claim()  # fence any earlier writer first, then read where it ended
        self._resume_from_committed()

    def run_once(self) -> BatchReport:
        """Reads one batch and records it in one transaction; an empty poll does nothing."""
        records = self._poll()
        report = BatchReport(read=len(records))
        if not records:
            return report
        first_offset = records[0].offset
        self.recorder.begin_batch()  # 1. open the transaction
        try:
            # 2. acts -> events or rejections, inside it. New keys commit when this
            # block ends, before step 4: no event may reach readers ahead of its key.
            with self._key_batch():
                for record in records:
                    self._handle(record, report)
            next_offset = records[-1].offset + 1
            self.recorder.send_offsets(  # 3. the intake offsets, inside it
                {self.intake: OffsetAndMetadata(next_offset, "", -1)}, INTAKE_GROUP)
            self.recorder.commit_batch()  # 4. all of it, or none of it
        except BaseException:
            self._abort_quietly()
            # Its acts were not recorded: a restarted writer reads the batch again.
            self.consumer.seek(self.intake, first_offset)
            raise
        report.last_offset = records[-1].offset
        return report

    def close(self) -> None:
        self.consumer.close()

    def _key_batch(self) -> contextlib.AbstractContextManager[None]:
        store = self.app.key_store
        return store.batch() if store is not None else contextlib.nullcontext()

    def _handle(self, record: Any, report: BatchReport) -> None:
        act: IntakeAct | None = None
        try:
            act = parse_act(record.value)
            self._check_shard(act)
            apply_act(self.app, act)
        except DuplicateAct:
            report.duplicate += 1
        except BrokerError:
            raise  # the transaction is in doubt: abort and read the batch again
        except Exception as error:  # noqa: BLE001 - one act's fault must not stop the shard
            # The same rule and reason `ledger record` gives on the embedded backend; an
            # unexpected error is kept as its type only (its message may quote input).
            self._reject(record, act, refusal_of(error), report)
        else:
            report.recorded += 1

    def _check_shard(self, act: IntakeAct) -> None:
        # The single-writer guarantee holds only if the subject's events land in the
        # partition this writer owns; an act keyed otherwise upstream is refused.
        if shard_of(act.subject_id, self.settings.partitions) != self.shard:
            raise InvalidAct(
                f"act for subject {act.subject_id} arrived on intake partition {self.shard}; "
                "produce acts keyed by subject id with the default partitioner")

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
        self.recorder.produce(self.settings.rejected_topic, key, orjson.dumps(document),
                              [("rule", refusal.rule.encode())])

    def _poll(self) -> list[Any]:
        try:
            batches = self.consumer.poll(timeout_ms=self.poll_ms, max_records=self.batch_size)
        except KafkaError as error:
            raise BrokerError(f"cannot read intake partition {self.shard}: "
                              f"{type(error).__name__}") from error
        return [r for records in batches.values() for r in records]

    def _abort_quietly(self) -> None:
        # Fenced or stuck: the next begin_batch starts a new producer.
        with contextlib.suppress(BrokerError):
            self.recorder.abort_batch()

    def _connect(self) -> KafkaConsumer:
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=self.settings.bootstrap_servers,
                client_id=f"{self.settings.client_id}-intake-{self.shard}",
                group_id=INTAKE_GROUP, enable_auto_commit=False,
                isolation_level="read_committed", auto_offset_reset="earliest",
                max_poll_records=self.batch_size,
            )
            consumer.assign([self.intake])
        except KafkaError as error:
            raise BrokerError(f"cannot reach the intake topic: {type(error).__name__}"
                              ) from error
        return consumer

    def _resume_from_committed(self) -> None:
        committed = self.consumer.committed(self.intake)
        if committed is None:
            self.consumer.seek_to_beginning(self.intake)
        else:
            self.consumer.seek(self.intake, committed)


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
            if on_batch is not None and report.read:
                on_batch(writer.shard, report)
            if should_stop():
                return
