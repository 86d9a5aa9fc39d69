"""Intake acts: JSON documents from upstream systems, validated, then applied.

Validation messages are built from the schema path and the rule that failed, never from
jsonschema's own text, which quotes the offending value (a personal value, often).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any
from uuid import UUID

import fastjsonschema
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ledger.application import IDENTITY_CATEGORIES, LedgerApplication
from ledger.crypto.identity import identity_form_problem
from ledger.crypto.office_signing import SIGNATURE_FIELD
from ledger.domain.acts import ActContext
from ledger.errors import InvalidAct, InvalidValue
from ledger.moments import ACCEPTED_RANGE, in_range

MAX_ACT_BYTES = 256 * 1024
# A valid act nests two levels (the act, then its values or categories); a deeper one
# is refused before any validator recurses into it.
MAX_DEPTH = 16
SCHEMA_FILE = "act-schema.json"
_SAFE_NAME = "abcdefghijklmnopqrstuvwxyz0123456789_-"
# The schema's act_id pattern, anchored by fullmatch (``$`` would accept a final newline).
_ACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
# The end of an object key in JSON text (its closing quote, blanks, the colon). Every key
# ends so, so the text has at most as many keys as matches: when the parsed document
# holds as many, no key was given twice (orjson would have kept the last silently).
_KEY_END = re.compile(rb'"[ \t\r\n]*:')


@dataclass(frozen=True)
class IntakeAct:
    """An act that passed every intake check (``act_from_document``): its type and
    subject, the context it is recorded with, and the fields of its type."""

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
    ``explain_invalid`` explains a refusal (and a test holds the fast check, the
    explanation and the whole-schema ``_validator`` to the same verdicts)."""
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


@cache
def _common_schema() -> dict[str, Any]:
    """The fields every act has: all a refusal can be explained by when the act's type
    is not known."""
    schema = act_schema()
    return {"type": "object", "required": list(schema["required"]),
            "properties": dict(schema["properties"])}


@cache
def _compiled(subschema_json: str) -> tuple[Callable[[Any], Any], Draft202012Validator]:
    """One property's schema, compiled (to find it fails) and interpreted (to say why)."""
    subschema = json.loads(subschema_json)
    fast = fastjsonschema.compile(
        {"$schema": "http://json-schema.org/draft-07/schema#", **subschema})
    return fast, Draft202012Validator(subschema)


@cache
def _property_checks(act_type: str | None
                     ) -> dict[str, tuple[Callable[[Any], Any], Draft202012Validator]]:
    shape = _common_schema() if act_type is None else _flat_schema(act_type)
    return {name: _compiled(json.dumps(subschema, sort_keys=True))
            for name, subschema in shape["properties"].items()}


def explain_invalid(document: Mapping[str, Any]) -> InvalidAct:
    """Why ``document`` fails the schema of its act type (or, when the type is not
    known, of every act), in the words of the thorough validator.

    Cheap: each property the document has is checked by its compiled check, and only a
    failing one is walked by the interpreting validator (over the whole document that
    cost ~1 ms; a refused line must cost about what an accepted one does). The same
    problem is named as the whole-document validator names it: the deepest failing
    rule first, then a missing field, then unknown fields. A document this finds
    nothing wrong with is still refused: the fast check said no.
    """
    act_type = document.get("type")
    known = isinstance(act_type, str) and act_type in act_schema()["$defs"]
    checks = _property_checks(act_type if known else None)
    failures: list[tuple[str, ValidationError]] = []
    for name, (fast, thorough) in checks.items():  # in the schema's order, as before
        if name not in document:
            continue
        try:
            fast(document[name])
        except fastjsonschema.JsonSchemaException:
            failures += [(name, error) for error in thorough.iter_errors(document[name])]
    if failures:
        name, error = min(failures, key=lambda failure: _error_order(failure[1]))
        return _invalid(error, prefix=(name,))
    shape = _common_schema() if not known else _flat_schema(str(act_type))
    missing = [name for name in shape["required"] if name not in document]
    if missing:
        return InvalidAct(f"missing field {missing[0]}")
    unknown = sorted(str(name) for name in document if name not in shape["properties"])
    if unknown:
        return InvalidAct(f"unknown field(s) {', '.join(_safe_segment(n) for n in unknown)}")
    return InvalidAct("fails the intake schema")


def oversized_act() -> InvalidAct:
    """The refusal of an act larger than ``MAX_ACT_BYTES`` (a line reader's too)."""
    return InvalidAct(f"act is larger than {MAX_ACT_BYTES} bytes")


def parse_act(raw: bytes | str) -> IntakeAct:
    """One act from its JSON text; ``InvalidAct`` names what is wrong, never a value."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(data) > MAX_ACT_BYTES:
        raise oversized_act()
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidAct("not valid JSON") from None
    if not isinstance(document, dict):
        raise InvalidAct("an act must be a JSON object")
    if len(_KEY_END.findall(data)) != _count_keys(document):
        _refuse_duplicate_keys(data, document)
    return act_from_document(document)


def _count_keys(document: dict[str, Any]) -> int:
    """The keys of every object in ``document``; ``InvalidAct`` if it nests deeper than
    ``MAX_DEPTH`` (walked without recursion: orjson reads 1024 levels)."""
    keys = 0
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidAct(f"nested deeper than {MAX_DEPTH} levels",
                             act_id=readable_act_id(document))
        if isinstance(node, dict):
            keys += len(node)
            children: Any = node.values()
        else:
            children = node
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return keys


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return found


def _refuse_duplicate_keys(data: bytes, document: dict[str, Any]) -> None:
    """The slow path, for the rare text that may repeat a key (or holds ``\\":`` in a
    string): parsed again, every object's keys seen in order."""
    try:
        json.loads(data, object_pairs_hook=_unique_keys)
    except _DuplicateKey as duplicate:
        # The act id is named unless it is the key given twice (which one would it be?).
        act_id = None if duplicate.key == "act_id" else readable_act_id(document)
        raise InvalidAct(f"has a duplicate key {_safe_segment(duplicate.key)}",
                         act_id=act_id) from None
    except (ValueError, RecursionError):  # orjson read it: not expected, never accepted
        raise InvalidAct("not valid JSON") from None


def act_from_document(document: Mapping[str, Any]) -> IntakeAct:
    if not is_valid_act(document):
        # The fast check decides; ``explain_invalid`` says why. Refused either way.
        invalid = explain_invalid(document)
        invalid.act_id = readable_act_id(document)
        raise invalid
    check_values(document)
    try:
        occurred_at = datetime.fromisoformat(document["occurred_at"])
    except ValueError:
        raise InvalidAct("not a valid date-time", field="occurred_at",
                         act_id=readable_act_id(document)) from None
    if not in_range(occurred_at):
        # Refused here, before anything is recorded: one act in year 9999 used to stop
        # every read, since the dates derived from it overflow.
        raise InvalidAct(f"outside the accepted range, {ACCEPTED_RANGE}", field="occurred_at",
                         act_id=readable_act_id(document))
    common = {"act_id", "type", "subject_id", "actor", "occurred_at"}
    subject_id = UUID(document["subject_id"])
    return IntakeAct(
        type=document["type"],
        subject_id=subject_id,
        context=ActContext(document["act_id"], document["actor"], occurred_at,
                           content=canonical_content(document, subject_id, occurred_at)),
        body={k: v for k, v in document.items() if k not in common},
        document=document,
    )


# Fields that may differ between deliveries of one act: not part of what it says.
TRANSPORT_FIELDS = frozenset({SIGNATURE_FIELD})


def canonical_content(document: Mapping[str, Any], subject_id: UUID,
                      occurred_at: datetime) -> bytes:
    """What an act says, as bytes that are the same for every delivery of it: the
    document without transport fields (the office's signature), keys sorted, its
    subject id and moment in one form each (a re-serialised act is the same act).
    The ledger keeps a keyed digest of these with the act id (``act-id-conflict``)."""
    content = {k: v for k, v in document.items() if k not in TRANSPORT_FIELDS}
    content["subject_id"] = str(subject_id)
    content["occurred_at"] = occurred_at.astimezone(UTC).isoformat()
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def check_values(document: Mapping[str, Any]) -> None:
    """``InvalidValue`` when a value of the right type lacks its category's form: an
    identity (business email, phone) that could not be bound for look-ups. The reason
    names the category, never the value."""
    values = document.get("values")
    if not isinstance(values, Mapping):
        return
    for category, kind in IDENTITY_CATEGORIES.items():
        value = values.get(category)
        problem = identity_form_problem(kind, value) if isinstance(value, str) else None
        if problem is not None:
            raise InvalidValue(problem, field=f"values.{category}",
                               act_id=readable_act_id(document))


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


def _invalid(error: ValidationError, prefix: tuple[str, ...] = ()) -> InvalidAct:
    best = error
    while best.context:  # descend into if/then and allOf to the failing leaf
        best = sorted(best.context, key=_error_order)[0]
    path = ".".join(_safe_segment(p) for p in (*prefix, *best.absolute_path)) or None
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


@dataclass(frozen=True)
class CommandHandler:
    """Calls the application's method ``command`` with the act's subject and context,
    and the act's ``fields`` as keyword arguments: the schema names each field as the
    command names its argument (``tests/unit/test_act_handlers.py`` holds the three to
    each other). An ``optional`` field the act leaves out is passed as the default given
    here. The method is looked up on the application it is given, so a subclass's
    override is the one that runs."""

    command: str
    fields: tuple[str, ...]
    optional: Mapping[str, Any]

    def __call__(self, app: LedgerApplication, act: IntakeAct) -> None:
        arguments = {name: act.body[name] for name in self.fields}
        arguments |= {name: act.body.get(name, default)
                      for name, default in self.optional.items()}
        getattr(app, self.command)(act.subject_id, act.context, **arguments)


def _handler_for(command: str, *fields: str, **optional: Any) -> CommandHandler:
    if not callable(getattr(LedgerApplication, command, None)):
        raise TypeError(f"LedgerApplication has no command {command!r}")
    return CommandHandler(command, fields, optional)


HANDLERS: dict[str, CommandHandler] = {
    "data-collected": _handler_for(
        "collect_data", "purpose", "values", "source_system", "legal_basis", controller=None),
    "data-processed": _handler_for("record_processing", "purpose", "operation", "categories"),
    "data-shared": _handler_for(
        "record_sharing", "purpose", "recipient", "recipient_kind", "ground", "categories"),
    "consent-given": _handler_for(
        "give_consent", "purpose", "channel", "notice_version", "proof_ref"),
    "consent-withdrawn": _handler_for("withdraw_consent", "purpose", "channel", "proof_ref"),
    "objection-raised": _handler_for("object_to_processing", "ground", "channel", purpose=None),
    "restriction-applied": _handler_for("restrict_processing", "request_ref", "reason", scope=None),
    "restriction-lifted": _handler_for("lift_restriction", "request_ref"),
    "data-rectified": _handler_for("rectify_data", "purpose", "values", "request_ref"),
    "access-requested": _handler_for("request_access", "request_ref", "channel"),
    "request-forwarded": _handler_for(
        "forward_request", "request_ref", "request_kind", "channel", "forwarded_to"),
    "access-fulfilled": _handler_for("fulfil_access", "request_ref", "export_ref"),
    "request-deadline-extended": _handler_for(
        "extend_request_deadline", "request_ref", "extended_by_months", "reason_code"),
    "erasure-requested": _handler_for("request_erasure", "request_ref", "channel"),
    # The plan is in the events recorded (ErasureCompleted, ErasureRefusedInPart). The
    # request must have been recorded first: no act opens and carries out one at once.
    "erasure-carried-out": _handler_for("carry_out_erasure", "request_ref"),
    "retention-expired": _handler_for("expire_retention", "scope"),
    "contract-ended": _handler_for("end_contract", "purpose"),
    "purpose-fulfilled": _handler_for("fulfil_purpose", "purpose"),
    # No scopes: every scope of the policy is held (``DataSubject.place_legal_hold``).
    "legal-hold-placed": _handler_for("place_legal_hold", "hold_ref", "reason", scopes=()),
    "legal-hold-released": _handler_for("release_legal_hold", "hold_ref"),
    "controller-transferred": _handler_for(
        "transfer_controller", "new_controller", "transfer_kind", "purposes"),
}


def apply_act(app: LedgerApplication, act: IntakeAct) -> None:
    """Records ``act``; one that destroys data or lifts a protection only when the
    privacy office signed it (whichever backend or entry point it came through)."""
    app.office_keyring.verify(act.type, act.context.act_id, act.document)
    HANDLERS[act.type](app, act)
