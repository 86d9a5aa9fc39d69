"""The privacy office's acts: carrying out an erasure, enforcing retention.

Both are acts like any other, checked by the same intake schema and recorded by the
backend: in process on the embedded store, by the shard's writer on Kafka. What was
shredded and what was kept (and why) is read from the events the act recorded, so
both backends report alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from consumers.projection_runner import Progress
from consumers.services.ports import Backend
from ledger.crypto.office_signing import OfficeKey
from ledger.intake.acts import act_from_document
from ledger.outcomes import Status

OFFICE = "privacy-office"
RETENTION_ENFORCER = "retention-enforcer"
# An erasure request recorded before `ledger erase`: carried out as it stands.
ALREADY_REQUESTED_RULE = "duplicate-request"
# What a scope the schedule shows on hold is reported as: the rule the ledger would give.
LEGAL_HOLD_RULE = "legal-hold"


@dataclass
class ErasureReport:
    subject_id: str
    request_ref: str
    act_id: str
    status: Status
    shredded_scopes: list[str] = field(default_factory=list)
    kept: dict[str, dict[str, str | None]] = field(default_factory=dict)
    rule: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"subject_id": self.subject_id, "request_ref": self.request_ref,
                "act_id": self.act_id, "status": self.status,
                "shredded_scopes": self.shredded_scopes, "kept": self.kept,
                "rule": self.rule, "reason": self.reason}


def erase(backend: Backend, office: OfficeKey, subject_id: UUID, *, request_ref: str,
          channel: str, at: datetime, wait_s: float) -> ErasureReport:
    """Records the erasure request (unless it already was) and carries it out, signed
    by the office: destroys every scope the law does not keep, records what was kept
    and why. Both acts go the same way, so on Kafka the writer sees them in order."""
    act_id = f"erase-{uuid4().hex}"
    common = {"subject_id": str(subject_id), "actor": OFFICE, "occurred_at": at.isoformat(),
              "request_ref": request_ref, "channel": channel}
    request = act_from_document({"act_id": f"{act_id}.request", "type": "erasure-requested",
                                 **common})
    act = act_from_document(office.sign({"act_id": act_id, "type": "erasure-carried-out",
                                         **common}))
    opened, outcome = backend.submit([request, act], wait_s=wait_s, with_events=True)
    if opened.status != "recorded" and opened.rule != ALREADY_REQUESTED_RULE:
        outcome = opened  # the request itself was refused (say, to a processor's subject)
    report = ErasureReport(str(subject_id), request_ref, act_id, outcome.status,
                           rule=outcome.rule, reason=outcome.reason)
    for event in outcome.events:
        if event["type"] == "ErasureCompleted":
            report.shredded_scopes = sorted(event["scopes"])
        elif event["type"] == "ErasureRefusedInPart":
            report.kept[event["kept_scope"]] = {"legal_reason": event["legal_reason"],
                                                "until": event.get("kept_until")}
    report.kept = dict(sorted(report.kept.items()))
    return report


@dataclass
class EnforcementReport:
    expired: list[dict[str, str]] = field(default_factory=list)
    held: list[dict[str, str]] = field(default_factory=list)
    pending: list[dict[str, str]] = field(default_factory=list)  # not answered yet
    planned: list[dict[str, str]] = field(default_factory=list)  # a dry run's due scopes
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"expired": self.expired, "held": self.held,
                                    "pending": self.pending}
        if self.dry_run:
            document.update(dry_run=True, planned=self.planned)
        return document


def enforce_retention(backend: Backend, office: OfficeKey | None, now: datetime, *,
                      wait_s: float, progress: Progress | None = None,
                      dry_run: bool = False) -> EnforcementReport:
    """Sends a retention-expired act for every scope the retention schedule shows as due
    by ``now``; scopes under a legal hold are reported and kept.

    The ledger checks each act against the subject's own state (due, no hold) and the
    wall clock before it destroys a key, so neither a projection lagging behind nor a
    ``now`` in the future can make it shred early. A ``dry_run`` plans (what would be
    due by ``now``) and destroys nothing; it needs no office key.
    """
    report = EnforcementReport(dry_run=dry_run)
    due = []
    with backend.reading(progress) as reader:
        schedule = reader.retention_schedule(until=now, include_untriggered=False, now=now)
    for entry in schedule:
        where = {"subject_id": entry["subject_id"], "scope": entry["scope"]}
        if entry["status"] == "on-hold":
            report.held.append({**where, "rule": LEGAL_HOLD_RULE})
        elif entry["status"] == "due":
            due.append({**where, "due_at": entry["due_at"]})
    if dry_run or office is None:
        report.dry_run, report.planned = True, due
        return report
    acts = [act_from_document(office.sign({
        "act_id": f"retention-{uuid4().hex}", "type": "retention-expired",
        "subject_id": item["subject_id"], "actor": RETENTION_ENFORCER,
        "occurred_at": now.isoformat(), "scope": item["scope"]})) for item in due]
    outcomes = backend.submit(acts, wait_s=wait_s)
    for item, outcome in zip(due, outcomes, strict=True):
        if outcome.status == "recorded":
            report.expired.append(item)
        elif outcome.status == "pending":
            report.pending.append(item)
        else:
            report.held.append({"subject_id": item["subject_id"], "scope": item["scope"],
                                "rule": str(outcome.rule)})
    return report
