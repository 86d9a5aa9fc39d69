"""The ``DataSubject`` aggregate: one person's history, and the rules that guard it.

Commands check the policy and the subject's state first (``subject_rules``) and only then
trigger an event, so a refused act leaves nothing behind. ``when`` evolves state from
events through ``evolution.evolve`` and checks nothing: replay must never depend on
today's rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.domain import events as ev
from ledger.domain.acts import ActContext
from ledger.domain.durations import Duration
from ledger.domain.evolution import evolve
from ledger.domain.policy import Policy
from ledger.domain.retention import ErasurePlan, hold_refs, plan_erasure
from ledger.domain.state import ConsentState, Disclosure, SubjectState
from ledger.domain.subject_rules import DIRECT_MARKETING, SubjectRules
from ledger.domain.values import PersonalValues
from ledger.errors import PolicyViolation

# State types are re-exported: read models import them from here.
__all__ = ["ConsentState", "DataSubject", "Disclosure", "SubjectState"]
# Art. 12(3): one month to answer, "extended by two further months where necessary,
# taking into account the complexity and number of the requests".
EXTENSION_REASONS = frozenset({"complexity", "number-of-requests"})
MAX_EXTENSION_MONTHS = 2


class DataSubject(SubjectRules, Aggregate):
    class Registered(ev.SubjectRegistered):
        pass

    def __init__(self) -> None:
        self.state: SubjectState[str] = SubjectState()

    def when(self, event: ev.SubjectEvent) -> None:
        """Called by every event's ``apply``."""
        evolve(event, self.state)

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
        # Each value goes under the scope its retention ends with: its purpose's, or its
        # fiscal year's (in the jurisdiction's zone) for what the law keeps.
        scopes = {c: policy.scope_for(c, purpose, act.occurred_at) for c in values}
        self._require_unrestricted(policy, set(scopes.values()), operation="collect")
        # After a business transfer the acquirer is the controller of the purpose.
        role_controller = controller if spec.role == "processor" else (
            self.state.transferred_to.get(purpose, policy.controller))
        if spec.role == "processor" and not controller:
            raise PolicyViolation(
                "controller-required",
                f"purpose {purpose!r} is processed for a customer: name the controller",
            )
        self.trigger_event(
            ev.DataCollected,
            purpose=purpose,
            values=PersonalValues(values),
            scopes=scopes,
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
        self._require_unrestricted(
            policy, self._held_scopes_of(policy, purpose, categories), operation=operation)
        self._require_in_retention(policy, purpose, categories, operation, act.occurred_at)
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
            self._require_unrestricted(
                policy, self._held_scopes_of(policy, purpose, categories), operation="share")
            self._require_in_retention(policy, purpose, categories, "share", act.occurred_at)
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
        if scope is not None and not policy.knows_scope(scope):
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
        # A corrected value replaces the one it corrects, under the same scope (a 2025
        # invoice corrected in 2026 is still a 2025 record); a value whose scope was
        # shredded gets the scope a collection now would.
        held_scopes = self.state.value_scopes.get(purpose, {})
        scopes = {}
        for category in values:
            scope = held_scopes.get(category)
            if scope is None or scope in self.state.erased_scopes:
                scope = policy.scope_for(category, purpose, act.occurred_at)
            scopes[category] = scope
        self.trigger_event(
            ev.DataRectified, purpose=purpose, values=PersonalValues(values),
            scopes=scopes, request_ref=request_ref, **act.event_fields(policy),
        )

    def request_access(
        self, policy: Policy, act: ActContext, *, request_ref: str, channel: str
    ) -> None:
        self._receive_request(ev.AccessRequested, policy, act, request_ref, channel)

    def forward_request(
        self, policy: Policy, act: ActContext, *, request_ref: str, request_kind: str,
        channel: str, forwarded_to: str,
    ) -> None:
        """A request about data we process for ``forwarded_to`` as its processor,
        received and passed on to it: recorded, so that it leaves a trace (art. 5(2))."""
        self._require_processor_for(forwarded_to)
        self._require_new_request(request_ref)
        self.trigger_event(
            ev.RequestForwarded, request_ref=request_ref, request_kind=request_kind,
            channel=channel, forwarded_to=forwarded_to, **act.event_fields(policy),
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
        received = self.state.request_received.get(request_ref)
        if received is not None and act.occurred_at > Duration(months=1).after(received):
            raise PolicyViolation(
                "extension-too-late",
                f"request {request_ref!r} was received {received.date().isoformat()}; art. "
                "12(3) lets the deadline be extended only within one month of receipt",
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
        self._receive_request(ev.ErasureRequested, policy, act, request_ref, channel)

    def _receive_request(
        self, request: type[ev.AccessRequested | ev.ErasureRequested], policy: Policy,
        act: ActContext, request_ref: str, channel: str,
    ) -> None:
        """A request of the subject's own (art. 15, 17), made to us as its controller,
        under a reference it has not used before."""
        self._require_we_are_controller(policy)
        self._require_new_request(request_ref)
        self.trigger_event(
            request, request_ref=request_ref, channel=channel, **act.event_fields(policy),
        )

    def check_erasure_request(self, request_ref: str) -> None:
        """Raises unless ``request_ref`` is an open erasure request; run before shredding."""
        self._require_open_request(request_ref, "erasure")

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

    def check_expiry(self, policy: Policy, scope: str, due_at: datetime,
                     now: datetime) -> None:
        """Raises unless ``scope`` may be destroyed at ``now``; callers check before shredding."""
        if due_at > now:
            raise PolicyViolation("retention-not-due", f"scope {scope!r} is not yet due")
        if hold_refs(policy, self.state, scope):
            raise PolicyViolation("legal-hold", f"a legal hold keeps scope {scope!r}")

    def expire_retention(
        self, policy: Policy, act: ActContext, *, scope: str, due_at: datetime,
        destroyed_key_ids: Sequence[str],
    ) -> None:
        self.check_expiry(policy, scope, due_at, act.occurred_at)
        self.trigger_event(
            ev.RetentionExpired, scope=scope, due_at=due_at,
            destroyed_key_ids=list(destroyed_key_ids), **act.event_fields(policy),
        )

    def place_legal_hold(
        self, policy: Policy, act: ActContext, *, hold_ref: str, reason: str,
        scopes: Sequence[str],
    ) -> None:
        unknown = sorted(s for s in scopes if not policy.knows_scope(s))
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
