"""The subject read model: the domain's own state, sealed, plus what views need.

The domain's ``SubjectState`` is evolved by the domain's own ``evolve``, the function
the aggregate uses, so the projection cannot drift from the view the rules have of a
subject (holdings, erasure, restrictions, retention). Its personal values are
``SealedValue`` envelopes instead of plaintext (``SubjectState[SealedValue]``); the
codec refuses anything else, so plaintext cannot reach a projection store by mistake.
``info`` adds what the views show and the domain does not keep: proofs, reasons,
dates, where each value came from, and the requests with their deadlines.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import orjson

from ledger.domain import events as ev
from ledger.domain import evolution
from ledger.domain.state import ConsentState, Disclosure, SubjectState
from ledger.domain.values import Erased
from ledger.persistence.encrypting_mapper import SealedValue
from projections.deadlines import request_due
from projections.errors import ProjectionError

# Bump when the stored shape changes: a store with another schema is rebuilt.
# 2: scopes per purpose and value, legal bases, transfers, forwarded requests.
DOC_SCHEMA = 2
# Domain state the views do not need: re-delivery detection is the writer's concern, and
# the ids of every act would grow each document with its history for nothing.
NOT_PROJECTED = frozenset({"act_ids"})


def _empty_info() -> dict[str, Any]:
    return {
        "purposes": {}, "value_acts": {}, "consent_log": [], "objections": [],
        "restrictions": {}, "holds": {}, "requests": [], "rectifications": [],
        "erasures": [], "kept": [], "expiries": [], "transfers": [],
    }


@dataclass
class SubjectDoc:
    subject_id: UUID
    version: int
    registered_at: str
    state: SubjectState[SealedValue] = field(default_factory=SubjectState)
    info: dict[str, Any] = field(default_factory=_empty_info)


def iso(moment: datetime) -> str:
    return moment.isoformat()


# -- evolving ---------------------------------------------------------------------------

def evolve(doc: SubjectDoc, event: ev.SubjectEvent) -> None:
    """Applies one sealed event as the domain does, then the extras. (An audit replay
    applies hollow events: its values are ``Withheld`` markers, rendered unopened.)"""
    evolution.evolve(event, doc.state)
    for cls in type(event).__mro__:
        handler = _INFO.get(cls)
        if handler is not None:
            handler(doc.info, event)
            break
    doc.version = event.originator_version


def sealed_values(event: ev.DataCollected | ev.DataRectified) -> dict[str, SealedValue]:
    """The event's values as projections decode them: sealed (the event class types
    them as plaintext, the form the aggregate sees). Anything else is refused."""
    values: Mapping[str, object] = event.values
    sealed = {c: v for c, v in values.items() if isinstance(v, SealedValue)}
    if len(sealed) != len(values):
        raise ProjectionError("a personal value arrived unsealed; projections keep sealed "
                              "values only (decode with the mapper's to_sealed_event)")
    return sealed


E = TypeVar("E", bound=ev.SubjectEvent)
_INFO: dict[type, Callable[[dict[str, Any], Any], None]] = {}


def _on(cls: type[E]) -> Callable[[Callable[[dict[str, Any], E], None]],
                                   Callable[[dict[str, Any], E], None]]:
    def register(handler: Callable[[dict[str, Any], E], None]) -> Callable[
            [dict[str, Any], E], None]:
        _INFO[cls] = handler
        return handler
    return register


def _act(event: ev.SubjectEvent) -> dict[str, Any]:
    return {"act_id": event.act_id, "at": iso(event.occurred_at)}


def _note_values(info: dict[str, Any], event: ev.DataCollected | ev.DataRectified) -> None:
    acts = info["value_acts"].setdefault(event.purpose, {})
    for category in event.values:
        acts[category] = {**_act(event), "event": type(event).__name__}


@_on(ev.DataCollected)
def _collected(info: dict[str, Any], event: ev.DataCollected) -> None:
    purpose = info["purposes"].setdefault(
        event.purpose, {"first_collected_at": iso(event.occurred_at)})
    purpose.update(legal_basis=event.legal_basis, source_system=event.source_system,
                   last_collected_at=iso(event.occurred_at))
    _note_values(info, event)


@_on(ev.DataRectified)
def _rectified(info: dict[str, Any], event: ev.DataRectified) -> None:
    _note_values(info, event)
    info["rectifications"].append({
        **_act(event), "purpose": event.purpose, "categories": sorted(event.values),
        "request_ref": event.request_ref,
    })


@_on(ev.ConsentGiven)
def _consent_given(info: dict[str, Any], event: ev.ConsentGiven) -> None:
    info["consent_log"].append({
        **_act(event), "purpose": event.purpose, "action": "given", "channel": event.channel,
        "notice_version": event.notice_version, "proof_ref": event.proof_ref,
    })


@_on(ev.ConsentWithdrawn)
def _consent_withdrawn(info: dict[str, Any], event: ev.ConsentWithdrawn) -> None:
    info["consent_log"].append({
        **_act(event), "purpose": event.purpose, "action": "withdrawn",
        "channel": event.channel, "notice_version": None, "proof_ref": event.proof_ref,
    })


@_on(ev.ObjectionRaised)
def _objected(info: dict[str, Any], event: ev.ObjectionRaised) -> None:
    info["objections"].append({**_act(event), "ground": event.ground,
                               "purpose": event.purpose, "channel": event.channel})


@_on(ev.RestrictionApplied)
def _restricted(info: dict[str, Any], event: ev.RestrictionApplied) -> None:
    info["restrictions"][event.request_ref] = {
        **_act(event), "reason": event.reason, "scope": event.scope, "until": None}


@_on(ev.RestrictionLifted)
def _lifted(info: dict[str, Any], event: ev.RestrictionLifted) -> None:
    info["restrictions"].pop(event.request_ref, None)


@_on(ev.LegalHoldPlaced)
def _hold_placed(info: dict[str, Any], event: ev.LegalHoldPlaced) -> None:
    info["holds"][event.hold_ref] = {**_act(event), "reason": event.reason,
                                     "scopes": list(event.scopes)}


@_on(ev.LegalHoldReleased)
def _hold_released(info: dict[str, Any], event: ev.LegalHoldReleased) -> None:
    info["holds"].pop(event.hold_ref, None)


def _open_request(info: dict[str, Any], event: ev.AccessRequested | ev.ErasureRequested,
                  kind: str) -> None:
    info["requests"].append({
        **_act(event), "request_ref": event.request_ref, "kind": kind,
        "channel": event.channel, "extensions": [], "status": "open", "closed_at": None,
        "due_at": iso(request_due(event.occurred_at, 0)),
    })


def _find_open(info: dict[str, Any], request_ref: str) -> dict[str, Any] | None:
    for request in reversed(info["requests"]):
        if request["request_ref"] == request_ref and request["status"] == "open":
            found: dict[str, Any] = request
            return found
    return None


def _close_request(info: dict[str, Any], event: ev.SubjectEvent, request_ref: str,
                   status: str) -> None:
    request = _find_open(info, request_ref)
    if request is not None:
        request.update(status=status, closed_at=iso(event.occurred_at),
                       closed_by=event.act_id)


@_on(ev.AccessRequested)
def _access_requested(info: dict[str, Any], event: ev.AccessRequested) -> None:
    _open_request(info, event, "access")


@_on(ev.ErasureRequested)
def _erasure_requested(info: dict[str, Any], event: ev.ErasureRequested) -> None:
    _open_request(info, event, "erasure")


@_on(ev.RequestDeadlineExtended)
def _extended(info: dict[str, Any], event: ev.RequestDeadlineExtended) -> None:
    request = _find_open(info, event.request_ref)
    if request is None:
        return
    request["extensions"].append({**_act(event), "months": event.extended_by_months,
                                  "reason_code": event.reason_code})
    months = sum(e["months"] for e in request["extensions"])
    request["due_at"] = iso(request_due(datetime.fromisoformat(request["at"]), months))


@_on(ev.AccessFulfilled)
def _access_fulfilled(info: dict[str, Any], event: ev.AccessFulfilled) -> None:
    _close_request(info, event, event.request_ref, "fulfilled")


@_on(ev.ErasureCompleted)
def _erasure_completed(info: dict[str, Any], event: ev.ErasureCompleted) -> None:
    _close_request(info, event, event.request_ref, "completed")
    info["erasures"].append({**_act(event), "request_ref": event.request_ref,
                             "scopes": list(event.scopes)})


@_on(ev.ErasureRefusedInPart)
def _kept(info: dict[str, Any], event: ev.ErasureRefusedInPart) -> None:
    until = iso(event.kept_until) if event.kept_until else None
    info["kept"].append({**_act(event), "request_ref": event.request_ref,
                         "scope": event.kept_scope, "legal_reason": event.legal_reason,
                         "until": until})
    # The domain restricts what the law keeps under this key; mirror its reason here.
    info["restrictions"][f"{event.request_ref}:{event.kept_scope}"] = {
        **_act(event), "reason": "kept-by-law", "scope": event.kept_scope, "until": until}


@_on(ev.RetentionExpired)
def _expired(info: dict[str, Any], event: ev.RetentionExpired) -> None:
    info["expiries"].append({**_act(event), "scope": event.scope,
                             "due_at": iso(event.due_at)})
    for ref, restriction in list(info["restrictions"].items()):
        if restriction["scope"] == event.scope:
            del info["restrictions"][ref]


@_on(ev.ControllerTransferred)
def _transferred(info: dict[str, Any], event: ev.ControllerTransferred) -> None:
    info["transfers"].append({**_act(event), "new_controller": event.new_controller,
                              "transfer_kind": event.transfer_kind,
                              "purposes": list(event.purposes)})


@_on(ev.RequestForwarded)
def _forwarded(info: dict[str, Any], event: ev.RequestForwarded) -> None:
    # Received and passed on at once: nothing is due from us (the controller answers).
    info["requests"].append({
        **_act(event), "request_ref": event.request_ref, "kind": event.request_kind,
        "channel": event.channel, "extensions": [], "status": "forwarded",
        "closed_at": iso(event.occurred_at), "due_at": iso(event.occurred_at),
        "forwarded_to": event.forwarded_to,
    })


# -- the codec --------------------------------------------------------------------------

def encode_doc(doc: SubjectDoc) -> bytes:
    """Canonical bytes (sorted keys and sets), so a rebuild writes what the live run did."""
    return orjson.dumps({
        "schema": DOC_SCHEMA, "version": doc.version, "registered_at": doc.registered_at,
        "state": encode_state(doc.state), "info": doc.info,
    }, option=orjson.OPT_SORT_KEYS)


def decode_doc(subject_id: UUID, data: bytes) -> SubjectDoc:
    raw = orjson.loads(data)
    if raw.get("schema") != DOC_SCHEMA:
        raise ProjectionError(f"subject {subject_id}: projected with another schema; rebuild")
    return SubjectDoc(subject_id, raw["version"], raw["registered_at"],
                      decode_state(subject_id, raw["state"]), raw["info"])


def encode_state(state: SubjectState[SealedValue]) -> dict[str, Any]:
    return {
        "holdings": {p: {c: _encode_value(v) for c, v in held.items()}
                     for p, held in state.holdings.items()},
        "roles": {p: list(role) for p, role in state.roles.items()},
        "collected_at": _times(state.collected_at),
        "scope_collected_at": _times(state.scope_collected_at),
        "consents": {p: {"live": c.live, "channel": c.channel,
                         "notice_version": c.notice_version, "proof_ref": c.proof_ref,
                         "changed_at": iso(c.changed_at)}
                     for p, c in state.consents.items()},
        "objected_purposes": sorted(state.objected_purposes),
        "objects_to_direct_marketing": state.objects_to_direct_marketing,
        "restrictions": dict(state.restrictions),
        "legal_holds": {ref: list(scopes) for ref, scopes in state.legal_holds.items()},
        "open_requests": dict(state.open_requests),
        "erased_scopes": sorted(state.erased_scopes),
        "erased_since_collection": state.erased_since_collection,
        "contract_ended_at": _times(state.contract_ended_at),
        "fulfilled_at": _times(state.fulfilled_at),
        "disclosures": [{"recipient": d.recipient, "recipient_kind": d.recipient_kind,
                         "purpose": d.purpose, "ground": d.ground,
                         "categories": list(d.categories), "occurred_at": iso(d.occurred_at)}
                        for d in state.disclosures],
        "controller_transfers": list(state.controller_transfers),
        "category_scopes": dict(state.category_scopes),
        "request_extensions": dict(state.request_extensions),
        "request_received": _times(state.request_received),
        "value_scopes": {p: dict(scopes) for p, scopes in state.value_scopes.items()},
        "scope_purposes": {s: sorted(p) for s, p in state.scope_purposes.items()},
        "legal_bases": dict(state.legal_bases),
        "transferred_to": dict(state.transferred_to),
        "forwarded_requests": dict(state.forwarded_requests),
    }


def decode_state(subject_id: UUID, raw: dict[str, Any]) -> SubjectState[SealedValue]:
    return SubjectState(
        # Sealed envelopes stand where the domain holds plaintext: the point of it.
        holdings={p: {c: _decode_value(subject_id, c, v) for c, v in held.items()}
                  for p, held in raw["holdings"].items()},
        roles={p: (role[0], role[1]) for p, role in raw["roles"].items()},
        collected_at=_parse_times(raw["collected_at"]),
        scope_collected_at=_parse_times(raw["scope_collected_at"]),
        consents={p: ConsentState(c["live"], c["channel"], c["notice_version"],
                                  c["proof_ref"], datetime.fromisoformat(c["changed_at"]))
                  for p, c in raw["consents"].items()},
        objected_purposes=set(raw["objected_purposes"]),
        objects_to_direct_marketing=raw["objects_to_direct_marketing"],
        restrictions=dict(raw["restrictions"]),
        legal_holds={ref: list(scopes) for ref, scopes in raw["legal_holds"].items()},
        open_requests=dict(raw["open_requests"]),
        erased_scopes=set(raw["erased_scopes"]),
        erased_since_collection=raw["erased_since_collection"],
        contract_ended_at=_parse_times(raw["contract_ended_at"]),
        fulfilled_at=_parse_times(raw["fulfilled_at"]),
        disclosures=[Disclosure(d["recipient"], d["recipient_kind"], d["purpose"], d["ground"],
                                list(d["categories"]),
                                datetime.fromisoformat(d["occurred_at"]))
                     for d in raw["disclosures"]],
        controller_transfers=list(raw["controller_transfers"]),
        category_scopes=dict(raw["category_scopes"]),
        request_extensions=dict(raw["request_extensions"]),
        # Documents projected before receipt times were kept have none.
        request_received=_parse_times(raw.get("request_received", {})),
        value_scopes={p: dict(scopes) for p, scopes in raw["value_scopes"].items()},
        scope_purposes={s: set(p) for s, p in raw["scope_purposes"].items()},
        legal_bases=dict(raw["legal_bases"]),
        transferred_to=dict(raw["transferred_to"]),
        forwarded_requests=dict(raw["forwarded_requests"]),
    )


def _encode_value(value: object) -> dict[str, Any]:
    if isinstance(value, SealedValue):
        return {"k": value.key_id.hex, "b": base64.b64encode(value.blob).decode("ascii"),
                "v": value.version, "f": value.field, "s": value.scope}
    if isinstance(value, Erased):
        return {"e": value.scope}
    # The one place a plaintext value could slip into a store: refuse it, name no value.
    raise ProjectionError(
        f"a personal value of type {type(value).__name__} reached the projection store; "
        "projections keep sealed values only"
    )


def _decode_value(subject_id: UUID, category: str,
                  raw: dict[str, Any]) -> SealedValue | Erased:
    if "e" in raw:
        return Erased(raw["e"])
    return SealedValue(subject_id=subject_id, version=raw["v"], field=raw["f"],
                       category=category, scope=raw["s"], key_id=UUID(hex=raw["k"]),
                       blob=base64.b64decode(raw["b"]))


def _times(values: dict[str, datetime]) -> dict[str, str]:
    return {k: iso(v) for k, v in values.items()}


def _parse_times(values: dict[str, str]) -> dict[str, datetime]:
    return {k: datetime.fromisoformat(v) for k, v in values.items()}
