"""What every act carries besides its content: who did it, when, under which id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.domain.policy import Policy


@dataclass(frozen=True)
class ActContext:
    act_id: str  # the upstream system's id for the act; makes re-delivery detectable
    actor: str  # the acting system, e.g. "crm" or "privacy-office"
    occurred_at: datetime  # when it happened, as opposed to when it was recorded

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")

    def event_fields(self, policy: Policy) -> dict[str, Any]:
        return {
            "act_id": self.act_id,
            "policy_version": policy.version,
            "actor": self.actor,
            "occurred_at": self.occurred_at,
        }
