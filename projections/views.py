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
from ledger.domain.retention import retention_due
from ledger.domain.values import Erased, PersonalValue
from ledger.persistence.encrypting_mapper import SealedValue
from projections.deadlines import is_overdue
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
    restricted = _restricted_scopes(doc)
    return {
        "subject_id": str(doc.subject_id),
        "version": doc.version,
        "registered_at": doc.registered_at,
        "personal_data": [
            _value(policy, purpose, category, held, info=info, restricted=restricted,
                   open_value=open_value)
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
        "requests": [_request(r, now) for r in info["requests"]],
        "erased_scopes": sorted(state.erased_scopes),
        "erasures": list(info["erasures"]),
        "kept_by_law": list(info["kept"]),
        "retention_expiries": list(info["expiries"]),
        "controller_transfers": list(info["transfers"]),
    }


def _value(policy: Policy, purpose: str, category: str, held: object, *,
           info: dict[str, Any], restricted: set[str | None],
           open_value: Opener | None) -> JsonObject:
    label = policy.categories.get(category)
    opened: PersonalValue | None = held if isinstance(held, Erased) else None
    if isinstance(held, SealedValue) and open_value is not None:
        opened = open_value(held)
    scope = held.scope if isinstance(held, SealedValue | Erased | Withheld) else None
    source = info["value_acts"].get(purpose, {}).get(category, {})
    return {
        "purpose": purpose, "category": category,
        "label_nl": label.label_nl if label else category,
        "label_en": label.label_en if label else category,
        "scope": scope,
        # Without an opener a held value is reported as held, its content withheld.
        "status": "erased" if isinstance(opened, Erased) else "held",
        "value": opened if isinstance(opened, str) else None,
        "restricted": None in restricted or scope in restricted,
        "recorded_by": source.get("event"), "act_id": source.get("act_id"),
        "since": source.get("at"),
    }


def _purpose(doc: SubjectDoc, policy: Policy, key: str) -> JsonObject:
    state, info = doc.state, doc.info
    spec = policy.purposes.get(key)
    role, controller = state.roles.get(key, (spec.role if spec else None, None))
    consent = state.consents.get(key)
    facts = info["purposes"].get(key, {})
    return {
        "purpose": key, "title_nl": spec.title_nl if spec else key,
        "section": spec.section if spec else None, "role": role, "controller": controller,
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
    holds: dict[str, list[str]] = {}
    for ref, scopes in sorted(doc.state.legal_holds.items()):
        for scope in scopes:
            holds.setdefault(scope, []).append(ref)
    return [
        {"scope": scope, "due_at": _opt_iso(due),
         "statutory": scope in policy.scopes and policy.scopes[scope].is_statutory,
         "on_hold": holds.get(scope, [])}
        for scope, due in sorted(retention_due(policy, doc.state).items())
    ]


def _request(request: dict[str, Any], now: datetime) -> JsonObject:
    due = datetime.fromisoformat(request["due_at"])
    return {
        "request_ref": request["request_ref"], "kind": request["kind"],
        "channel": request["channel"], "requested_at": request["at"],
        "act_id": request["act_id"], "due_at": request["due_at"],
        "extended_months": sum(e["months"] for e in request["extensions"]),
        "extensions": list(request["extensions"]), "status": request["status"],
        "closed_at": request["closed_at"],
        "overdue": request["status"] == "open" and is_overdue(due, now),
    }


def _restricted_scopes(doc: SubjectDoc) -> set[str | None]:
    return set(doc.state.restrictions.values())


def _to_notify(doc: SubjectDoc, policy: Policy) -> list[JsonObject]:
    """Art. 19: recipients to tell of rectifications, erasures and restrictions made
    after they received the data, limited to the categories they received."""
    state, info = doc.state, doc.info

    def scope_of(category: str) -> str | None:
        if category in state.category_scopes:
            return state.category_scopes[category]
        return policy.categories[category].scope if category in policy.categories else None

    received: dict[tuple[str, str], tuple[set[str], datetime]] = {}
    for d in state.disclosures:
        categories, first = received.get((d.recipient, d.recipient_kind),
                                         (set(), d.occurred_at))
        received[(d.recipient, d.recipient_kind)] = (
            categories | set(d.categories), min(first, d.occurred_at))
    notices: list[JsonObject] = []
    for (recipient, kind), (categories, first) in sorted(received.items()):
        scopes = {s for s in map(scope_of, categories) if s is not None}
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
            if (r["scope"] is None or r["scope"] in scopes) and (
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
