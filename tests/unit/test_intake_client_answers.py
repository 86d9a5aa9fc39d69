"""Telling a writer's answers apart: which act a ledger or rejected record answers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
from kafka import TopicPartition

from ledger.kafka.intake_client import record_answers
from ledger.outcomes import ActOutcome

LEDGER = TopicPartition("ledger", 0)
REJECTED = TopicPartition("rejected", 0)
PARKED = TopicPartition("parked", 0)


def record(document: Any, event: str = "ledger.domain.events:ErasureCompleted") -> Any:
    value = document if isinstance(document, bytes) else orjson.dumps(document)
    return SimpleNamespace(value=value, headers=[("event-topic", event.encode())])


def outcomes(*act_ids: str) -> dict[str, ActOutcome]:
    return {act_id: ActOutcome(act_id, "pending") for act_id in act_ids}


def test_events_of_an_act_answer_it_without_their_sealed_values() -> None:
    waiting = outcomes("erase-1", "erase-1.request")
    answered = record_answers({LEDGER: [
        record({"act_id": "erase-1.request"}, "ledger.domain.events:ErasureRequested"),
        record({"act_id": "erase-1", "scopes": ["general"], "values": {"x": "sealed"}}),
    ]}, {LEDGER}, waiting)
    assert answered == {"erase-1", "erase-1.request"}
    assert waiting["erase-1"].status == "recorded"
    assert [e["type"] for e in waiting["erase-1"].events] == ["ErasureCompleted"]
    assert [e["type"] for e in waiting["erase-1.request"].events] == ["ErasureRequested"]
    assert all("values" not in e for e in waiting["erase-1"].events)


def test_an_act_id_is_matched_whole() -> None:
    waiting = outcomes("crm.request")
    assert record_answers({LEDGER: [record({"act_id": "crm.request"})]}, {LEDGER}, waiting) == {
        "crm.request"}


def test_a_rejection_carries_its_rule_and_foreign_records_are_ignored() -> None:
    waiting = outcomes("a-1", "a-2")
    answered = record_answers({REJECTED: [
        record(b"not json"), record([1, 2]), record({"act_id": "someone-else"}),
        record({"act_id": "a-2", "rule": "unknown-purpose", "reason": "no purpose 'x'"}),
    ]}, {LEDGER}, waiting)
    assert answered == {"a-2"}
    assert (waiting["a-2"].status, waiting["a-2"].rule) == ("rejected", "unknown-purpose")
    assert waiting["a-1"].status == "pending"


def test_a_parked_act_is_answered_as_failed_not_rejected() -> None:
    waiting = outcomes("a-1")
    parked = {"intake": {"topic": "intake", "partition": 0, "offset": 7}, "act_id": "a-1",
              "rule": "internal-error", "error": "RuntimeError", "failures": 3,
              "reason": "failed 3 times (RuntimeError); parked"}
    answered = record_answers({PARKED: [record(parked)]}, {LEDGER}, waiting,
                              parked_topic="parked")
    assert answered == {"a-1"}
    assert (waiting["a-1"].status, waiting["a-1"].rule) == ("failed", "internal-error")
