"""Every act the privacy policy names, as a frozen past-tense fact about one data subject.

Each event records the act's id (for exactly-once intake and audit), the policy version it
was checked against, the acting system, and when it happened (``occurred_at``); when it was
recorded is the library's ``timestamp``. Personal values live only in ``values`` fields,
keyed by category, which the persistence mapper encrypts per retention scope.

Sequences are lists, not tuples, so a stored-and-reloaded event equals the one recorded.
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate

from ledger.domain.state import RecordedAct
from ledger.domain.values import PersonalValues


class SubjectEvent(Aggregate.Event):
    act_id: str
    policy_version: str
    actor: str
    occurred_at: datetime
    # The keyed digest of the act's canonical content (HMAC-SHA256 under a data key of
    # the subject's, shredded with their data) and that key's id: how a re-delivery is
    # told from another act under the same id. Not personal values, so in clear.
    # Optional, keyword-only, with defaults: events stored before digests have neither
    # field, and read back as None (their act id alone identifies them).
    act_digest: str | None = field(default=None, kw_only=True)
    act_digest_key_id: str | None = field(default=None, kw_only=True)

    # Names of fields holding PersonalValues; the mapper encrypts exactly these.
    personal_fields: ClassVar[tuple[str, ...]] = ()

    def apply(self, aggregate: Any) -> None:
        # The first event of an act says where it was recorded; the act's other events
        # (an erasure's refusals in part, say) carry the same id and digest.
        if self.act_id not in aggregate.state.act_ids:
            aggregate.state.act_ids[self.act_id] = RecordedAct(
                self.originator_version, self.act_digest, self.act_digest_key_id)
        aggregate.when(self)


class SubjectRegistered(Aggregate.Created, SubjectEvent):
    """A data subject got its random id: the first act about a person creates it."""


class DataCollected(SubjectEvent):
    purpose: str
    values: PersonalValues
    scopes: dict[str, str]  # category -> retention scope whose key encrypts its value
    source_system: str
    legal_basis: str
    role: str  # "controller", or "processor" for end users of a customer
    controller: str
    personal_fields: ClassVar[tuple[str, ...]] = ("values",)


class DataProcessed(SubjectEvent):
    purpose: str
    operation: str
    categories: list[str]


class DataShared(SubjectEvent):
    purpose: str
    recipient: str
    recipient_kind: str
    ground: str
    categories: list[str]


class ConsentGiven(SubjectEvent):
    purpose: str
    channel: str
    notice_version: str
    proof_ref: str


class ConsentWithdrawn(SubjectEvent):
    purpose: str
    channel: str
    proof_ref: str


class ObjectionRaised(SubjectEvent):
    # "direct-marketing" (absolute; an email unsubscribe is one) or "particular-situation".
    ground: str
    purpose: str | None
    channel: str


class RestrictionApplied(SubjectEvent):
    request_ref: str
    reason: str
    scope: str | None  # None restricts everything held about the subject


class RestrictionLifted(SubjectEvent):
    request_ref: str


class DataRectified(SubjectEvent):
    purpose: str
    values: PersonalValues
    scopes: dict[str, str]
    request_ref: str
    personal_fields: ClassVar[tuple[str, ...]] = ("values",)


class AccessRequested(SubjectEvent):
    request_ref: str
    channel: str


class AccessFulfilled(SubjectEvent):
    request_ref: str
    export_ref: str


class ErasureRequested(SubjectEvent):
    request_ref: str
    channel: str


class ErasureCompleted(SubjectEvent):
    request_ref: str
    scopes: list[str]  # retention scopes whose keys were destroyed
    destroyed_key_ids: list[str]


class ErasureRefusedInPart(SubjectEvent):
    request_ref: str
    kept_scope: str
    legal_reason: str
    kept_until: datetime | None  # None while a legal hold, with no end date, keeps it


class ContractEnded(SubjectEvent):
    purpose: str


class PurposeFulfilled(SubjectEvent):
    purpose: str


class RetentionExpired(SubjectEvent):
    scope: str
    due_at: datetime
    destroyed_key_ids: list[str]


class LegalHoldPlaced(SubjectEvent):
    hold_ref: str
    reason: str
    scopes: list[str]


class LegalHoldReleased(SubjectEvent):
    hold_ref: str


class ControllerTransferred(SubjectEvent):
    new_controller: str
    transfer_kind: str
    purposes: list[str]


class RequestDeadlineExtended(SubjectEvent):
    """The answer to an open request is postponed (art. 12(3): two months at most)."""

    request_ref: str
    extended_by_months: int  # 1 or 2; the extensions of one request add up to 2 at most
    reason_code: str  # "complexity" or "number-of-requests", the grounds art. 12(3) allows


class RequestForwarded(SubjectEvent):
    """A data subject's request about data we process for a customer as its processor,
    received and passed on to that customer, the controller (art. 28(3)(e)); recorded
    so that it leaves a trace (art. 5(2)). Nothing is due from us: the controller answers."""

    request_ref: str
    request_kind: str  # "access", "erasure", "rectification", "restriction", ...
    channel: str
    forwarded_to: str  # the controller it went to


ALL_EVENTS: tuple[type[SubjectEvent], ...] = (
    SubjectRegistered, DataCollected, DataProcessed, DataShared, ConsentGiven,
    ConsentWithdrawn, ObjectionRaised, RestrictionApplied, RestrictionLifted, DataRectified,
    AccessRequested, AccessFulfilled, ErasureRequested, ErasureCompleted,
    ErasureRefusedInPart, ContractEnded, PurposeFulfilled, RetentionExpired,
    LegalHoldPlaced, LegalHoldReleased, ControllerTransferred, RequestDeadlineExtended,
    RequestForwarded,
)
