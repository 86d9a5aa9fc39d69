"""The rows the projections keep, and one batch's changes to them.

Rows hold identifiers, codes, timestamps and sealed envelopes (key id and ciphertext)
only. The projector builds a ``Changes`` per batch in memory; a store writes it in one
transaction together with the new position, so a batch is there whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from typing import NamedTuple
from uuid import UUID


@dataclass(frozen=True)
class AuditRow:
    """One act, without personal values. ``detail`` is the event's clear fields
    (transcoded; personal fields reduced to their category names)."""

    notification_id: int
    subject_id: UUID | None  # None for acts about the ledger itself (policy publication)
    version: int
    event_type: str
    topic: str
    act_id: str
    actor: str
    policy_version: str
    occurred_at: datetime
    recorded_at: datetime
    detail: bytes


@dataclass(frozen=True)
class ValueRow:
    """One personal value as recorded: sealed, with what is needed to open it."""

    notification_id: int
    subject_id: UUID
    version: int
    field: str
    category: str
    purpose: str
    scope: str
    key_id: UUID
    blob: bytes = dc_field(repr=False)
    event_type: str = ""
    act_id: str = ""
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class DisclosureRow:
    notification_id: int
    subject_id: UUID
    recipient: str
    recipient_kind: str
    purpose: str
    ground: str
    categories: tuple[str, ...]
    act_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ScheduleRow:
    """When a subject's retention scope falls due; ``due_at`` None until triggered."""

    subject_id: UUID
    scope: str
    due_at: datetime | None
    holds: tuple[str, ...]  # legal holds keeping the scope past its due date


@dataclass(frozen=True)
class RequestRow:
    subject_id: UUID
    seq: int  # the request's place among the subject's requests (a ref may be reused)
    request_ref: str
    kind: str
    channel: str
    act_id: str
    requested_at: datetime
    due_at: datetime
    extended_months: int
    reasons: tuple[str, ...]
    status: str  # "open", "fulfilled" (access), "completed" (erasure) or "forwarded"
    closed_at: datetime | None
    forwarded_to: str | None = None  # the controller a forwarded request went to


# The purpose under which the record of processing counts acts that name none (and the
# policy's publications): no policy has a purpose of this name.
NO_PURPOSE = ""


class RopaKey(NamedTuple):
    """What a record-of-processing counter counts (a tuple: made per act, kept cheap)."""

    purpose: str
    kind: str  # "category", "recipient", "legal-basis", "operation", "scope", ...
    item: str
    qualifier: str = ""  # the recipient kind for recipients, the reason for kept scopes


@dataclass
class RopaCount:
    acts: int
    first_at: datetime
    last_at: datetime

    def add(self, other: RopaCount) -> None:
        self.acts += other.acts
        self.first_at = min(self.first_at, other.first_at)
        self.last_at = max(self.last_at, other.last_at)


@dataclass(frozen=True)
class RopaRow:
    key: RopaKey
    count: RopaCount


@dataclass(frozen=True)
class SubjectRow:
    subject_id: UUID
    version: int
    notification_id: int
    doc: bytes


@dataclass
class Changes:
    """Everything one batch changes, and the position it brings the store to."""

    position: int
    subjects: dict[UUID, SubjectRow] = dc_field(default_factory=dict)
    audit: list[AuditRow] = dc_field(default_factory=list)
    values: list[ValueRow] = dc_field(default_factory=list)
    disclosures: list[DisclosureRow] = dc_field(default_factory=list)
    # Per touched subject, its rows replace the ones stored (derived from its state).
    schedules: dict[UUID, list[ScheduleRow]] = dc_field(default_factory=dict)
    requests: dict[UUID, list[RequestRow]] = dc_field(default_factory=dict)
    ropa: dict[RopaKey, RopaCount] = dc_field(default_factory=dict)

    def count(self, key: RopaKey, at: datetime) -> None:
        known = self.ropa.get(key)
        if known is None:
            self.ropa[key] = RopaCount(1, at, at)
            return
        known.acts += 1
        known.first_at = min(known.first_at, at)
        known.last_at = max(known.last_at, at)
