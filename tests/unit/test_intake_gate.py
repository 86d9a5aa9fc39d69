"""The intake gate: anchored patterns that refuse a final newline, keys given twice,
nesting, and values of the right type but the wrong form.

Before: ``re.search`` (which jsonschema uses) lets ``^crm$`` match "crm\\n", and the
compiled check (fastjsonschema, which anchors with ``\\Z``) refused what the explaining
validator then found nothing wrong with, so the act went through: "crm-1\\n" was recorded
as an act id, and a subject id "...\\n" failed with ``internal-error: ValueError``.
orjson kept the last of two keys silently (``{"purpose": "contact", "purpose": "x"}``
was recorded as purpose "x"). A business phone "n/a" failed the act with
``internal-error: ValueError`` (identity binding found nothing to bind), a business email
"not an email" was recorded and bound as one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import fastjsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from consumers.composition import open_embedded
from consumers.services.ports import Backend
from consumers.services.recording import record_lines
from ledger.config import Settings
from ledger.errors import InvalidAct, InvalidValue
from ledger.intake.acts import MAX_DEPTH, _flat_schema, act_schema, parse_act
from ledger.refusals import refusal_of

CANARY = "CANARY-5d1e"
NEWLINE_GUARD = "$(?!\\n)"


def schema_patterns(node: Any = None, path: str = "") -> Iterator[tuple[str, str]]:
    """Every ``pattern`` in the shipped schema, with where it is."""
    node = act_schema() if node is None else node
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield path, value
            else:
                yield from schema_patterns(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from schema_patterns(value, f"{path}/{index}")


PATTERNS = sorted({pattern for _, pattern in schema_patterns()})


def test_the_walk_finds_the_schema_s_patterns() -> None:
    where = [path for path, _ in schema_patterns()]
    assert "/properties/act_id" in where
    assert "/properties/occurred_at" in where
    assert any("propertyNames" in path for path in where)
    assert len(PATTERNS) >= 5


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_pattern_is_anchored_against_a_final_newline(pattern: str) -> None:
    # ``$`` alone matches before a final "\n" in Python; ``$(?!\n)`` does not, and is
    # the same as ``$`` in ECMA-262, the dialect the schema promises upstream teams.
    assert pattern.startswith("^"), pattern
    assert pattern.endswith(NEWLINE_GUARD), pattern
    assert "\\d" not in pattern  # Python's \d takes any Unicode digit; ECMA's only 0-9


@settings(max_examples=25, deadline=None)
@given(data=st.data(), pattern=st.sampled_from(PATTERNS))
def test_a_valid_example_with_a_final_newline_is_refused_by_every_validator(
        data: st.DataObject, pattern: str) -> None:
    stem = pattern.removesuffix(NEWLINE_GUARD) + "$"
    example = data.draw(st.from_regex(stem, fullmatch=True))
    schema = {"type": "string", "pattern": pattern}
    fast = fastjsonschema.compile(schema)
    thorough = Draft202012Validator(schema)
    assert re.search(pattern, example)
    assert thorough.is_valid(example)
    fast(example)
    for bad in (example + "\n", example + "\r\n", "\n" + example):
        assert not re.search(pattern, bad)
        assert not thorough.is_valid(bad)
        with pytest.raises(fastjsonschema.JsonSchemaException):
            fast(bad)


# -- every string field of every act type, end to end --------------------------------


def example_act(act_type: str, data: st.DataObject) -> dict[str, Any]:
    """A valid act of ``act_type`` with every field its schema has, drawn from the
    schema itself (so a field added later is covered too)."""
    act: dict[str, Any] = {}
    for name, schema in _flat_schema(act_type)["properties"].items():
        act[name] = data.draw(_value_for(name, schema))
    act.update(type=act_type, subject_id=str(uuid4()),
               occurred_at="2025-03-03T09:00:00+01:00")
    act.pop("office_signature", None)  # a signature cannot be drawn; the pattern test has it
    return act


def _value_for(name: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "pattern" in schema:
        return st.from_regex(schema["pattern"].removesuffix(NEWLINE_GUARD) + "$",
                             fullmatch=True)
    if schema.get("type") == "array":
        return st.lists(_value_for(name, schema["items"]), min_size=1, max_size=1)
    if name == "values":
        return st.just({"name": "Jan", "business-email": "jan@example.nl",
                        "business-phone": "+31 20 555 0101"})
    raise AssertionError(f"no example for field {name}")


def string_paths(act: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    for name, value in act.items():
        if name == "values":
            yield from ((name, category, "key") for category in value)
        elif isinstance(value, str):
            yield (name,)
        elif isinstance(value, list):
            yield from ((name, index) for index in range(len(value)))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), act_type=st.sampled_from(sorted(act_schema()["$defs"])))
def test_every_id_like_field_with_a_final_newline_is_refused(
        data: st.DataObject, act_type: str) -> None:
    act = example_act(act_type, data)
    assert parse_act(orjson.dumps(act)).type == act_type
    for path in string_paths(act):
        bad = orjson.loads(orjson.dumps(act))
        if path[-1] == "key":  # a category name: the values' key itself
            bad["values"][path[1] + "\n"] = bad["values"].pop(path[1])
        elif len(path) == 2:
            bad[path[0]][path[1]] += "\n"
        else:
            bad[path[0]] += "\n"
        with pytest.raises(InvalidAct) as refused:
            parse_act(orjson.dumps(bad))
        assert not isinstance(refused.value, InvalidValue) or path[0] == "values"


# -- keys given twice ---------------------------------------------------------------


def collected(**overrides: Any) -> dict[str, Any]:
    act = {
        "act_id": "crm-1", "type": "data-collected", "subject_id": str(uuid4()),
        "actor": "crm", "occurred_at": "2025-03-03T09:00:00+01:00", "purpose": "contact",
        "values": {"name": CANARY}, "source_system": "crm",
        "legal_basis": "legitimate-interest",
    }
    act.update(overrides)
    return act


def with_extra(act: dict[str, Any], text: bytes) -> bytes:
    return orjson.dumps(act)[:-1] + b"," + text + b"}"


@pytest.mark.parametrize(("raw", "reason", "act_id"), [
    (with_extra(collected(), b'"purpose":"newsletter"'), "has a duplicate key purpose",
     "crm-1"),
    (with_extra(collected(), b'"purpose" \t\n: "newsletter"'), "has a duplicate key purpose",
     "crm-1"),
    (with_extra(collected(), b'"\\u0070urpose":"newsletter"'), "has a duplicate key purpose",
     "crm-1"),
    (with_extra(collected(), b'"act_id":"crm-2"'), "has a duplicate key act_id", None),
    (with_extra({k: v for k, v in collected().items() if k != "values"},
                b'"values":{"name":"Jan","name":"' + CANARY.encode() + b'"}'),
     "has a duplicate key name", "crm-1"),
    (with_extra(collected(**{f"{CANARY}@x.nl": 1}), f'"{CANARY}@x.nl":2'.encode()),
     "has a duplicate key <name withheld>", "crm-1"),
])
def test_a_key_given_twice_is_refused_at_any_depth(raw: bytes, reason: str,
                                                   act_id: str | None) -> None:
    with pytest.raises(InvalidAct) as refused:
        parse_act(raw)
    refusal = refusal_of(refused.value)
    assert (refusal.rule, refusal.reason, refusal.act_id) == ("invalid-act", reason, act_id)
    assert CANARY not in refusal.reason


def test_a_quote_and_colon_inside_a_string_is_not_a_key() -> None:
    # The cheap count sees one more key end than keys; the slow path finds no duplicate.
    act = collected(values={"name": 'say "hi": ' + CANARY})
    assert parse_act(orjson.dumps(act)).body["values"]["name"].startswith("say")


def test_deep_nesting_is_refused_before_any_validator_recurses() -> None:
    for depth in (MAX_DEPTH, 1000):
        raw = with_extra(collected(), b'"x":' + b"[" * depth + b"]" * depth)
        with pytest.raises(InvalidAct, match="nested deeper than 16 levels"):
            parse_act(raw)
    with pytest.raises(InvalidAct, match="not valid JSON"):  # orjson's own limit: 1024
        parse_act(b"[" * 2000 + b"]" * 2000)


# -- values of the right type, the wrong form ----------------------------------------


@pytest.mark.parametrize(("category", "value", "form"), [
    ("business-phone", "n/a", "is not a phone number"),
    ("business-phone", f"{CANARY} 0612345678", "is not a phone number"),
    ("business-phone", "++31 20 555 0101", "is not a phone number"),
    ("business-email", "jan at example dot nl", "is not an email address"),
    ("business-email", f"{CANARY}@", "is not an email address"),
    ("business-email", f"{CANARY}\u200b@example.nl", "is not an email address"),
    ("business-email", f"{CANARY}@example", "is not an email address"),
])
def test_a_malformed_identity_is_refused_as_invalid_value(category: str, value: str,
                                                          form: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        parse_act(orjson.dumps(collected(values={"name": "x", category: value})))
    refusal = refusal_of(refused.value)
    assert refusal.rule == "invalid-value"
    assert refusal.reason.startswith(f"values.{category}: {form}")
    assert refusal.act_id == "crm-1"
    assert CANARY not in refusal.reason
    assert value not in refusal.reason


@pytest.mark.parametrize(("category", "value"), [
    ("business-phone", "+31 (0)20 123-4567"), ("business-phone", "020/1234567"),
    ("business-phone", "\uff0b\uff13\uff11 \uff16\uff11\uff12"),  # full width: NFKC
    ("business-email", "Ann.de.Vries+crm@Example.ORG"), ("business-email", "jan@exämple.nl"),
    ("business-email", "  sanne@bakkerij.nl "),
])
def test_well_formed_identities_pass(category: str, value: str) -> None:
    act = parse_act(orjson.dumps(collected(values={"name": "x", category: value})))
    assert act.body["values"][category] == value


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    with open_embedded(Settings(data_dir=tmp_path)) as opened:
        yield opened


def test_ledger_record_refuses_a_malformed_identity_and_records_the_rest(
        backend: Backend) -> None:
    subject = str(uuid4())
    lines = [
        orjson.dumps(collected(act_id="c-1", subject_id=subject,
                               values={"name": CANARY, "business-phone": "n/a"})),
        orjson.dumps(collected(act_id="c-2", subject_id=subject,
                               values={"name": CANARY, "business-email": "not an email"})),
        orjson.dumps(collected(act_id="c-3", subject_id=subject,
                               values={"name": CANARY, "business-phone": "+31 20 555 0101"})),
    ]
    verdicts = list(record_lines(backend, lines, wait_s=0))
    assert [(v.status, v.rule) for v in verdicts] == [
        ("rejected", "invalid-value"), ("rejected", "invalid-value"), ("recorded", None)]
    assert verdicts[0].reason is not None
    assert verdicts[0].reason.startswith(
        "values.business-phone: is not a phone number")
    assert [v.act_id for v in verdicts] == ["c-1", "c-2", "c-3"]
    assert backend.find_subject("phone", "+31205550101") is not None
