"""A client that sends acts to the intake topic and waits for the shard writer's verdict.

On Kafka only a shard's writer may append to it (and only the writer's key cache must
learn at once that a key is gone), so callers that record acts, erasures and expiries
do not touch the ledger topic: they send the act keyed by its subject, like any
upstream system, and then watch the subject's partition of the ledger topic and of the
rejected topic (read_committed) until the writer recorded or refused it, and of the
parked topic, where an act that failed every try is set aside ("failed"). A re-delivery
of a recorded act has no answer record: it is told by the writer's progress
(``ledger.kafka.intake_progress``), never by a quiet period.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from ledger.config import KafkaSettings
from ledger.errors import BrokerError, DuplicateAct
from ledger.kafka.admin import check_topics, required_topic_specs
from ledger.kafka.intake_progress import WriterProgress
from ledger.kafka.partitioning import shard_of, subject_key
from ledger.kafka.recorder import HEADER_TOPIC, PRODUCER_TUNING
from ledger.outcomes import ActOutcome, Status, event_summary


@dataclass(frozen=True)
class SentAct:
    """Where one act went: the record key of its subject (its events carry it) and its
    place on the intake topic (a rejection or parking names it). Answers are matched on
    these as well as the act id, which is the upstream's and may recur across subjects."""

    key: bytes
    partition: TopicPartition
    offset: int


def submit_and_wait(kafka: KafkaSettings, acts: Sequence[Mapping[str, Any]], *,
                    wait_s: float) -> list[ActOutcome]:
    """Sends ``acts`` and returns each one's outcome, in order; "pending" for those not
    answered within ``wait_s`` (the writer still carries them out when it gets to them)."""
    if not acts:
        return []
    check_topics(kafka.bootstrap_servers, required_topic_specs(kafka))
    shards = {shard_of(UUID(act["subject_id"]), kafka.partitions) for act in acts}
    ledger_tps = {TopicPartition(kafka.ledger_topic, shard) for shard in shards}
    watched = [*ledger_tps, *(TopicPartition(topic, s) for s in shards
                              for topic in (kafka.rejected_topic, kafka.parked_topic))]
    try:
        consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None,
                                 enable_auto_commit=False, isolation_level="read_committed",
                                 fetch_max_wait_ms=100)
    except KafkaError as error:
        raise BrokerError(f"cannot reach Kafka at {kafka.bootstrap_servers} "
                          f"({type(error).__name__})") from error
    try:
        consumer.assign(watched)
        # 1. Only what comes after the acts were sent can be their answer.
        for tp, end in consumer.end_offsets(watched).items():
            consumer.seek(tp, end)
        # 2. send, 3. watch for the answers until all came or the wait is over.
        sent = _send(kafka, acts)
        outcomes = {act["act_id"]: ActOutcome(act["act_id"], "pending") for act in acts}
        progress = WriterProgress(kafka.bootstrap_servers)
        try:
            _watch(consumer, ledger_tps, outcomes, time.monotonic() + wait_s,
                   parked_topic=kafka.parked_topic, sent=sent, progress=progress)
        finally:
            progress.close()
        return [outcomes[act["act_id"]] for act in acts]
    except KafkaError as error:
        raise BrokerError(f"lost Kafka while waiting for {len(acts)} act(s) "
                          f"({type(error).__name__})") from error
    finally:
        consumer.close()


def _send(kafka: KafkaSettings, acts: Sequence[Mapping[str, Any]]) -> dict[str, SentAct]:
    """Sends ``acts``; where each one went, by act id."""
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers, **PRODUCER_TUNING)
    try:
        futures = []
        for act in acts:
            subject = UUID(act["subject_id"])
            key = subject_key(subject)
            # To its home shard by name, not by trusting the client's partitioner: the
            # writer it reaches first must be the one that answers it.
            futures.append((act["act_id"], key, producer.send(
                kafka.intake_topic, key=key, value=orjson.dumps(act),
                partition=shard_of(subject, kafka.partitions))))
        producer.flush(timeout=30)
        landed = {}
        for act_id, key, future in futures:
            meta = future.get(timeout=30)
            landed[act_id] = SentAct(key, TopicPartition(meta.topic, meta.partition),
                                     meta.offset)
        return landed
    finally:
        producer.close(timeout=10)


# How often, while acts await an answer, the writers' committed intake offsets are read.
PROGRESS_CHECK_S = 0.5


def _watch(consumer: KafkaConsumer, ledger_tps: set[TopicPartition],
           outcomes: dict[str, ActOutcome], deadline: float, *, parked_topic: str,
           sent: Mapping[str, SentAct], progress: WriterProgress) -> None:
    waiting = set(outcomes)
    watched = list(consumer.assignment())
    # Acts a writer consumed with no answer seen yet, and the answer partitions' high
    # watermarks read after it committed: read to those, an answer would have come.
    consumed: set[str] = set()
    marks: dict[TopicPartition, int] | None = None
    checked_at = 0.0
    while waiting and time.monotonic() < deadline:
        waiting -= record_answers(consumer.poll(timeout_ms=200), ledger_tps, outcomes, sent,
                                  parked_topic=parked_topic)
        if marks is not None and all(consumer.position(tp) >= end for tp, end in marks.items()):
            for act_id in consumed & waiting:
                outcomes[act_id] = ActOutcome(
                    act_id, "duplicate", rule=DuplicateAct.rule,
                    reason="already recorded (the writer took it in and recorded nothing)")
            waiting -= consumed
            marks = None
        if marks is None and waiting and time.monotonic() - checked_at >= PROGRESS_CHECK_S:
            checked_at = time.monotonic()
            consumed = progress.consumed({a: (sent[a].partition, sent[a].offset)
                                          for a in waiting if a in sent})
            if consumed:
                marks = progress.high_watermarks(watched)
    # An act's events commit together but may span two polls: read to the end.
    ends = consumer.end_offsets(list(ledger_tps))
    while time.monotonic() < deadline and any(
            consumer.position(tp) < end for tp, end in ends.items()):
        record_answers(consumer.poll(timeout_ms=200), ledger_tps, outcomes, sent,
                       parked_topic=parked_topic)


def record_answers(polled: dict[TopicPartition, list[Any]], ledger_tps: set[TopicPartition],
                   outcomes: dict[str, ActOutcome], sent: Mapping[str, SentAct], *,
                   parked_topic: str | None = None) -> set[str]:
    """Records the answers in ``polled``; returns the ids of the acts they answer. A
    record of ``parked_topic`` answers "failed" (the act was set aside, not refused).
    Another subject's act under the same id (another upstream's, or another run's)
    answers nothing."""
    answered = set()
    for tp, records in polled.items():
        for record in records:
            try:
                document = orjson.loads(record.value)
            except orjson.JSONDecodeError:
                continue  # not the ledger's: nothing to answer with
            if not isinstance(document, dict):
                continue
            act_id = str(document.get("act_id"))
            ours = sent.get(act_id)
            if act_id not in outcomes or ours is None or not _answers(record, document, ours):
                continue
            if tp in ledger_tps:
                outcomes[act_id].status = "recorded"
                headers = dict(record.headers or [])
                summary = event_summary(headers.get(HEADER_TOPIC, b"").decode(), record.value)
                if summary is not None:
                    outcomes[act_id].events.append(summary)
            else:
                status: Status = "failed" if tp.topic == parked_topic else "rejected"
                outcomes[act_id] = ActOutcome(act_id, status, rule=document.get("rule"),
                                              reason=document.get("reason"))
            answered.add(act_id)
    return answered


def _answers(record: Any, document: dict[str, Any], act: SentAct) -> bool:
    """Whether ``record`` (which names the act's id) is about this very act: a rejection
    or parking names the intake record it is about; an event, its subject."""
    intake = document.get("intake")
    if isinstance(intake, dict) and "offset" in intake:
        return (intake.get("topic"), intake.get("partition"), intake.get("offset")) == (
            act.partition.topic, act.partition.partition, act.offset)
    return bool(record.key == act.key)
