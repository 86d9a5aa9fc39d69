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
from ledger.intake.acts import act_from_document
from ledger.outcomes import Status

OFFICE = "privacy-office"
RETENTION_ENFORCER = "retention-enforcer"
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


def erase(backend: Backend, subject_id: UUID, *, request_ref: str, channel: str,
          at: datetime, wait_s: float) -> ErasureReport:
    """Carries out the erasure request (opening it first if it was not recorded yet):
    destroys every scope the law does not keep, records what was kept and why."""
    act = act_from_document({
        "act_id": f"erase-{uuid4().hex}", "type": "erasure-carried-out",
        "subject_id": str(subject_id), "actor": OFFICE, "occurred_at": at.isoformat(),
        "request_ref": request_ref, "channel": channel,
    })
    [outcome] = backend.submit([act], wait_s=wait_s, with_events=True)
    report = ErasureReport(str(subject_id), request_ref, act.context.act_id, outcome.status,
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

    def as_dict(self) -> dict[str, Any]:
        return {"expired": self.expired, "held": self.held, "pending": self.pending}


def enforce_retention(backend: Backend, now: datetime, *, wait_s: float,
                      progress: Progress | None = None) -> EnforcementReport:
    """Sends a retention-expired act for every scope the retention schedule shows as due
    by ``now``; scopes under a legal hold are reported and kept.

    The ledger checks each act against the subject's own state (due, no hold) before it
    destroys a key, so a projection lagging behind cannot make it shred too early.
    """
    report = EnforcementReport()
    due = []
    with backend.reading(progress) as reader:
        schedule = reader.retention_schedule(until=now, include_untriggered=False, now=now)
    for entry in schedule:
        where = {"subject_id": entry["subject_id"], "scope": entry["scope"]}
        if entry["status"] == "on-hold":
            report.held.append({**where, "rule": LEGAL_HOLD_RULE})
        elif entry["status"] == "due":
            due.append({**where, "due_at": entry["due_at"]})
    acts = [act_from_document({
        "act_id": f"retention-{uuid4().hex}", "type": "retention-expired",
        "subject_id": item["subject_id"], "actor": RETENTION_ENFORCER,
        "occurred_at": now.isoformat(), "scope": item["scope"]}) for item in due]
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
