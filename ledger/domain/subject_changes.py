"""How each event changes a subject's state. No checks: replay must never refuse."""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatchmethod

from ledger.domain import events as ev
from ledger.domain.state import ConsentState, Disclosure, SubjectState
from ledger.domain.values import Erased


class SubjectChanges:
    """Mixed into ``DataSubject``: ``when`` is called by every event's ``apply``."""

    state: SubjectState


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
        self.state.request_received[event.request_ref] = event.occurred_at

    @when.register
    def _(self, event: ev.AccessFulfilled) -> None:
        self.state.open_requests.pop(event.request_ref, None)
        self.state.request_extensions.pop(event.request_ref, None)
        self.state.request_received.pop(event.request_ref, None)

    @when.register
    def _(self, event: ev.RequestDeadlineExtended) -> None:
        extensions = self.state.request_extensions
        extensions[event.request_ref] = (
            extensions.get(event.request_ref, 0) + event.extended_by_months
        )

    @when.register
    def _(self, event: ev.ErasureRequested) -> None:
        self.state.open_requests[event.request_ref] = "erasure"
        self.state.request_received[event.request_ref] = event.occurred_at

    @when.register
    def _(self, event: ev.ErasureRefusedInPart) -> None:
        # What the law keeps is stored apart and used for nothing else ("afgeschermd").
        self.state.restrictions[f"{event.request_ref}:{event.kept_scope}"] = event.kept_scope

    @when.register
    def _(self, event: ev.ErasureCompleted) -> None:
        self.state.open_requests.pop(event.request_ref, None)
        self.state.request_extensions.pop(event.request_ref, None)
        self.state.request_received.pop(event.request_ref, None)
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
