"""A subject document rendered as the subject view: JSON-ready, values opened on read.

Values are opened here and nowhere earlier, through the mapper's ``open_value``: a
value whose key was destroyed reads as erased, so an erasure needs no deletion in any
projection. Without an opener (the audit trail's as-of view) values are withheld and
only whether each was held or erased is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.domain.policy import Policy
from ledger.domain.retention import (
    hold_refs,
    purpose_end,
    retention_due,
    retention_ended,
    scope_due,
)
from ledger.domain.values import Erased, PersonalValue
from ledger.persistence.encrypting_mapper import SealedValue
from projections.deadlines import in_zones, is_overdue, request_due_of
from projections.subject_read_model import SubjectDoc, iso

Opener = Callable[[SealedValue], PersonalValue]
JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Withheld:
    """A value known to be held, shown without its content (audit views)."""

    scope: str


def render_subject(doc: SubjectDoc, policy: Policy, *, now: datetime,
                   open_value: Opener | None) -> JsonObject:
    state, info = doc.state, doc.info
    return {
        "subject_id": str(doc.subject_id),
        "version": doc.version,
        "registered_at": doc.registered_at,
        "time_zone": policy.jurisdiction_zone,
        "personal_data": [
            _value(doc, policy, purpose, category, held, now=now, open_value=open_value)
            for purpose, by_category in sorted(state.holdings.items())
            for category, held in sorted(by_category.items())
        ],
        "purposes": [_purpose(doc, policy, key) for key in sorted(
            set(state.holdings) | set(state.consents) | set(state.objected_purposes))],
        "consents": [
            {"purpose": p, "live": c.live, "channel": c.channel,
             "notice_version": c.notice_version, "proof_ref": c.proof_ref,
             "changed_at": iso(c.changed_at)}
            for p, c in sorted(state.consents.items())
        ],
        "consent_history": list(info["consent_log"]),
        "objections": {"direct_marketing": state.objects_to_direct_marketing,
                       "purposes": sorted(state.objected_purposes),
                       "history": list(info["objections"])},
        "restrictions": [
            {"request_ref": ref, "scope": scope,
             "reason": info["restrictions"].get(ref, {}).get("reason"),
             "since": info["restrictions"].get(ref, {}).get("at"),
             "until": info["restrictions"].get(ref, {}).get("until")}
            for ref, scope in sorted(state.restrictions.items())
        ],
        "legal_holds": [
            {"hold_ref": ref, "scopes": list(scopes),
             "reason": info["holds"].get(ref, {}).get("reason"),
             "since": info["holds"].get(ref, {}).get("at")}
            for ref, scopes in sorted(state.legal_holds.items())
        ],
        "recipients": [
            {"recipient": d.recipient, "recipient_kind": d.recipient_kind,
             "purpose": d.purpose, "ground": d.ground, "categories": list(d.categories),
             "occurred_at": iso(d.occurred_at)}
            for d in state.disclosures
        ],
        "notify_recipients": _to_notify(doc, policy),
        "retention": _retention(doc, policy),
        "requests": [_request(r, now, policy) for r in info["requests"]],
        "erased_scopes": sorted(state.erased_scopes),
        "erasures": list(info["erasures"]),
        "kept_by_law": list(info["kept"]),
        "retention_expiries": list(info["expiries"]),
        "controller_transfers": list(info["transfers"]),
    }


def _value(doc: SubjectDoc, policy: Policy, purpose: str, category: str, held: object, *,
           now: datetime, open_value: Opener | None) -> JsonObject:
    state, info = doc.state, doc.info
    label = policy.categories.get(category)
    opened: PersonalValue | None = held if isinstance(held, Erased) else None
    if isinstance(held, SealedValue) and open_value is not None:
        opened = open_value(held)
    scope = held.scope if isinstance(held, SealedValue | Erased | Withheld) else None
    source = info["value_acts"].get(purpose, {}).get(category, {})
    erased = isinstance(opened, Erased)
    requested = any(policy.covers(named, scope) for named in state.restrictions.values()
                    ) if scope is not None else None in state.restrictions.values()
    # What the law or a hold keeps after its retention ended is stored only, by itself.
    ended = None if erased or scope is None else retention_ended(
        policy, state, purpose, [scope], now)
    return {
        "purpose": purpose, "category": category,
        "label_nl": label.label_nl if label else category,
        "label_en": label.label_en if label else category,
        "scope": scope,
        # Without an opener a held value is reported as held, its content withheld.
        "status": "erased" if erased else "held",
        "value": opened if isinstance(opened, str) else None,
        "restricted": requested or ended is not None,
        "restricted_because": ("restriction" if requested
                               else "retention-ended" if ended is not None else None),
        "recorded_by": source.get("event"), "act_id": source.get("act_id"),
        "since": source.get("at"),
        **_grounds(doc, policy, purpose, category, scope, now=now, erased=erased),
    }


def _grounds(doc: SubjectDoc, policy: Policy, purpose: str, category: str,
             scope: str | None, *, now: datetime, erased: bool) -> JsonObject:
    """Art. 6, 17(1)(b), 17(3): the ground this value is held on and whether it ended
    (consent withdrawn, retention over), and which live grounds keep the same category
    besides it: another purpose (under its own scope), the law, a legal hold."""
    state = doc.state
    end = purpose_end(policy, state, purpose)
    ground = {"purpose": purpose, "legal_basis": state.legal_bases.get(purpose),
              "live": end is None or end.at > now,
              "ends_at": iso(end.at) if end else None, "ended_by": end.by if end else None}
    kept_by: list[JsonObject] = []
    if not erased:
        for other, values in sorted(state.holdings.items()):
            other_end = purpose_end(policy, state, other)
            if other == purpose or category not in values or isinstance(
                    values[category], Erased) or (other_end is not None and other_end.at <= now):
                continue
            kept_by.append({"ground": "purpose", "purpose": other,
                            "legal_basis": state.legal_bases.get(other),
                            "scope": state.value_scopes.get(other, {}).get(category)})
        base = policy.base_scope(scope) if scope else None
        due = scope_due(policy, state, scope) if scope else None
        if base is not None and base.is_statutory and (due is None or due > now):
            kept_by.append({"ground": "law", "scope": scope, "legal_reason": base.legal_reason,
                            "until": iso(due) if due else None})
        for ref in hold_refs(policy, state, scope) if scope else ():
            kept_by.append({"ground": "legal-hold", "hold_ref": ref, "scope": scope})
    return {"ground": ground, "kept_by": kept_by}


def _purpose(doc: SubjectDoc, policy: Policy, key: str) -> JsonObject:
    state, info = doc.state, doc.info
    spec = policy.purposes.get(key)
    role, controller = state.roles.get(key, (spec.role if spec else None, None))
    consent = state.consents.get(key)
    facts = info["purposes"].get(key, {})
    # Art. 4(7): after a business transfer the acquirer is the controller, from its date.
    transfer = next((t for t in reversed(info["transfers"]) if key in t["purposes"]), None)
    return {
        "purpose": key, "title_nl": spec.title_nl if spec else key,
        "section": spec.section if spec else None, "role": role, "controller": controller,
        "controller_since": transfer["at"] if transfer and role == "controller" else None,
        "transferred": None if transfer is None else {
            "to": transfer["new_controller"], "transfer_kind": transfer["transfer_kind"],
            "at": transfer["at"], "act_id": transfer["act_id"]},
        "legal_basis": facts.get("legal_basis"), "source_system": facts.get("source_system"),
        "first_collected_at": facts.get("first_collected_at"),
        "last_collected_at": facts.get("last_collected_at"),
        "contract_ended_at": _opt_iso(state.contract_ended_at.get(key)),
        "fulfilled_at": _opt_iso(state.fulfilled_at.get(key)),
        "held": key in state.holdings,
        "consent": None if consent is None else ("live" if consent.live else "withdrawn"),
        "objected": key in state.objected_purposes,
    }


def _retention(doc: SubjectDoc, policy: Policy) -> list[JsonObject]:
    state = doc.state
    rows = []
    for scope, due in sorted(retention_due(policy, state).items()):
        base = policy.base_scope(scope)
        purposes = sorted(p for p, scopes in state.value_scopes.items()
                          if scope in scopes.values()) or sorted(
            state.scope_purposes.get(scope, ()))
        ends = {p: purpose_end(policy, state, p) for p in purposes}
        rows.append({
            "scope": scope, "due_at": _opt_iso(due), **in_zones(due, policy.zone),
            "statutory": base is not None and base.is_statutory,
            "base_scope": base.key if base else None,
            "fiscal_year": policy.scope_year(scope),
            "purposes": purposes,
            # What ends the data's retention: the law's period, or each purpose's ground.
            "because": "statutory" if base is not None and base.is_statutory else (
                sorted({e.by for e in ends.values() if e is not None}) or None),
            "on_hold": hold_refs(policy, state, scope)})
    return rows


def _request(request: dict[str, Any], now: datetime, policy: Policy) -> JsonObject:
    forwarded = request["status"] == "forwarded"
    due = (datetime.fromisoformat(request["due_at"]) if forwarded
           else request_due_of(request, policy.zone))
    return {
        "request_ref": request["request_ref"], "kind": request["kind"],
        "channel": request["channel"], "requested_at": request["at"],
        "act_id": request["act_id"], "due_at": iso(due), **in_zones(due, policy.zone),
        "extended_months": sum(e["months"] for e in request["extensions"]),
        "extensions": list(request["extensions"]), "status": request["status"],
        "closed_at": request["closed_at"],
        "forwarded_to": request.get("forwarded_to"),
        "overdue": request["status"] == "open" and is_overdue(due, now),
    }


def _to_notify(doc: SubjectDoc, policy: Policy) -> list[JsonObject]:
    """Art. 19: recipients to tell of rectifications, erasures and restrictions made
    after they received the data, limited to the categories they received."""
    state, info = doc.state, doc.info

    def scope_of(purpose: str, category: str) -> str | None:
        scopes = state.value_scopes.get(purpose, {})
        if category in scopes:
            return scopes[category]
        if category in state.category_scopes:
            return state.category_scopes[category]
        return policy.categories[category].scope if category in policy.categories else None

    received: dict[tuple[str, str], tuple[set[str], set[str], datetime]] = {}
    for d in state.disclosures:
        categories, scopes, first = received.get((d.recipient, d.recipient_kind),
                                                 (set(), set(), d.occurred_at))
        their = {s for s in (scope_of(d.purpose, c) for c in d.categories) if s is not None}
        received[(d.recipient, d.recipient_kind)] = (
            categories | set(d.categories), scopes | their, min(first, d.occurred_at))
    notices: list[JsonObject] = []
    for (recipient, kind), (categories, scopes, first) in sorted(received.items()):
        because: list[JsonObject] = []
        for r in info["rectifications"]:
            touched = sorted(categories & set(r["categories"]))
            if touched and datetime.fromisoformat(r["at"]) >= first:
                because.append({"act": "rectification", "at": r["at"], "act_id": r["act_id"],
                                "categories": touched})
        shredded = [("erasure", e, e["scopes"]) for e in info["erasures"]] + [
            ("retention-expiry", e, [e["scope"]]) for e in info["expiries"]]
        for name, e, their_scopes in shredded:
            hit = sorted(scopes & set(their_scopes))
            if hit and datetime.fromisoformat(e["at"]) >= first:
                because.append({"act": name, "at": e["at"], "act_id": e["act_id"],
                                "scopes": hit})
        for ref, r in sorted(info["restrictions"].items()):
            if (r["scope"] is None or any(policy.covers(r["scope"], s) for s in scopes)) and (
                    datetime.fromisoformat(r["at"]) >= first):
                because.append({"act": "restriction", "at": r["at"], "act_id": r["act_id"],
                                "request_ref": ref})
        if because:
            notices.append({"recipient": recipient, "recipient_kind": kind,
                            "categories": sorted(categories),
                            "first_received_at": iso(first),
                            "because": sorted(because, key=_when)})
    return notices


def _when(entry: JsonObject) -> datetime:
    return datetime.fromisoformat(entry["at"])


def _opt_iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)
