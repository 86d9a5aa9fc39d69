"""The acts a DSAR handler records to finish a request without a shell.

Access fulfilled, a deadline extended, a rectification, a restriction applied or
lifted, an objection, a legal hold placed or released, and the requests themselves as
they come in. Each is an intake act like any other (same schema, same rules, same
verdicts); the server fills in the act id, the subject, the actor (who is signed in)
and the moment, and the office signs those that lift a protection.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from consumers.services.ports import Backend
from ledger.crypto.office_signing import OFFICE_ACT_TYPES, OfficeKey
from ledger.errors import InvalidAct
from ledger.intake.acts import act_from_document
from ledger.outcomes import ActOutcome
from ledger.refusals import refusal_of

HANDLER_ACT_TYPES = (
    "access-requested", "access-fulfilled", "request-deadline-extended", "erasure-requested",
    "data-rectified", "restriction-applied", "restriction-lifted", "objection-raised",
    "legal-hold-placed", "legal-hold-released", "request-forwarded",
)
# Fields the server sets: whatever a form or body says of them is replaced.
SERVER_FIELDS = frozenset({"act_id", "subject_id", "actor", "occurred_at",
                           "office_signature"})


def record_office_act(backend: Backend, office: OfficeKey, subject_id: UUID, act_type: str,
                      fields: Mapping[str, Any], *, actor: str, wait_s: float,
                      at: datetime | None = None) -> ActOutcome:
    """Records one act of ``HANDLER_ACT_TYPES`` for the subject; the outcome names the
    rule and reason when it is refused (the act's schema or the policy)."""
    act_id = f"web-{uuid4().hex}"
    if act_type not in HANDLER_ACT_TYPES:
        return ActOutcome(act_id, "rejected", rule=InvalidAct.rule,
                          reason="type: not an act the console records")
    document: dict[str, Any] = {
        **{k: v for k, v in fields.items() if k not in SERVER_FIELDS and k != "type"},
        "act_id": act_id, "type": act_type, "subject_id": str(subject_id), "actor": actor,
        "occurred_at": (at or datetime.now(UTC)).isoformat()}
    if act_type in OFFICE_ACT_TYPES:
        document = office.sign(document)
    try:
        act = act_from_document(document)
    except InvalidAct as invalid:
        refusal = refusal_of(invalid)
        return ActOutcome(act_id, "rejected", rule=refusal.rule, reason=refusal.reason)
    (outcome,) = backend.submit([act], wait_s=wait_s)
    return outcome
