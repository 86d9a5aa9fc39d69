"""What the ledger knows about one data subject, as evolved from their events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic

from typing_extensions import TypeVar

from ledger.domain.values import Erased

# The form a held value takes: plaintext (``str``) in the aggregate, a sealed envelope in
# read models. Any form reads as ``Erased`` once its key is destroyed. Code that never
# looks at values (retention, rules) writes plain ``SubjectState``: any form will do.
V = TypeVar("V", default=Any)


@dataclass
class ConsentState:
    live: bool
    channel: str
    notice_version: str
    proof_ref: str
    changed_at: datetime


@dataclass
class Disclosure:
    recipient: str
    recipient_kind: str
    purpose: str
    ground: str
    categories: list[str]
    occurred_at: datetime


@dataclass(frozen=True)
class RecordedAct:
    """What the ledger keeps of an act id: where its first event is, and its keyed
    digest (None for an act recorded before digests, or given without its content)."""

    version: int  # the subject's version at the act's first event
    digest: str | None = None
    digest_key_id: str | None = None


@dataclass
class SubjectState(Generic[V]):
    holdings: dict[str, dict[str, V | Erased]] = field(default_factory=dict)
    roles: dict[str, tuple[str, str]] = field(default_factory=dict)  # purpose -> role, controller
    collected_at: dict[str, datetime] = field(default_factory=dict)
    scope_collected_at: dict[str, datetime] = field(default_factory=dict)
    consents: dict[str, ConsentState] = field(default_factory=dict)
    objected_purposes: set[str] = field(default_factory=set)
    objects_to_direct_marketing: bool = False
    restrictions: dict[str, str | None] = field(default_factory=dict)  # request_ref -> scope
    legal_holds: dict[str, list[str]] = field(default_factory=dict)
    open_requests: dict[str, str] = field(default_factory=dict)  # request_ref -> kind
    erased_scopes: set[str] = field(default_factory=set)
    erased_since_collection: bool = False
    contract_ended_at: dict[str, datetime] = field(default_factory=dict)
    fulfilled_at: dict[str, datetime] = field(default_factory=dict)
    disclosures: list[Disclosure] = field(default_factory=list)
    controller_transfers: list[str] = field(default_factory=list)
    category_scopes: dict[str, str] = field(default_factory=dict)
    request_extensions: dict[str, int] = field(default_factory=dict)  # request_ref -> months
    request_received: dict[str, datetime] = field(default_factory=dict)  # request_ref -> when
    # Per purpose and category, the retention scope of the value held (``category_scopes``
    # keeps the last scope per category only: one category may be held for two purposes
    # under two scopes); per scope that ever received a value, the purposes that put it
    # there (a superseded value's scope is still held until it is shredded).
    value_scopes: dict[str, dict[str, str]] = field(default_factory=dict)
    scope_purposes: dict[str, set[str]] = field(default_factory=dict)
    legal_bases: dict[str, str] = field(default_factory=dict)  # purpose -> basis, last collection
    # A business transfer (art. 4(7)): purpose -> the acquirer, now its controller.
    transferred_to: dict[str, str] = field(default_factory=dict)
    # Requests we received as processor and passed on: request_ref -> the controller.
    forwarded_requests: dict[str, str] = field(default_factory=dict)
    # Upstream systems retry; an act id seen before is a re-delivery, not a new act,
    # when its content is the same (the digest tells), and a conflict when it is not.
    act_ids: dict[str, RecordedAct] = field(default_factory=dict)
