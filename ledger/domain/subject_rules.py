"""The checks behind every refusal: each raises ``PolicyViolation`` naming its rule."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from ledger.domain.policy import Policy, Purpose
from ledger.domain.retention import retention_ended
from ledger.domain.state import SubjectState
from ledger.domain.values import Erased
from ledger.errors import PolicyViolation

STORAGE_ONLY = "store"
DIRECT_MARKETING = "direct-marketing"


class SubjectRules:
    """Mixed into ``DataSubject``: checks read state and never change it."""

    state: SubjectState


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

    def _require_unrestricted(self, policy: Policy, scopes: Collection[str],
                              operation: str) -> None:
        """Refuses any use but storage of data in ``scopes`` under a restriction (one
        naming the scope, the policy scope it derives from, or everything)."""
        if operation == STORAGE_ONLY:
            return
        for request_ref, named in sorted(self.state.restrictions.items(),
                                         key=lambda item: item[0]):
            if named is None or any(policy.covers(named, scope) for scope in scopes):
                raise PolicyViolation(
                    "restricted",
                    f"restriction {request_ref!r} allows storage only, not {operation!r}",
                )

    def _require_in_retention(self, policy: Policy, purpose: str, categories: Any,
                              operation: str, now: datetime) -> None:
        """Refuses any use but storage of data whose retention ended: what the law or a
        legal hold still keeps is restricted to storage by itself, without a request."""
        if operation == STORAGE_ONLY:
            return
        why = retention_ended(policy, self.state, purpose,
                              self._held_scopes_of(policy, purpose, categories), now)
        if why is not None:
            raise PolicyViolation("restricted", f"{why}, not {operation!r}")

    def _held_scopes_of(self, policy: Policy, purpose: str, categories: Any) -> set[str]:
        """The scopes the values of ``categories`` held for ``purpose`` are kept under."""
        scopes = self.state.value_scopes.get(purpose, {})
        found = set()
        for category in categories:
            scope = scopes.get(category, self.state.category_scopes.get(category))
            if scope is None and category in policy.categories:
                scope = policy.scope_of(category)
            if scope is not None:
                found.add(scope)
        return found

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
                f"the controller: {', '.join(controllers)} (record it as "
                "request-forwarded)",
            )

    def _require_processor_for(self, controller: str) -> None:
        """A request may be forwarded only to a controller we process the subject's
        data for (art. 28(3)(e)); one about data we control is ours to answer."""
        ours = sorted({c for role, c in self.state.roles.values() if role == "processor"})
        if not ours:
            raise PolicyViolation(
                "not-processor",
                "we are the controller of this subject's data: record the request itself "
                "(access-requested, erasure-requested), it is ours to answer")
        if controller not in ours:
            raise PolicyViolation(
                "unknown-controller",
                "forwarded_to names no controller we process this subject's data for; "
                f"known: {', '.join(ours)}")

    def _require_new_request(self, request_ref: str) -> None:
        if request_ref in self.state.open_requests or (
                request_ref in self.state.forwarded_requests):
            raise PolicyViolation("duplicate-request", f"request {request_ref!r} is open")

    def _require_open_request(self, request_ref: str, kind: str) -> None:
        if self.state.open_requests.get(request_ref) != kind:
            raise PolicyViolation("no-such-request", f"no open {kind} request {request_ref!r}")

    def _consent_live(self, purpose: str) -> bool:
        consent = self.state.consents.get(purpose)
        return consent is not None and consent.live
