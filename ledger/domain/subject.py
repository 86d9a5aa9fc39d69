"""The ``DataSubject`` aggregate: one person's history, and the rules that guard it.

Commands check the policy and the subject's state first and only then trigger an event,
so a refused act leaves nothing behind. ``when`` evolves state from events and checks
nothing: replaying history must never depend on today's rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.domain import events as ev
from ledger.domain.acts import ActContext
from ledger.domain.policy import Policy, Purpose
from ledger.domain.retention import ErasurePlan, plan_erasure
from ledger.domain.values import Erased, PersonalValue, PersonalValues
from ledger.errors import PolicyViolation

STORAGE_ONLY = "store"
DIRECT_MARKETING = "direct-marketing"
# Art. 12(3): one month to answer, "extended by two further months where necessary,
# taking into account the complexity and number of the requests".
EXTENSION_REASONS = frozenset({"complexity", "number-of-requests"})
MAX_EXTENSION_MONTHS = 2


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


@dataclass
class SubjectState:
    holdings: dict[str, dict[str, PersonalValue]] = field(default_factory=dict)
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
    # Upstream systems retry; an act id seen before is a re-delivery, not a new act.
    act_ids: set[str] = field(default_factory=set)


class DataSubject(Aggregate):
    class Registered(ev.SubjectRegistered):
        pass

    def __init__(self) -> None:
        self.state = SubjectState()

    def has_recorded(self, act: ActContext) -> bool:
        return act.act_id in self.state.act_ids

    def __repr__(self) -> str:
        # The default repr would print every held value into a traceback.
        return f"DataSubject(id={self.id}, version={self.version})"

    @classmethod
    def register(cls, subject_id: UUID, policy: Policy, act: ActContext) -> DataSubject:
        return cls._create(
            cls.Registered, id=subject_id, **act.event_fields(policy)
        )

    # -- commands: check, then record ------------------------------------------------

    def collect(
        self,
        policy: Policy,
        act: ActContext,
        *,
        purpose: str,
        values: Mapping[str, str],
        source_system: str,
        legal_basis: str,
        controller: str | None = None,
    ) -> None:
        spec = policy.purpose(purpose)
        if not values:
            raise PolicyViolation("no-values", f"a collection for {purpose!r} holds no values")
        self._require_categories_of(spec, values)
        if legal_basis not in spec.legal_bases:
            raise PolicyViolation(
                "legal-basis-not-allowed",
                f"purpose {purpose!r} allows {', '.join(sorted(spec.legal_bases))}, "
                f"not {legal_basis!r}",
            )
        self._require_consent_if_needed(spec, legal_basis)
        self._require_not_objected(purpose, operation="collect")
        self._require_unrestricted(policy, values, operation="collect")
        role_controller = controller if spec.role == "processor" else policy.controller
        if spec.role == "processor" and not controller:
            raise PolicyViolation(
                "controller-required",
                f"purpose {purpose!r} is processed for a customer: name the controller",
            )
        self.trigger_event(
            ev.DataCollected,
            purpose=purpose,
            values=PersonalValues(values),
            scopes={c: policy.scope_of(c) for c in values},
            source_system=source_system,
            legal_basis=legal_basis,
            role=spec.role,
            controller=role_controller,
            **act.event_fields(policy),
        )

    def process(
        self, policy: Policy, act: ActContext, *, purpose: str, operation: str,
        categories: Sequence[str],
    ) -> None:
        spec = policy.purpose(purpose)
        self._require_usable(spec, categories, operation=operation)
        if operation == DIRECT_MARKETING and self.state.objects_to_direct_marketing:
            raise PolicyViolation(
                "objection", "the subject objected to direct marketing (unsubscribed)"
            )
        self._require_unrestricted(policy, categories, operation=operation)
        self.trigger_event(
            ev.DataProcessed, purpose=purpose, operation=operation,
            categories=list(categories), **act.event_fields(policy),
        )

    def share(
        self, policy: Policy, act: ActContext, *, purpose: str, recipient: str,
        recipient_kind: str, ground: str, categories: Sequence[str],
    ) -> None:
        spec = policy.purpose(purpose)
        if recipient_kind not in spec.recipient_kinds:
            raise PolicyViolation(
                "recipient-kind-not-allowed",
                f"purpose {purpose!r} may not be shared with {recipient_kind!r}",
            )
        if ground not in policy.sharing_grounds:
            raise PolicyViolation("unknown-ground", f"no sharing ground {ground!r} in policy")
        self._require_usable(spec, categories, operation="share")
        if policy.sharing_grounds[ground].requires_consent and not self._consent_live(purpose):
            raise PolicyViolation(
                "consent-required", f"sharing on consent needs live consent for {purpose!r}"
            )
        # Art. 18(2): restricted data may still go where the law obliges us to send it.
        if ground != "legal-obligation":
            self._require_unrestricted(policy, categories, operation="share")
        self.trigger_event(
            ev.DataShared, purpose=purpose, recipient=recipient,
            recipient_kind=recipient_kind, ground=ground, categories=list(categories),
            **act.event_fields(policy),
        )

    def give_consent(
        self, policy: Policy, act: ActContext, *, purpose: str, channel: str,
        notice_version: str, proof_ref: str,
    ) -> None:
        policy.purpose(purpose)
        self.trigger_event(
            ev.ConsentGiven, purpose=purpose, channel=channel, notice_version=notice_version,
            proof_ref=proof_ref, **act.event_fields(policy),
        )

    def withdraw_consent(
        self, policy: Policy, act: ActContext, *, purpose: str, channel: str, proof_ref: str
    ) -> None:
        policy.purpose(purpose)
        if not self._consent_live(purpose):
            raise PolicyViolation("no-live-consent", f"no live consent for {purpose!r}")
        self.trigger_event(
            ev.ConsentWithdrawn, purpose=purpose, channel=channel, proof_ref=proof_ref,
            **act.event_fields(policy),
        )

    def object(
        self, policy: Policy, act: ActContext, *, ground: str, purpose: str | None,
        channel: str,
    ) -> None:
        if ground not in ("direct-marketing", "particular-situation"):
            raise PolicyViolation("unknown-objection-ground", f"no objection ground {ground!r}")
        if ground == "particular-situation":
            if purpose is None:
                raise PolicyViolation(
                    "purpose-required", "an objection on particular grounds names a purpose"
                )
            policy.purpose(purpose)
        self.trigger_event(
            ev.ObjectionRaised, ground=ground, purpose=purpose, channel=channel,
            **act.event_fields(policy),
        )

    def restrict(
        self, policy: Policy, act: ActContext, *, request_ref: str, reason: str,
        scope: str | None = None,
    ) -> None:
        if scope is not None and scope not in policy.scopes:
            raise PolicyViolation("unknown-scope", f"no retention scope {scope!r} in policy")
        if request_ref in self.state.restrictions:
            raise PolicyViolation("duplicate-request", f"restriction {request_ref!r} is active")
        self.trigger_event(
            ev.RestrictionApplied, request_ref=request_ref, reason=reason, scope=scope,
            **act.event_fields(policy),
        )

    def lift_restriction(self, policy: Policy, act: ActContext, *, request_ref: str) -> None:
        if request_ref not in self.state.restrictions:
            raise PolicyViolation("no-such-restriction", f"no active restriction {request_ref!r}")
        self.trigger_event(
            ev.RestrictionLifted, request_ref=request_ref, **act.event_fields(policy)
        )

    def rectify(
        self, policy: Policy, act: ActContext, *, purpose: str, values: Mapping[str, str],
        request_ref: str,
    ) -> None:
        spec = policy.purpose(purpose)
        self._require_not_erased()
        self._require_categories_of(spec, values)
        held = self.state.holdings.get(purpose, {})
        missing = sorted(c for c in values if c not in held)
        if missing:
            raise PolicyViolation(
                "not-held", f"nothing held for {purpose!r} in {', '.join(missing)} to rectify"
            )
        self.trigger_event(
            ev.DataRectified, purpose=purpose, values=PersonalValues(values),
            scopes={c: policy.scope_of(c) for c in values}, request_ref=request_ref,
            **act.event_fields(policy),
        )

    def request_access(
        self, policy: Policy, act: ActContext, *, request_ref: str, channel: str
    ) -> None:
        self._require_we_are_controller(policy)
        self._require_new_request(request_ref)
        self.trigger_event(
            ev.AccessRequested, request_ref=request_ref, channel=channel,
            **act.event_fields(policy),
        )

    def fulfil_access(
        self, policy: Policy, act: ActContext, *, request_ref: str, export_ref: str
    ) -> None:
        self._require_open_request(request_ref, "access")
        self.trigger_event(
            ev.AccessFulfilled, request_ref=request_ref, export_ref=export_ref,
            **act.event_fields(policy),
        )

    def extend_request_deadline(
        self, policy: Policy, act: ActContext, *, request_ref: str, extended_by_months: int,
        reason_code: str,
    ) -> None:
        if request_ref not in self.state.open_requests:
            raise PolicyViolation("no-such-request", f"no open request {request_ref!r}")
        if isinstance(extended_by_months, bool) or extended_by_months not in (1, 2):
            raise PolicyViolation(
                "extension-months", "a deadline is extended by 1 or 2 months"
            )
        if reason_code not in EXTENSION_REASONS:
            raise PolicyViolation(
                "unknown-extension-reason", f"no extension reason {reason_code!r}"
            )
        already = self.state.request_extensions.get(request_ref, 0)
        if already + extended_by_months > MAX_EXTENSION_MONTHS:
            raise PolicyViolation(
                "extension-limit",
                f"request {request_ref!r} was extended by {already} month(s); "
                f"{MAX_EXTENSION_MONTHS} in total at most",
            )
        self.trigger_event(
            ev.RequestDeadlineExtended, request_ref=request_ref,
            extended_by_months=extended_by_months, reason_code=reason_code,
            **act.event_fields(policy),
        )

    def request_erasure(
        self, policy: Policy, act: ActContext, *, request_ref: str, channel: str
    ) -> None:
        self._require_we_are_controller(policy)
        self._require_new_request(request_ref)
        self.trigger_event(
            ev.ErasureRequested, request_ref=request_ref, channel=channel,
            **act.event_fields(policy),
        )

    def erasure_plan(self, policy: Policy, now: datetime) -> ErasurePlan:
        """Which scopes an erasure may destroy now, and which the law or a hold keeps."""
        return plan_erasure(policy, self.state, now)

    def complete_erasure(
        self, policy: Policy, act: ActContext, *, request_ref: str, plan: ErasurePlan,
        destroyed_key_ids: Sequence[str],
    ) -> None:
        """Records an erasure carried out by the caller, who destroyed the keys first."""
        self._require_open_request(request_ref, "erasure")
        fields = act.event_fields(policy)
        for scope, kept in sorted(plan.keep.items()):
            self.trigger_event(
                ev.ErasureRefusedInPart, request_ref=request_ref, kept_scope=scope,
                legal_reason=kept.legal_reason, kept_until=kept.until, **fields,
            )
        self.trigger_event(
            ev.ErasureCompleted, request_ref=request_ref, scopes=sorted(plan.shred),
            destroyed_key_ids=list(destroyed_key_ids), **fields,
        )

    def end_contract(self, policy: Policy, act: ActContext, *, purpose: str) -> None:
        self._require_held(policy.purpose(purpose))
        self.trigger_event(ev.ContractEnded, purpose=purpose, **act.event_fields(policy))

    def fulfil_purpose(self, policy: Policy, act: ActContext, *, purpose: str) -> None:
        self._require_held(policy.purpose(purpose))
        self.trigger_event(ev.PurposeFulfilled, purpose=purpose, **act.event_fields(policy))

    def check_expiry(self, scope: str, due_at: datetime, now: datetime) -> None:
        """Raises unless ``scope`` may be destroyed at ``now``; callers check before shredding."""
        if due_at > now:
            raise PolicyViolation("retention-not-due", f"scope {scope!r} is not yet due")
        if scope in self._held_scopes_under_hold():
            raise PolicyViolation("legal-hold", f"a legal hold keeps scope {scope!r}")

    def expire_retention(
        self, policy: Policy, act: ActContext, *, scope: str, due_at: datetime,
        destroyed_key_ids: Sequence[str],
    ) -> None:
        self.check_expiry(scope, due_at, act.occurred_at)
        self.trigger_event(
            ev.RetentionExpired, scope=scope, due_at=due_at,
            destroyed_key_ids=list(destroyed_key_ids), **act.event_fields(policy),
        )

    def place_legal_hold(
        self, policy: Policy, act: ActContext, *, hold_ref: str, reason: str,
        scopes: Sequence[str],
    ) -> None:
        unknown = sorted(s for s in scopes if s not in policy.scopes)
        if unknown:
            raise PolicyViolation("unknown-scope", f"no retention scope {', '.join(unknown)}")
        if hold_ref in self.state.legal_holds:
            raise PolicyViolation("duplicate-hold", f"legal hold {hold_ref!r} is active")
        self.trigger_event(
            ev.LegalHoldPlaced, hold_ref=hold_ref, reason=reason,
            scopes=list(scopes or policy.scopes), **act.event_fields(policy),
        )

    def release_legal_hold(self, policy: Policy, act: ActContext, *, hold_ref: str) -> None:
        if hold_ref not in self.state.legal_holds:
            raise PolicyViolation("no-such-hold", f"no active legal hold {hold_ref!r}")
        self.trigger_event(ev.LegalHoldReleased, hold_ref=hold_ref, **act.event_fields(policy))

    def transfer_controller(
        self, policy: Policy, act: ActContext, *, new_controller: str, transfer_kind: str,
        purposes: Sequence[str],
    ) -> None:
        if transfer_kind not in policy.transfer_kinds:
            raise PolicyViolation(
                "unknown-transfer-kind", f"no business transfer kind {transfer_kind!r}"
            )
        held = set(self.state.holdings)
        if set(purposes) != held:
            # "onder voorwaarde dat de gegevens ... enkel ... voor hun oorspronkelijke doeleinde"
            raise PolicyViolation(
                "transfer-changes-purpose",
                f"a transfer keeps the original purposes ({', '.join(sorted(held))}); "
                f"got {', '.join(sorted(purposes)) or 'none'}",
            )
        self.trigger_event(
            ev.ControllerTransferred, new_controller=new_controller,
            transfer_kind=transfer_kind, purposes=sorted(purposes), **act.event_fields(policy),
        )

    # -- rules -----------------------------------------------------------------------

    def _require_categories_of(self, spec: Purpose, categories: Any) -> None:
        unlisted = sorted(c for c in categories if c not in spec.categories)
        if unlisted:
            raise PolicyViolation(
                "category-not-in-purpose",
                f"purpose {spec.key!r} does not list {', '.join(unlisted)}",
            )

    def _require_consent_if_needed(self, spec: Purpose, legal_basis: str) -> None:
        needs = spec.requires_consent or legal_basis == "consent"
        if needs and not self._consent_live(spec.key):
            raise PolicyViolation(
                "consent-required", f"purpose {spec.key!r} needs live consent first"
            )

    def _require_not_objected(self, purpose: str, operation: str) -> None:
        if purpose in self.state.objected_purposes and operation != STORAGE_ONLY:
            raise PolicyViolation("objection", f"the subject objected to {purpose!r}")

    def _require_unrestricted(self, policy: Policy, categories: Any, operation: str) -> None:
        if operation == STORAGE_ONLY:
            return
        scopes = {policy.scope_of(c) for c in categories if c in policy.categories}
        for request_ref, scope in sorted(self.state.restrictions.items()):
            if scope is None or scope in scopes:
                raise PolicyViolation(
                    "restricted",
                    f"restriction {request_ref!r} allows storage only, not {operation!r}",
                )

    def _require_not_erased(self) -> None:
        if self.state.erased_since_collection:
            raise PolicyViolation(
                "subject-erased", "the subject was erased; record a new collection first"
            )

    def _require_held(self, spec: Purpose) -> None:
        if spec.key not in self.state.holdings:
            raise PolicyViolation("not-held", f"nothing is held for purpose {spec.key!r}")

    def _require_usable(self, spec: Purpose, categories: Sequence[str], operation: str) -> None:
        self._require_held(spec)
        self._require_categories_of(spec, categories)
        held = self.state.holdings[spec.key]
        missing = sorted(c for c in categories if c not in held)
        if missing:
            raise PolicyViolation(
                "not-held", f"nothing held for {spec.key!r} in {', '.join(missing)}"
            )
        erased = sorted(c for c in categories if isinstance(held[c], Erased))
        if erased:
            raise PolicyViolation("subject-erased", f"{', '.join(erased)} were erased")
        if spec.requires_consent and not self._consent_live(spec.key):
            raise PolicyViolation(
                "consent-required", f"purpose {spec.key!r} needs live consent"
            )
        consent = self.state.consents.get(spec.key)
        if consent is not None and not consent.live and operation != STORAGE_ONLY:
            raise PolicyViolation(
                "consent-withdrawn", f"consent for {spec.key!r} was withdrawn"
            )
        self._require_not_objected(spec.key, operation)

    def _require_we_are_controller(self, policy: Policy) -> None:
        roles = self.state.roles
        if roles and all(role == "processor" for role, _ in roles.values()):
            controllers = sorted({controller for _, controller in roles.values()})
            raise PolicyViolation(
                "request-to-controller",
                "we process this subject's data as processor only; the request goes to "
                f"the controller: {', '.join(controllers)}",
            )

    def _require_new_request(self, request_ref: str) -> None:
        if request_ref in self.state.open_requests:
            raise PolicyViolation("duplicate-request", f"request {request_ref!r} is open")

    def _require_open_request(self, request_ref: str, kind: str) -> None:
        if self.state.open_requests.get(request_ref) != kind:
            raise PolicyViolation("no-such-request", f"no open {kind} request {request_ref!r}")

    def _consent_live(self, purpose: str) -> bool:
        consent = self.state.consents.get(purpose)
        return consent is not None and consent.live

    def _held_scopes_under_hold(self) -> set[str]:
        return {scope for scopes in self.state.legal_holds.values() for scope in scopes}

    # -- evolving state ---------------------------------------------------------------

    @singledispatchmethod
    def when(self, event: ev.SubjectEvent) -> None:
        """Events with no effect on state (processing, access requests...) land here."""

    @when.register
    def _(self, event: ev.DataCollected) -> None:
        self.state.holdings.setdefault(event.purpose, {}).update(event.values)
        self.state.category_scopes.update(event.scopes)
        self.state.roles[event.purpose] = (event.role, event.controller)
        self.state.collected_at[event.purpose] = event.occurred_at
        for scope in set(event.scopes.values()):
            self.state.scope_collected_at[scope] = event.occurred_at
            self.state.erased_scopes.discard(scope)
        self.state.erased_since_collection = False

    @when.register
    def _(self, event: ev.DataRectified) -> None:
        self.state.holdings.setdefault(event.purpose, {}).update(event.values)
        self.state.category_scopes.update(event.scopes)

    @when.register
    def _(self, event: ev.DataShared) -> None:
        self.state.disclosures.append(Disclosure(
            event.recipient, event.recipient_kind, event.purpose, event.ground,
            list(event.categories), event.occurred_at,
        ))

    @when.register
    def _(self, event: ev.ConsentGiven) -> None:
        self.state.consents[event.purpose] = ConsentState(
            True, event.channel, event.notice_version, event.proof_ref, event.occurred_at
        )

    @when.register
    def _(self, event: ev.ConsentWithdrawn) -> None:
        previous = self.state.consents[event.purpose]
        self.state.consents[event.purpose] = ConsentState(
            False, event.channel, previous.notice_version, event.proof_ref, event.occurred_at
        )

    @when.register
    def _(self, event: ev.ObjectionRaised) -> None:
        if event.ground == "direct-marketing":
            self.state.objects_to_direct_marketing = True
        elif event.purpose is not None:
            self.state.objected_purposes.add(event.purpose)

    @when.register
    def _(self, event: ev.RestrictionApplied) -> None:
        self.state.restrictions[event.request_ref] = event.scope

    @when.register
    def _(self, event: ev.RestrictionLifted) -> None:
        self.state.restrictions.pop(event.request_ref, None)

    @when.register
    def _(self, event: ev.AccessRequested) -> None:
        self.state.open_requests[event.request_ref] = "access"

    @when.register
    def _(self, event: ev.AccessFulfilled) -> None:
        self.state.open_requests.pop(event.request_ref, None)
        self.state.request_extensions.pop(event.request_ref, None)

    @when.register
    def _(self, event: ev.RequestDeadlineExtended) -> None:
        extensions = self.state.request_extensions
        extensions[event.request_ref] = (
            extensions.get(event.request_ref, 0) + event.extended_by_months
        )

    @when.register
    def _(self, event: ev.ErasureRequested) -> None:
        self.state.open_requests[event.request_ref] = "erasure"

    @when.register
    def _(self, event: ev.ErasureRefusedInPart) -> None:
        # What the law keeps is stored apart and used for nothing else ("afgeschermd").
        self.state.restrictions[f"{event.request_ref}:{event.kept_scope}"] = event.kept_scope

    @when.register
    def _(self, event: ev.ErasureCompleted) -> None:
        self.state.open_requests.pop(event.request_ref, None)
        self.state.request_extensions.pop(event.request_ref, None)
        self._erase_scopes(event.scopes)
        self.state.erased_since_collection = True

    @when.register
    def _(self, event: ev.RetentionExpired) -> None:
        self._erase_scopes([event.scope])
        for ref, scope in list(self.state.restrictions.items()):
            if scope == event.scope:
                del self.state.restrictions[ref]

    @when.register
    def _(self, event: ev.ContractEnded) -> None:
        self.state.contract_ended_at[event.purpose] = event.occurred_at

    @when.register
    def _(self, event: ev.PurposeFulfilled) -> None:
        self.state.fulfilled_at[event.purpose] = event.occurred_at

    @when.register
    def _(self, event: ev.LegalHoldPlaced) -> None:
        self.state.legal_holds[event.hold_ref] = list(event.scopes)

    @when.register
    def _(self, event: ev.LegalHoldReleased) -> None:
        self.state.legal_holds.pop(event.hold_ref, None)

    @when.register
    def _(self, event: ev.ControllerTransferred) -> None:
        self.state.controller_transfers.append(event.new_controller)

    def _erase_scopes(self, scopes: Sequence[str]) -> None:
        self.state.erased_scopes.update(scopes)
        for held in self.state.holdings.values():
            for category in held:
                scope = self.state.category_scopes.get(category)
                if scope is not None and scope in scopes:
                    held[category] = Erased(scope)
