"""The registers a privacy office keeps, rendered from projection rows (JSON-ready).

- record of processing activities (art. 30): per purpose of the policy, what the acts
  actually used: categories, recipients, legal bases, sources, retention;
- disclosure register (art. 19): per recipient, which subjects and categories it got;
- retention schedule: what falls due when, per subject and scope;
- DSAR queue: open requests with their legal deadline, overdue ones flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ledger.domain.policy import Policy
from projections.deadlines import is_overdue
from projections.rows import DisclosureRow, RequestRow, RopaRow, ScheduleRow

JsonObject = dict[str, Any]
_DAY = 86_400


def records_of_processing(policy: Policy, rows: Sequence[RopaRow]) -> list[JsonObject]:
    used: dict[str, dict[str, list[RopaRow]]] = {}
    for row in rows:
        used.setdefault(row.key.purpose, {}).setdefault(row.key.kind, []).append(row)
    records = []
    for key in sorted(set(policy.purposes) | set(used)):
        spec = policy.purposes.get(key)
        acts = used.get(key, {})
        listed = dict(spec.categories) if spec else {}
        records.append({
            "purpose": key,
            "section": spec.section if spec else None,
            "title_nl": spec.title_nl if spec else None,
            "description": spec.description if spec else None,
            "role": spec.role if spec else None,
            "in_policy": spec is not None,
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
                "used": [{"recipient": r.key.item, "recipient_kind": r.key.qualifier,
                          **_usage(r)} for r in acts.get("recipient", [])],
                "grounds_used": _counts(acts.get("sharing-ground", [])),
            },
            "operations": _counts(acts.get("operation", [])),
            "sources": _counts(acts.get("source", [])),
            "retention": {
                "rule": {"trigger": spec.retention.trigger,
                         "period": str(spec.retention.period)} if spec else None,
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
    return [
        {"subject_id": str(r.subject_id), "scope": r.scope,
         "due_at": r.due_at.isoformat() if r.due_at else None,
         "statutory": r.scope in policy.scopes and policy.scopes[r.scope].is_statutory,
         "on_hold": list(r.holds),
         "status": ("awaiting-trigger" if r.due_at is None
                    else "on-hold" if r.holds and r.due_at <= now
                    else "due" if r.due_at <= now else "scheduled")}
        for r in rows
    ]


def dsar_queue(rows: Sequence[RequestRow], now: datetime) -> list[JsonObject]:
    return [
        {"subject_id": str(r.subject_id), "request_ref": r.request_ref, "kind": r.kind,
         "channel": r.channel, "requested_at": r.requested_at.isoformat(),
         "due_at": r.due_at.isoformat(), "extended_months": r.extended_months,
         "extension_reasons": list(r.reasons), "status": r.status,
         "closed_at": r.closed_at.isoformat() if r.closed_at else None,
         "days_left": int((r.due_at - now).total_seconds() // _DAY),
         "overdue": r.status == "open" and is_overdue(r.due_at, now)}
        for r in rows
    ]


def _label(policy: Policy, category: str, language: str) -> str:
    known = policy.categories.get(category)
    if known is None:
        return category
    return known.label_nl if language == "nl" else known.label_en


def _usage(row: RopaRow | None) -> JsonObject:
    if row is None:
        return {"acts": 0, "first_at": None, "last_at": None}
    return {"acts": row.count.acts, "first_at": row.count.first_at.isoformat(),
            "last_at": row.count.last_at.isoformat()}


def _counts(rows: Sequence[RopaRow]) -> list[JsonObject]:
    return [{"item": r.key.item, **_usage(r)} for r in rows]
