"""What every act carries besides its content: who did it, when, under which id."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.domain.policy import Policy


@dataclass(frozen=True)
class ActDigest:
    """The keyed digest of an act's canonical content, and the id of the key it was
    made under (a data key of the subject's, shredded with the subject's data). Neither
    is a personal value: both are stored in clear with every event of the act."""

    digest: str  # HMAC-SHA256, hex
    key_id: str  # the data key's id, hex


@dataclass(frozen=True)
class ActContext:
    act_id: str  # the upstream system's id for the act; makes re-delivery detectable
    actor: str  # the acting system, e.g. "crm" or "privacy-office"
    occurred_at: datetime  # when it happened, as opposed to when it was recorded
    # The act's canonical content (the intake gives it: the document without transport
    # fields, keys sorted), which the application digests so that a re-delivery under
    # the same id can be told from another act. It holds personal values: never in the
    # repr. None (the Python API with a bare context): the act id alone identifies it.
    content: bytes | None = field(default=None, repr=False)
    # Set by the application when it records the act: goes into every event of the act.
    digest: ActDigest | None = None

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")

    def event_fields(self, policy: Policy) -> dict[str, Any]:
        return {
            "act_id": self.act_id,
            "policy_version": policy.version,
            "actor": self.actor,
            "occurred_at": self.occurred_at,
            "act_digest": self.digest.digest if self.digest else None,
            "act_digest_key_id": self.digest.key_id if self.digest else None,
        }
