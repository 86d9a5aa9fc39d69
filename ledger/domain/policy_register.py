"""The register of published policy versions: publishing one is an act like any other."""

from __future__ import annotations

import hashlib
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.domain.policy import Policy
from ledger.errors import PolicyError

POLICY_REGISTER_ID: UUID = uuid5(NAMESPACE_URL, "personal-data-ledger:policy-register")


class PolicyVersionPublished(Aggregate.Event):
    version: str
    effective_from: str
    digest: str  # SHA-256 of the document, so an auditor can match it to a file
    document: str
    actor: str
    occurred_at: datetime

    def apply(self, aggregate: object) -> None:
        assert isinstance(aggregate, PolicyRegister)  # noqa: S101 - event sourcing invariant
        aggregate.versions[self.version] = self.digest
        aggregate.documents[self.version] = self.document
        aggregate.current = self.version


class PolicyRegister(Aggregate):
    class Opened(Aggregate.Created):
        pass

    def __init__(self) -> None:
        self.versions: dict[str, str] = {}
        self.documents: dict[str, str] = {}
        self.current: str | None = None

    @classmethod
    def open(cls) -> PolicyRegister:
        return cls._create(cls.Opened, id=POLICY_REGISTER_ID)

    def publish(self, policy: Policy, document: str, actor: str, occurred_at: datetime) -> bool:
        """Records ``policy`` as the version in force; False if it already is."""
        digest = hashlib.sha256(document.encode("utf-8")).hexdigest()
        if self.current == policy.version and self.versions.get(policy.version) == digest:
            return False
        if policy.version in self.versions and self.versions[policy.version] != digest:
            raise PolicyError(
                f"policy version {policy.version} was published with other content; "
                "give the changed policy a new version"
            )
        self.trigger_event(
            PolicyVersionPublished, version=policy.version,
            effective_from=policy.effective_from.isoformat(), digest=digest,
            document=document, actor=actor, occurred_at=occurred_at,
        )
        return True
