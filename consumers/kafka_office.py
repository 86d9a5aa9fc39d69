"""The privacy office's acts on Kafka: sent through the intake topic, answered by the writer.

On Kafka only a shard's writer may append to it, and only the writer's key cache must
learn at once that a key is gone, so `ledger erase` does not touch the ledger itself:
it sends an ``erasure-carried-out`` act keyed by the subject, like any upstream
system, and then watches the subject's partition of the ledger topic and of the
rejected topic (read_committed) until the writer recorded or refused that act.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from ledger.config import Settings
from ledger.errors import BrokerError
from ledger.kafka.partitioning import shard_of, subject_key
from ledger.kafka.recorder import HEADER_TOPIC, PRODUCER_TUNING


@dataclass
class ActOutcome:
    act_id: str
    status: str  # "recorded", "rejected" or "pending" (no answer within the wait)
    events: list[dict[str, Any]] = field(default_factory=list)  # type and clear fields
    rule: str | None = None
    reason: str | None = None


def submit_and_wait(settings: Settings, act: dict[str, Any], *, wait_s: float
                    ) -> ActOutcome:
    """Sends ``act`` to the intake topic and returns what the shard's writer made of it."""
    kafka = settings.kafka
    subject_id = UUID(act["subject_id"])
    shard = shard_of(subject_id, kafka.partitions)
    ledger_tp = TopicPartition(kafka.ledger_topic, shard)
    rejected_tp = TopicPartition(kafka.rejected_topic, shard)
    try:
        consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None,
                                 enable_auto_commit=False, isolation_level="read_committed",
                                 fetch_max_wait_ms=100)
    except KafkaError as error:
        raise BrokerError(f"cannot reach Kafka at {kafka.bootstrap_servers} "
                          f"({type(error).__name__})") from error
    try:
        consumer.assign([ledger_tp, rejected_tp])
        # Only what comes after the act was sent can be its answer.
        for tp, end in consumer.end_offsets([ledger_tp, rejected_tp]).items():
            consumer.seek(tp, end)
        _send(settings, act, subject_id)
        return _watch(consumer, ledger_tp, act["act_id"], time.monotonic() + wait_s)
    except KafkaError as error:
        raise BrokerError(f"lost Kafka while waiting for act {act['act_id']} "
                          f"({type(error).__name__})") from error
    finally:
        consumer.close()


def _send(settings: Settings, act: dict[str, Any], subject_id: UUID) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers,
                             **PRODUCER_TUNING)
    try:
        producer.send(settings.kafka.intake_topic, key=subject_key(subject_id),
                      value=orjson.dumps(act)).get(timeout=30)
    finally:
        producer.close(timeout=10)


def _watch(consumer: KafkaConsumer, ledger_tp: TopicPartition, act_id: str,
           deadline: float) -> ActOutcome:
    outcome = ActOutcome(act_id, "pending")
    # Acts the writer derives from this one (the erasure request it opens) share its id.
    ours = (act_id, f"{act_id}.request")
    while time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=200).items():
            for record in records:
                document = orjson.loads(record.value)
                if document.get("act_id") not in ours:
                    continue
                if tp == ledger_tp:
                    outcome.status = "recorded"
                    outcome.events.append(_clear_fields(record, document))
                else:
                    return ActOutcome(act_id, "rejected", rule=document.get("rule"),
                                      reason=document.get("reason"))
        # The writer commits an act's events in one transaction: once some are
        # visible, all of them are.
        if outcome.status == "recorded":
            return outcome
    return outcome


def _clear_fields(record: Any, state: dict[str, Any]) -> dict[str, Any]:
    # Events an office act records (erasure, expiry) hold no personal field; the
    # type comes from the header the recorder writes in clear.
    headers = dict(record.headers or [])
    event_type = headers.get(HEADER_TOPIC, b"").decode().rpartition(":")[2]
    return {"type": event_type, **{k: v for k, v in state.items() if k != "values"}}
