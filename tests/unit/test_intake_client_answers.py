"""Telling a writer's answers apart: which act a ledger or rejected record answers.

An act id is the upstream's and may recur across subjects (two systems, or two runs):
an event answers an act only under the act's subject, a rejection or parking only when
it names the act's own intake record."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
from kafka import TopicPartition

from ledger.kafka.intake_client import SentAct, record_answers
from ledger.outcomes import ActOutcome

LEDGER = TopicPartition("ledger", 0)
REJECTED = TopicPartition("rejected", 0)
PARKED = TopicPartition("parked", 0)
INTAKE = TopicPartition("intake", 0)
SUBJECT = b"6b1d2a34-7c52-4a4e-9a55-1f4e1e0c2b11"
OTHER_SUBJECT = b"0f0e0d0c-0b0a-4908-8706-050403020100"


def record(document: Any, event: str = "ledger.domain.events:ErasureCompleted",
           key: bytes | None = SUBJECT) -> Any:
    value = document if isinstance(document, bytes) else orjson.dumps(document)
    return SimpleNamespace(value=value, key=key, headers=[("event-topic", event.encode())])


def outcomes(*act_ids: str) -> dict[str, ActOutcome]:
    return {act_id: ActOutcome(act_id, "pending") for act_id in act_ids}


def sent(*act_ids: str) -> dict[str, SentAct]:
    """The acts as sent: all for SUBJECT, at intake offsets 10, 11, ..."""
    return {act_id: SentAct(SUBJECT, INTAKE, 10 + n) for n, act_id in enumerate(act_ids)}


def intake(offset: int, partition: int = 0) -> dict[str, Any]:
    return {"topic": "intake", "partition": partition, "offset": offset}


def test_events_of_an_act_answer_it_without_their_sealed_values() -> None:
    waiting = outcomes("erase-1", "erase-1.request")
    answered = record_answers({LEDGER: [
        record({"act_id": "erase-1.request"}, "ledger.domain.events:ErasureRequested"),
        record({"act_id": "erase-1", "scopes": ["general"], "values": {"x": "sealed"}}),
    ]}, {LEDGER}, waiting, sent("erase-1", "erase-1.request"))
    assert answered == {"erase-1", "erase-1.request"}
    assert waiting["erase-1"].status == "recorded"
    assert [e["type"] for e in waiting["erase-1"].events] == ["ErasureCompleted"]
    assert [e["type"] for e in waiting["erase-1.request"].events] == ["ErasureRequested"]
    assert all("values" not in e for e in waiting["erase-1"].events)


def test_an_act_id_is_matched_whole() -> None:
    waiting = outcomes("crm.request")
    assert record_answers({LEDGER: [record({"act_id": "crm.request"})]}, {LEDGER}, waiting,
                          sent("crm.request")) == {"crm.request"}


def test_a_rejection_carries_its_rule_and_foreign_records_are_ignored() -> None:
    waiting = outcomes("a-1", "a-2")
    answered = record_answers({REJECTED: [
        record(b"not json"), record([1, 2]), record({"act_id": "someone-else"}),
        record({"intake": intake(11), "act_id": "a-2", "rule": "unknown-purpose",
                "reason": "no purpose 'x'"}),
    ]}, {LEDGER}, waiting, sent("a-1", "a-2"))
    assert answered == {"a-2"}
    assert (waiting["a-2"].status, waiting["a-2"].rule) == ("rejected", "unknown-purpose")
    assert waiting["a-1"].status == "pending"


def test_a_parked_act_is_answered_as_failed_not_rejected() -> None:
    waiting = outcomes("a-1")
    parked = {"intake": intake(10), "act_id": "a-1",
              "rule": "internal-error", "error": "RuntimeError", "failures": 3,
              "reason": "failed 3 times (RuntimeError); parked"}
    answered = record_answers({PARKED: [record(parked)]}, {LEDGER}, waiting, sent("a-1"),
                              parked_topic="parked")
    assert answered == {"a-1"}
    assert (waiting["a-1"].status, waiting["a-1"].rule) == ("failed", "internal-error")


def test_the_same_act_id_of_another_subject_or_intake_record_answers_nothing() -> None:
    waiting = outcomes("1")
    answered = record_answers({
        LEDGER: [record({"act_id": "1"}, key=OTHER_SUBJECT)],
        REJECTED: [record({"intake": intake(99), "act_id": "1", "rule": "unknown-purpose",
                           "reason": "no purpose 'x'"}, key=OTHER_SUBJECT),
                   record({"intake": intake(10, partition=1), "act_id": "1",
                           "rule": "unknown-purpose", "reason": "no purpose 'x'"})],
    }, {LEDGER}, waiting, sent("1"))
    assert answered == set()
    assert waiting["1"].status == "pending"
    # Positive control: its own event, under its subject, answers it.
    assert record_answers({LEDGER: [record({"act_id": "1"})]}, {LEDGER}, waiting,
                          sent("1")) == {"1"}
    assert waiting["1"].status == "recorded"
