"""Intake acts: the shipped JSON Schema, and errors that never quote personal values."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import orjson
import pytest
from jsonschema import Draft202012Validator

from ledger.errors import InvalidAct
from ledger.intake.acts import HANDLERS, MAX_ACT_BYTES, act_schema, parse_act

CANARY = "CANARY-7f3a@example.nl"


def collected(**overrides: Any) -> dict[str, Any]:
    act = {
        "act_id": "crm-1", "type": "data-collected", "subject_id": str(uuid4()),
        "actor": "crm", "occurred_at": "2025-03-03T09:00:00+01:00",
        "purpose": "contact", "values": {"name": CANARY}, "source_system": "crm",
        "legal_basis": "legitimate-interest",
    }
    act.update(overrides)
    return act


def reason_for(document: Any) -> str:
    raw = document if isinstance(document, bytes) else orjson.dumps(document)
    with pytest.raises(InvalidAct) as caught:
        parse_act(raw)
    message = str(caught.value)
    assert CANARY not in message
    assert CANARY.split("@", maxsplit=1)[0] not in message
    return message


def test_the_shipped_schema_is_valid_and_covers_every_handler() -> None:
    Draft202012Validator.check_schema(act_schema())
    assert set(act_schema()["$defs"]) == set(HANDLERS)


def test_a_valid_act_parses_with_its_context() -> None:
    act = parse_act(orjson.dumps(collected()))
    assert act.type == "data-collected"
    assert act.context.actor == "crm"
    assert act.context.occurred_at.utcoffset() is not None
    assert act.body["values"] == {"name": CANARY}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (b'{"act_id": "x", "values": {"name": "' + CANARY.encode() + b'"', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (collected(purpose=7), "purpose: must be of type string"),
        (collected(values={"name": 12345}), "values.name: must be of type string"),
        (collected(values={"name": CANARY * 2000}), "values.name: longer than 16384"),
        (collected(colour="blue"), "unknown field(s) colour"),
        (collected(**{CANARY: "x"}), "unknown field(s) <name withheld>"),
        (collected(values={CANARY: "x"}), "values: has a category name that is not allowed"),
        (collected(legal_basis=CANARY), "legal_basis: must be one of"),
        (collected(type=CANARY), "type: must be one of"),
        (collected(occurred_at=CANARY), "occurred_at: has a form that is not allowed"),
        (collected(occurred_at="2025-13-45T25:00:00Z"), "occurred_at: not a valid date-time"),
        (collected(subject_id=CANARY), "subject_id: has a form that is not allowed"),
        (collected(values={}), "values: must not be empty"),
        ({"type": "data-collected"}, "missing field act_id"),
    ],
)
def test_bad_input_is_named_without_echoing_the_value(document: Any, expected: str) -> None:
    assert expected in reason_for(document)


def test_missing_type_specific_field_is_named() -> None:
    document = collected()
    del document["values"]
    assert reason_for(document) == "missing field values"


def test_oversized_act_is_refused_before_parsing() -> None:
    huge = b'{"pad": "' + b"x" * MAX_ACT_BYTES + b'"}'
    assert "larger than" in reason_for(huge)
