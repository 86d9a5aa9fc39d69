"""`ledger erase`, `ledger retention enforce` and `ledger keys rotate-master`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID, uuid4

import orjson

from consumers.composition import SubjectFinder
from consumers.kafka_office import submit_all_and_wait, submit_and_wait
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.crypto.keys import KeyStore
from ledger.crypto.master_key import FileMasterKey, master_key_from_settings
from ledger.domain import events as ev
from ledger.domain.acts import ActContext
from ledger.domain.retention import retention_due
from ledger.errors import ConfigurationError, PolicyViolation, UnknownSubject
from projections.reader import LedgerReader

OFFICE = "privacy-office"


def resolve_subject(app: SubjectFinder, subject: str | None, email: str | None,
                    phone: str | None) -> UUID:
    """A subject id from the command line: given directly or found by email/phone."""
    if subject:
        try:
            return UUID(subject)
        except ValueError:
            raise UnknownSubject("SUBJECT must be a subject id (a UUID); "
                                 "use --email or --phone to look one up") from None
    kind, value = ("email", email) if email else ("phone", phone)
    if value is None:
        raise UnknownSubject("name a subject: SUBJECT, --email or --phone")
    found = app.find_subject(kind, value)
    if found is None:
        raise UnknownSubject(f"no subject is indexed under that {kind}")
    return found


def erase(app: LedgerApplication, subject_id: UUID, request_ref: str, channel: str,
          out: IO[str], *, as_json: bool) -> int:
    plan = app.erase_now(subject_id, ActContext(f"erase-{uuid4().hex}", OFFICE,
                                                datetime.now(UTC)),
                         request_ref=request_ref, channel=channel)
    report: dict[str, Any] = {
        "subject_id": str(subject_id),
        "request_ref": request_ref,
        "shredded_scopes": sorted(plan.shred),
        "kept": {
            scope: {"legal_reason": kept.legal_reason,
                    "until": kept.until.isoformat() if kept.until else None}
            for scope, kept in sorted(plan.keep.items())
        },
    }
    if as_json:
        out.write(orjson.dumps(report).decode() + "\n")
        return 0
    out.write(f"erased subject {subject_id} (request {request_ref})\n")
    out.write(f"  shredded: {', '.join(report['shredded_scopes']) or 'nothing'}\n")
    for scope, kept in report["kept"].items():
        until = kept["until"] or "the hold is released"
        out.write(f"  kept {scope} until {until}, restricted to storage: "
                  f"{kept['legal_reason']}\n")
    return 0


def erase_on_kafka(settings: Settings, subject_id: UUID, request_ref: str, channel: str,
                   out: IO[str], *, wait_s: float, as_json: bool) -> int:
    """Sends the erasure to the subject's shard writer and reports what it recorded."""
    act = {
        "act_id": f"erase-{uuid4().hex}", "type": "erasure-carried-out",
        "subject_id": str(subject_id), "actor": OFFICE,
        "occurred_at": datetime.now(UTC).isoformat(), "request_ref": request_ref,
        "channel": channel,
    }
    outcome = submit_and_wait(settings, act, wait_s=wait_s)
    completed = [e for e in outcome.events if e["type"] == "ErasureCompleted"]
    kept = {e["kept_scope"]: {"legal_reason": e["legal_reason"]}
            for e in outcome.events if e["type"] == "ErasureRefusedInPart"}
    report: dict[str, Any] = {
        "subject_id": str(subject_id), "request_ref": request_ref, "act_id": act["act_id"],
        "status": outcome.status,
        "shredded_scopes": sorted(completed[0]["scopes"]) if completed else [],
        "kept": kept, "rule": outcome.rule, "reason": outcome.reason,
    }
    if as_json:
        out.write(orjson.dumps(report).decode() + "\n")
    elif outcome.status == "recorded":
        out.write(f"erased subject {subject_id} (request {request_ref})\n")
        out.write(f"  shredded: {', '.join(report['shredded_scopes']) or 'nothing'}\n")
        for scope, why in kept.items():
            out.write(f"  kept {scope}, restricted to storage: {why['legal_reason']}\n")
    elif outcome.status == "rejected":
        out.write(f"refused ({outcome.rule}): {outcome.reason}\n")
    else:
        out.write(f"sent as act {act['act_id']}, but no answer within {wait_s:g} s: is "
                  "`ledger serve` running? It carries the act out when it next runs; "
                  "check with `ledger subject show`\n")
    return {"recorded": 0, "rejected": 1}.get(outcome.status, 3)


@dataclass
class EnforcementReport:
    expired: list[dict[str, str]] = field(default_factory=list)
    held: list[dict[str, str]] = field(default_factory=list)
    pending: list[dict[str, str]] = field(default_factory=list)  # Kafka: not yet answered


def enforce_retention_on_kafka(settings: Settings, reader: LedgerReader, now: datetime, *,
                               wait_s: float) -> EnforcementReport:
    """Sends a retention-expired act for every scope the projections show as due.

    The writer checks each again against the subject's own state (due, no hold) before
    it destroys a key, so a projection lagging behind cannot make it shred too early.
    """
    report = EnforcementReport()
    due = []
    for entry in reader.retention_schedule(until=now, include_untriggered=False, now=now):
        where = {"subject_id": entry["subject_id"], "scope": entry["scope"]}
        if entry["status"] == "on-hold":
            report.held.append({**where, "rule": "legal-hold"})
        elif entry["status"] == "due":
            due.append({**where, "due_at": entry["due_at"]})
    acts = [{"act_id": f"retention-{uuid4().hex}", "type": "retention-expired",
             "subject_id": item["subject_id"], "actor": "retention-enforcer",
             "occurred_at": now.isoformat(), "scope": item["scope"]} for item in due]
    outcomes = submit_all_and_wait(settings, acts, wait_s=wait_s) if acts else []
    for item, outcome in zip(due, outcomes, strict=True):
        if outcome.status == "recorded":
            report.expired.append(item)
        elif outcome.status == "rejected":
            report.held.append({"subject_id": item["subject_id"], "scope": item["scope"],
                                "rule": outcome.rule or "refused"})
        else:
            report.pending.append(item)
    return report


def enforce_retention(app: LedgerApplication, now: datetime,
                      progress: IO[str] | None = None) -> EnforcementReport:
    """Destroys every scope whose retention has ended, recording each as an act."""
    report = EnforcementReport()
    candidates = app.subject_ids([ev.DataCollected])
    for index, subject_id in enumerate(candidates, start=1):
        if progress is not None and index % 500 == 0:
            progress.write(f"\rchecked {index}/{len(candidates)} subjects ...")
        subject = app.subject(subject_id)
        for scope, due_at in retention_due(app.policy, subject.state).items():
            if due_at is None or due_at > now:
                continue
            act = ActContext(f"retention-{uuid4().hex}", "retention-enforcer", now)
            try:
                app.expire_retention(subject_id, act, scope=scope)
            except PolicyViolation as kept:
                report.held.append({"subject_id": str(subject_id), "scope": scope,
                                    "rule": kept.rule})
            else:
                report.expired.append({"subject_id": str(subject_id), "scope": scope,
                                       "due_at": due_at.isoformat()})
    if progress is not None and len(candidates) >= 500:
        progress.write("\n")
    return report


def rotate_master(settings: Settings, key_store: KeyStore, new_key_file: Path | None,
                  out: IO[str], *, as_json: bool) -> int:
    """Rewraps every data key under a new master key; the log is not touched."""
    current = master_key_from_settings(settings)
    target = new_key_file
    replace_current: Path | None = None
    if target is None:
        current_file = settings.master_key_file or (
            None if settings.master_key_b64 else settings.data_dir / "master.key")
        if current_file is None:
            raise ConfigurationError(
                "the master key comes from LEDGER_MASTER_KEY: pass --new-key-file and "
                "then point LEDGER_MASTER_KEY_FILE at it"
            )
        target = current_file.with_name(current_file.name + ".next")
        replace_current = current_file
    new_master = FileMasterKey(target) if target.exists() else FileMasterKey.generate(target)
    count = key_store.rotate_master(new_master)
    if replace_current is not None:
        # After the store commits, the new key becomes the configured file atomically.
        os.replace(target, replace_current)
        target = replace_current
    report = {"rewrapped_keys": count, "old_fingerprint": current.fingerprint,
              "new_fingerprint": new_master.fingerprint, "key_file": str(target)}
    if as_json:
        out.write(orjson.dumps(report).decode() + "\n")
    else:
        out.write(f"rewrapped {count} data keys under master key {new_master.fingerprint} "
                  f"(was {current.fingerprint}); key file: {target}\n")
        if new_key_file is not None:
            out.write(f"set LEDGER_MASTER_KEY_FILE={target} from now on\n")
    return 0
