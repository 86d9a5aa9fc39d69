"""The registers a privacy office keeps, rendered from projection rows (JSON-ready).

- record of processing activities (art. 30(1)): the controller and its contacts, the
  data protection officer, the security measures and, per purpose of the policy, what
  the policy allows (data subjects, categories, recipients, third-country transfers,
  retention, the statutory fiscal period included) beside what the acts actually used;
  which policy revision the allowances come from and which revisions judged the acts;
- processor record (art. 30(2)): per customer organisation we process for, what we do;
- disclosure register (art. 19): per recipient, which subjects and categories it got;
- retention schedule: what falls due when, per subject and scope;
- DSAR queue: open requests with their legal deadline, overdue ones flagged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from ledger.domain.policy import Policy, Text
from projections.deadlines import in_zones, is_overdue
from projections.labels import retention_words
from projections.rows import NO_PURPOSE, DisclosureRow, RequestRow, RopaRow, ScheduleRow

JsonObject = dict[str, Any]
_DAY = 86_400


def record_of_processing(policy: Policy, rows: Sequence[RopaRow]) -> JsonObject:
    """Art. 30 as a whole: the controller's record (30(1)) and the processor's (30(2)),
    and which policy revision each part rests on."""
    used = _by_purpose(rows)
    overall = used.get(NO_PURPOSE, {})
    judged: dict[str, list[RopaRow]] = {}
    for acts in used.values():
        for row in acts.get("policy-version", []):
            judged.setdefault(row.key.item, []).append(row)
    return {
        "policy": {
            "version": policy.version, "revision": policy.revision,
            "revises": policy.revises, "states_the_notice": policy.states_the_notice,
            "published": _counts(overall.get("policy-published", [])),
            "judged_under": [
                {"item": version, "acts": sum(r.count.acts for r in group),
                 "first_at": min(r.count.first_at for r in group).isoformat(),
                 "last_at": max(r.count.last_at for r in group).isoformat()}
                for version, group in sorted(judged.items())],
        },
        "controller": controller_of(policy),
        "data_protection_officer": officer_of(policy),
        "security_measures": _texts(policy.security_measures),
        # Art. 4(7), 30(1)(a): business transfers made another the controller of data.
        "controller_transfers": _handed_over(overall.get("transferred-to", [])),
        # Art. 5(2), 28(3)(e): requests of end users passed on to their controller.
        "requests_forwarded": [
            {"controller": r.key.item, "request_kind": r.key.qualifier, **_usage(r)}
            for r in overall.get("request-forwarded", [])],
        "records_of_processing": records_of_processing(policy, rows),
        "processor_record": processor_record(policy, rows),
    }


def controller_of(policy: Policy) -> JsonObject:
    """Art. 30(1)(a): the controller's name and contact details, as the policy states."""
    details = policy.controller_details
    return {"name": details.name if details else policy.controller,
            "contact_nl": details.contact.nl if details else None,
            "contact_en": details.contact.en if details else None,
            "stated_in": policy.version if details else None}


def officer_of(policy: Policy) -> JsonObject | None:
    """Art. 30(1)(a): the data protection officer; ``named`` false when the policy names
    none; None when the policy revision does not say."""
    officer = policy.data_protection_officer
    if officer is None:
        return None
    return {"named": officer.name is not None, "name": officer.name,
            "contact_nl": officer.contact.nl if officer.contact else None,
            "contact_en": officer.contact.en if officer.contact else None,
            "note_nl": officer.note.nl, "note_en": officer.note.en}


def processor_record(policy: Policy, rows: Sequence[RopaRow]) -> JsonObject:
    """Art. 30(2): the processing we carry out on behalf of each customer organisation
    (the controller the acts of a processor purpose name)."""
    by_controller: dict[str, dict[str, list[RopaRow]]] = {}
    for row in rows:
        if row.key.kind == "controller":
            by_controller.setdefault(row.key.item, {}).setdefault("acts", []).append(row)
        elif row.key.kind in ("controller-category", "controller-operation"):
            by_controller.setdefault(row.key.qualifier, {}).setdefault(
                row.key.kind, []).append(row)
    processor_purposes = sorted(k for k, p in policy.purposes.items() if p.role == "processor")
    controllers = []
    for name, kinds in sorted(by_controller.items()):
        collected = kinds.get("acts", [])
        counted = [r.count for group in kinds.values() for r in group]
        controllers.append({
            "controller": name,
            "purposes": sorted({r.key.purpose for group in kinds.values() for r in group}),
            "categories_of_processing": _merged(kinds.get("controller-operation", [])),
            "categories_of_personal_data": [
                {**entry, "label_nl": _label(policy, entry["item"], "nl"),
                 "label_en": _label(policy, entry["item"], "en")}
                for entry in _merged(kinds.get("controller-category", []))],
            "collections": sum(r.count.acts for r in collected),
            "first_at": min(c.first_at for c in counted).isoformat(),
            "last_at": max(c.last_at for c in counted).isoformat(),
        })
    return {
        "processor": controller_of(policy),
        "data_protection_officer": officer_of(policy),
        "purposes": [
            {"purpose": key, "title_nl": policy.purposes[key].title_nl,
             "title_en": policy.purposes[key].title_en,
             "categories_allowed": sorted(policy.purposes[key].categories),
             "third_country_transfers": _transfers(policy, key)}
            for key in processor_purposes],
        "controllers": controllers,
        "security_measures": _texts(policy.security_measures),
    }


def records_of_processing(policy: Policy, rows: Sequence[RopaRow]) -> list[JsonObject]:
    used = _by_purpose(rows)
    used.pop(NO_PURPOSE, None)
    records = []
    for key in sorted(set(policy.purposes) | set(used)):
        spec = policy.purposes.get(key)
        acts = used.get(key, {})
        listed = dict(spec.categories) if spec else {}
        records.append({
            "purpose": key,
            "section": spec.section if spec else None,
            "title_nl": spec.title_nl if spec else None,
            "title_en": spec.title_en if spec else None,
            "description": spec.description if spec else None,
            "description_nl": spec.description_nl if spec else None,
            "role": spec.role if spec else None,
            "in_policy": spec is not None,
            "policy_version": policy.version,
            "judged_under": _counts(acts.get("policy-version", [])),
            "data_subjects": [
                {"kind": kind, "label_nl": policy.subject_kinds[kind].nl,
                 "label_en": policy.subject_kinds[kind].en}
                for kind in (spec.data_subjects if spec else ())],
            "controllers": _counts(acts.get("controller", [])),
            "legal_bases": {"allowed": sorted(spec.legal_bases) if spec else [],
                            "used": _counts(acts.get("legal-basis", []))},
            "categories": [
                {"category": c, "label_nl": _label(policy, c, "nl"),
                 "label_en": _label(policy, c, "en"), "listed": listed.get(c),
                 **_usage(next((r for r in acts.get("category", []) if r.key.item == c),
                               None))}
                for c in sorted(set(listed) | {r.key.item for r in acts.get("category", [])})
            ],
            "recipients": {
                "kinds_allowed": sorted(spec.recipient_kinds) if spec else [],
                "kinds": [
                    {"kind": kind, "label_nl": policy.recipient_kinds.get(kind, kind),
                     "label_en": policy.recipient_labels_en.get(kind)}
                    for kind in sorted(spec.recipient_kinds if spec else ())],
                "used": [{"recipient": r.key.item, "recipient_kind": r.key.qualifier,
                          **_usage(r)} for r in acts.get("recipient", [])],
                "grounds_used": _counts(acts.get("sharing-ground", [])),
            },
            "operations": _counts(acts.get("operation", [])),
            "sources": _counts(acts.get("source", [])),
            # Art. 4(7): to whom a business transfer gave the purpose's data, as controller.
            "controller_transfers": _handed_over(acts.get("transferred-to", [])),
            "third_country_transfers": _transfers(policy, key),
            "security_measures": _texts(policy.security_measures),
            "retention": {
                "rule": {"trigger": spec.retention.trigger,
                         "period": str(spec.retention.period),
                         **_words(retention_words(spec.retention.trigger,
                                                  spec.retention.period))}
                if spec else None,
                "statutory": _statutory(policy, listed),
                "scopes_used": _counts(acts.get("scope", [])),
                "triggers_recorded": _counts(acts.get("retention-trigger", [])),
                "expired": _counts(acts.get("retention-expired", [])),
                "erased": _counts(acts.get("erased", [])),
                "kept_by_law": [{"scope": r.key.item, "legal_reason": r.key.qualifier,
                                 **_usage(r)} for r in acts.get("kept-by-law", [])],
            },
        })
    return records


def disclosure_register(rows: Sequence[DisclosureRow]) -> list[JsonObject]:
    """Rows ordered by recipient, subject: one entry per recipient, one line per subject."""
    register: list[JsonObject] = []
    for row in rows:
        if not register or register[-1]["recipient"] != row.recipient:
            register.append({"recipient": row.recipient, "recipient_kinds": [],
                             "subjects": []})
        entry = register[-1]
        if row.recipient_kind not in entry["recipient_kinds"]:
            entry["recipient_kinds"].append(row.recipient_kind)
        subjects = entry["subjects"]
        if not subjects or subjects[-1]["subject_id"] != str(row.subject_id):
            subjects.append({"subject_id": str(row.subject_id), "categories": [],
                             "purposes": [], "acts": 0,
                             "first_shared_at": row.occurred_at.isoformat(),
                             "last_shared_at": row.occurred_at.isoformat()})
        line = subjects[-1]
        line["categories"] = sorted(set(line["categories"]) | set(row.categories))
        line["purposes"] = sorted(set(line["purposes"]) | {row.purpose})
        line["acts"] += 1
        line["first_shared_at"] = min(line["first_shared_at"], row.occurred_at.isoformat())
        line["last_shared_at"] = max(line["last_shared_at"], row.occurred_at.isoformat())
    for entry in register:
        entry["recipient_kinds"].sort()
    return register


def retention_schedule(policy: Policy, rows: Sequence[ScheduleRow],
                       now: datetime) -> list[JsonObject]:
    bases = {r.scope: policy.base_scope(r.scope) for r in rows}
    return [
        {"subject_id": str(r.subject_id), "scope": r.scope,
         "due_at": r.due_at.isoformat() if r.due_at else None,
         **in_zones(r.due_at, policy.zone),
         "statutory": (base := bases[r.scope]) is not None and base.is_statutory,
         "base_scope": base.key if base is not None else None,
         "on_hold": list(r.holds),
         "status": ("awaiting-trigger" if r.due_at is None
                    else "on-hold" if r.holds and r.due_at <= now
                    else "due" if r.due_at <= now else "scheduled")}
        for r in rows
    ]


def dsar_queue(rows: Sequence[RequestRow], now: datetime,
               zone: tzinfo = UTC) -> list[JsonObject]:
    """Requests with their deadline (art. 12(3)) in ``zone`` and in UTC; a request we
    passed on to its controller as processor shows as ``forwarded``, nothing due."""
    return [
        {"subject_id": str(r.subject_id), "request_ref": r.request_ref, "kind": r.kind,
         "channel": r.channel, "requested_at": r.requested_at.isoformat(),
         "due_at": r.due_at.isoformat(), **in_zones(r.due_at, zone),
         "extended_months": r.extended_months,
         "extension_reasons": list(r.reasons), "status": r.status,
         "closed_at": r.closed_at.isoformat() if r.closed_at else None,
         "forwarded_to": r.forwarded_to,
         "days_left": int((r.due_at - now).total_seconds() // _DAY),
         "overdue": r.status == "open" and is_overdue(r.due_at, now)}
        for r in rows
    ]


def _by_purpose(rows: Sequence[RopaRow]) -> dict[str, dict[str, list[RopaRow]]]:
    used: dict[str, dict[str, list[RopaRow]]] = {}
    for row in rows:
        used.setdefault(row.key.purpose, {}).setdefault(row.key.kind, []).append(row)
    return used


def _transfers(policy: Policy, purpose: str) -> JsonObject:
    """Art. 30(1)(e): transfers to third countries the policy lists; ``stated`` false
    when its revision says nothing of them (then none is not a statement)."""
    spec = policy.purposes.get(purpose)
    listed = spec.third_country_transfers if spec else ()
    return {"stated": policy.states_the_notice and spec is not None, "none": not listed,
            "transfers": [{"country": t.country, "recipient_kind": t.recipient_kind,
                           "safeguard": t.safeguard} for t in listed]}


def _statutory(policy: Policy, categories: Iterable[str]) -> list[JsonObject]:
    """Art. 30(1)(f): the periods the law sets for some of a purpose's categories."""
    by_scope: dict[str, list[str]] = {}
    for category in sorted(categories):
        known = policy.categories.get(category)
        if known is not None and policy.scopes[known.scope].is_statutory:
            by_scope.setdefault(known.scope, []).append(category)
    statutory = []
    for key, members in sorted(by_scope.items()):
        scope = policy.scopes[key]
        if scope.trigger is None or scope.period is None:
            continue
        statutory.append({
            "scope": key, "categories": members, "trigger": scope.trigger,
            "period": str(scope.period), **_words(retention_words(scope.trigger, scope.period)),
            "legal_reason": scope.legal_reason, "legal_reason_nl": scope.legal_reason_nl})
    return statutory


def _words(text: Text) -> JsonObject:
    return {"words_nl": text.nl, "words_en": text.en}


def _texts(texts: Sequence[Text]) -> list[JsonObject]:
    return [{"nl": t.nl, "en": t.en} for t in texts]


def _merged(rows: Sequence[RopaRow]) -> list[JsonObject]:
    """Counts of one kind summed over purposes, by item."""
    totals: dict[str, list[RopaRow]] = {}
    for row in rows:
        totals.setdefault(row.key.item, []).append(row)
    return [{"item": item, "acts": sum(r.count.acts for r in group),
             "first_at": min(r.count.first_at for r in group).isoformat(),
             "last_at": max(r.count.last_at for r in group).isoformat()}
            for item, group in sorted(totals.items())]


def _label(policy: Policy, category: str, language: str) -> str:
    known = policy.categories.get(category)
    if known is None:
        return category
    return known.label_nl if language == "nl" else known.label_en


def _handed_over(rows: Sequence[RopaRow]) -> list[JsonObject]:
    return [{"new_controller": r.key.item, "transfer_kind": r.key.qualifier, **_usage(r)}
            for r in rows]


def _usage(row: RopaRow | None) -> JsonObject:
    if row is None:
        return {"acts": 0, "first_at": None, "last_at": None}
    return {"acts": row.count.acts, "first_at": row.count.first_at.isoformat(),
            "last_at": row.count.last_at.isoformat()}


def _counts(rows: Sequence[RopaRow]) -> list[JsonObject]:
    return [{"item": r.key.item, **_usage(r)} for r in rows]
