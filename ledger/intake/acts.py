"""Intake acts: JSON documents from upstream systems, validated, then applied.

Validation messages are built from the schema path and the rule that failed, never from
jsonschema's own text, which quotes the offending value (a personal value, often).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from uuid import UUID

import fastjsonschema
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ledger.application import LedgerApplication
from ledger.domain.acts import ActContext
from ledger.errors import InvalidAct

MAX_ACT_BYTES = 256 * 1024
SCHEMA_FILE = "act-schema.json"
_SAFE_NAME = "abcdefghijklmnopqrstuvwxyz0123456789_-"
# The schema's act_id pattern, anchored by fullmatch (``$`` would accept a final newline).
_ACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")


@dataclass(frozen=True)
class IntakeAct:
    type: str
    subject_id: UUID
    context: ActContext
    # The type-specific fields, and the whole act as it came: both hold personal values,
    # so neither is in the repr (a traceback must not print them).
    body: Mapping[str, Any] = field(repr=False)
    document: Mapping[str, Any] = field(repr=False)


@cache
def act_schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(act_schema())


@cache
def _flat_schema(act_type: str) -> dict[str, Any]:
    """The schema of one act type, flattened: the full schema's if/then chain makes a
    validator try every type's branch for every act."""
    schema = act_schema()
    branch = schema["$defs"][act_type]
    return {
        "type": "object",
        "required": [*schema["required"], *branch["required"]],
        "properties": {**schema["properties"], **branch["properties"]},
        "additionalProperties": False,
    }


@cache
def _fast_check_for(act_type: str) -> Callable[[Any], Any]:
    """The flattened schema compiled to Python code: about 20 times faster than
    interpreting it, which mattered because every act is checked. It only decides;
    ``_validator`` explains a refusal (and a test holds the two to the same verdicts)."""
    flat = {"$schema": "http://json-schema.org/draft-07/schema#", **_flat_schema(act_type)}
    check: Callable[[Any], Any] = fastjsonschema.compile(flat)
    return check


def is_valid_act(document: Mapping[str, Any]) -> bool:
    """The fast verdict: does ``document`` satisfy the schema of its act type?"""
    act_type = document.get("type")
    if not isinstance(act_type, str) or act_type not in act_schema()["$defs"]:
        return False
    try:
        _fast_check_for(act_type)(document)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def parse_act(raw: bytes | str) -> IntakeAct:
    """One act from its JSON text; ``InvalidAct`` names what is wrong, never a value."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(data) > MAX_ACT_BYTES:
        raise InvalidAct(f"act is larger than {MAX_ACT_BYTES} bytes")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidAct("not valid JSON") from None
    if not isinstance(document, dict):
        raise InvalidAct("an act must be a JSON object")
    return act_from_document(document)


def act_from_document(document: Mapping[str, Any]) -> IntakeAct:
    if not is_valid_act(document):
        # The slow, thorough validator explains what is wrong; the fast one only decides.
        errors = sorted(_validator().iter_errors(document), key=_error_order)
        if errors:
            invalid = _invalid(errors[0])
            invalid.act_id = readable_act_id(document)
            raise invalid
    try:
        occurred_at = datetime.fromisoformat(document["occurred_at"])
    except ValueError:
        raise InvalidAct("not a valid date-time", field="occurred_at",
                         act_id=readable_act_id(document)) from None
    common = {"act_id", "type", "subject_id", "actor", "occurred_at"}
    return IntakeAct(
        type=document["type"],
        subject_id=UUID(document["subject_id"]),
        context=ActContext(document["act_id"], document["actor"], occurred_at),
        body={k: v for k, v in document.items() if k not in common},
        document=document,
    )


def readable_act_id(document: Mapping[str, Any]) -> str | None:
    """The document's act id when it has the schema's form (so it cannot be a personal
    value such as an email address), for the verdict of an act that is refused."""
    act_id = document.get("act_id")
    if isinstance(act_id, str) and _ACT_ID.fullmatch(act_id):
        return act_id
    return None


def _error_order(error: ValidationError) -> tuple[bool, int, int]:
    # Report the most specific problem: a failing rule before "unknown field" (which a
    # failing branch also triggers), then the deepest path.
    return (
        error.validator == "unevaluatedProperties",
        -len(error.absolute_path),
        len(error.absolute_schema_path),
    )


def _invalid(error: ValidationError) -> InvalidAct:
    best = error
    while best.context:  # descend into if/then and allOf to the failing leaf
        best = sorted(best.context, key=_error_order)[0]
    path = ".".join(_safe_segment(p) for p in best.absolute_path) or None
    validator = best.validator
    schema: Any = best.schema if isinstance(best.schema, dict) else {}
    if validator == "required":
        present = best.instance if isinstance(best.instance, dict) else {}
        missing = [m for m in schema.get("required", []) if m not in present]
        return InvalidAct(f"missing field {missing[0] if missing else ''}".strip(), field=path)
    if validator in {"unevaluatedProperties", "additionalProperties"}:
        names = _unexpected_names(best)
        return InvalidAct(f"unknown field(s) {names}", field=path)
    if "propertyNames" in best.absolute_schema_path:
        return InvalidAct("has a category name that is not allowed", field=path)
    if validator == "enum":
        allowed = ", ".join(str(v) for v in schema.get("enum", []))
        return InvalidAct(f"must be one of: {allowed}", field=path)
    if validator == "maxLength":
        return InvalidAct(f"longer than {schema['maxLength']} characters", field=path)
    messages = {
        "type": f"must be of type {schema.get('type')}",
        "pattern": "has a form that is not allowed here",
        "minLength": "must not be empty",
        "minProperties": "must not be empty",
        "maxProperties": f"has more than {schema.get('maxProperties')} entries",
        "minItems": "must not be empty",
        "maxItems": f"has more than {schema.get('maxItems')} items",
        "uniqueItems": "has duplicate items",
        "propertyNames": "has a category name that is not allowed",
    }
    return InvalidAct(messages.get(str(validator), f"fails the {validator} rule"), field=path)


def _safe_segment(segment: object) -> str:
    text = str(segment)
    if isinstance(segment, int) or (text and all(c in _SAFE_NAME for c in text.lower())):
        return text
    return "<name withheld>"


def _unexpected_names(error: ValidationError) -> str:
    instance = error.instance if isinstance(error.instance, dict) else {}
    known = set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
    for branch in act_schema()["$defs"].values():
        if instance.get("type") and branch is act_schema()["$defs"].get(instance["type"]):
            known |= set(branch["properties"])
    unknown = sorted(str(k) for k in instance if k not in known)
    # A field name may itself be personal ({"jan@example.com": ...}); show safe ones only.
    return ", ".join(_safe_segment(name) for name in unknown) or "<withheld>"


Handler = Callable[[LedgerApplication, IntakeAct], None]


def _erase(app: LedgerApplication, act: IntakeAct) -> None:
    # The plan is in the events recorded (ErasureCompleted, ErasureRefusedInPart).
    app.erase_now(act.subject_id, act.context, request_ref=act.body["request_ref"],
                  channel=act.body["channel"])


def _collect(app: LedgerApplication, act: IntakeAct) -> None:
    b = act.body
    app.collect_data(
        act.subject_id, act.context, purpose=b["purpose"], values=b["values"],
        source_system=b["source_system"], legal_basis=b["legal_basis"],
        controller=b.get("controller"),
    )


HANDLERS: dict[str, Handler] = {
    "data-collected": _collect,
    "data-processed": lambda app, a: app.record_processing(
        a.subject_id, a.context, purpose=a.body["purpose"], operation=a.body["operation"],
        categories=a.body["categories"]),
    "data-shared": lambda app, a: app.record_sharing(
        a.subject_id, a.context, purpose=a.body["purpose"], recipient=a.body["recipient"],
        recipient_kind=a.body["recipient_kind"], ground=a.body["ground"],
        categories=a.body["categories"]),
    "consent-given": lambda app, a: app.give_consent(
        a.subject_id, a.context, purpose=a.body["purpose"], channel=a.body["channel"],
        notice_version=a.body["notice_version"], proof_ref=a.body["proof_ref"]),
    "consent-withdrawn": lambda app, a: app.withdraw_consent(
        a.subject_id, a.context, purpose=a.body["purpose"], channel=a.body["channel"],
        proof_ref=a.body["proof_ref"]),
    "objection-raised": lambda app, a: app.object_to_processing(
        a.subject_id, a.context, ground=a.body["ground"], purpose=a.body.get("purpose"),
        channel=a.body["channel"]),
    "restriction-applied": lambda app, a: app.restrict_processing(
        a.subject_id, a.context, request_ref=a.body["request_ref"],
        reason=a.body["reason"], scope=a.body.get("scope")),
    "restriction-lifted": lambda app, a: app.lift_restriction(
        a.subject_id, a.context, request_ref=a.body["request_ref"]),
    "data-rectified": lambda app, a: app.rectify_data(
        a.subject_id, a.context, purpose=a.body["purpose"], values=a.body["values"],
        request_ref=a.body["request_ref"]),
    "access-requested": lambda app, a: app.request_access(
        a.subject_id, a.context, request_ref=a.body["request_ref"],
        channel=a.body["channel"]),
    "access-fulfilled": lambda app, a: app.fulfil_access(
        a.subject_id, a.context, request_ref=a.body["request_ref"],
        export_ref=a.body["export_ref"]),
    "request-deadline-extended": lambda app, a: app.extend_request_deadline(
        a.subject_id, a.context, request_ref=a.body["request_ref"],
        extended_by_months=a.body["extended_by_months"], reason_code=a.body["reason_code"]),
    "erasure-requested": lambda app, a: app.request_erasure(
        a.subject_id, a.context, request_ref=a.body["request_ref"],
        channel=a.body["channel"]),
    "erasure-carried-out": _erase,
    "retention-expired": lambda app, a: app.expire_retention(
        a.subject_id, a.context, scope=a.body["scope"]),
    "contract-ended": lambda app, a: app.end_contract(
        a.subject_id, a.context, purpose=a.body["purpose"]),
    "purpose-fulfilled": lambda app, a: app.fulfil_purpose(
        a.subject_id, a.context, purpose=a.body["purpose"]),
    "legal-hold-placed": lambda app, a: app.place_legal_hold(
        a.subject_id, a.context, hold_ref=a.body["hold_ref"], reason=a.body["reason"],
        scopes=a.body.get("scopes", [])),
    "legal-hold-released": lambda app, a: app.release_legal_hold(
        a.subject_id, a.context, hold_ref=a.body["hold_ref"]),
    "controller-transferred": lambda app, a: app.transfer_controller(
        a.subject_id, a.context, new_controller=a.body["new_controller"],
        transfer_kind=a.body["transfer_kind"], purposes=a.body["purposes"]),
}


def apply_act(app: LedgerApplication, act: IntakeAct) -> None:
    HANDLERS[act.type](app, act)
