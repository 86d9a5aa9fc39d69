"""How each event changes a subject's state: one free function, one case per event type.

``evolve(event, state)`` changes ``state`` in place and returns it. It checks nothing:
replay must never refuse. The aggregate's ``when`` calls it on plaintext state
(``SubjectState[str]``); read models call it on sealed state (``SubjectState[SealedValue]``),
so they cannot drift from the view the rules have of a subject.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import singledispatch
from typing import cast

from ledger.domain import events as ev
from ledger.domain.state import ConsentState, Disclosure, SubjectState, V
from ledger.domain.values import Erased

# The recipient kind of the acquirer in a business transfer (not one of the policy's
# kinds: the statement names transfers apart, under "Bedrijfsoverdracht").
ACQUIRER = "acquirer"


@singledispatch
def evolve(event: ev.SubjectEvent, state: SubjectState[V]) -> SubjectState[V]:
    """Events with no effect on state (processing, access fulfilment...) land here."""
    return state


def _hold(state: SubjectState[V], event: ev.DataCollected | ev.DataRectified) -> None:
    # Events type their values as plaintext; the mapper decides the form they arrive in
    # (plaintext for the aggregate, sealed for read models), which is the state's form.
    values = cast("Mapping[str, V | Erased]", event.values)
    state.holdings.setdefault(event.purpose, {}).update(values)


def _scope_values(state: SubjectState[V], purpose: str, scopes: Mapping[str, str]) -> None:
    state.category_scopes.update(scopes)
    state.value_scopes.setdefault(purpose, {}).update(scopes)
    for scope in set(scopes.values()):
        state.scope_purposes.setdefault(scope, set()).add(purpose)
        # A value under a scope shredded before is under a new key: held again.
        state.erased_scopes.discard(scope)


@evolve.register
def _(event: ev.DataCollected, state: SubjectState[V]) -> SubjectState[V]:
    _hold(state, event)
    _scope_values(state, event.purpose, event.scopes)
    state.roles[event.purpose] = (event.role, event.controller)
    state.legal_bases[event.purpose] = event.legal_basis
    state.collected_at[event.purpose] = event.occurred_at
    for scope in set(event.scopes.values()):
        state.scope_collected_at[scope] = event.occurred_at
    state.erased_since_collection = False
    return state


@evolve.register
def _(event: ev.DataRectified, state: SubjectState[V]) -> SubjectState[V]:
    _hold(state, event)
    _scope_values(state, event.purpose, event.scopes)
    return state


@evolve.register
def _(event: ev.DataShared, state: SubjectState[V]) -> SubjectState[V]:
    state.disclosures.append(Disclosure(
        event.recipient, event.recipient_kind, event.purpose, event.ground,
        list(event.categories), event.occurred_at,
    ))
    return state


@evolve.register
def _(event: ev.ConsentGiven, state: SubjectState[V]) -> SubjectState[V]:
    state.consents[event.purpose] = ConsentState(
        True, event.channel, event.notice_version, event.proof_ref, event.occurred_at
    )
    return state


@evolve.register
def _(event: ev.ConsentWithdrawn, state: SubjectState[V]) -> SubjectState[V]:
    previous = state.consents[event.purpose]
    state.consents[event.purpose] = ConsentState(
        False, event.channel, previous.notice_version, event.proof_ref, event.occurred_at
    )
    return state


@evolve.register
def _(event: ev.ObjectionRaised, state: SubjectState[V]) -> SubjectState[V]:
    if event.ground == "direct-marketing":
        state.objects_to_direct_marketing = True
    elif event.purpose is not None:
        state.objected_purposes.add(event.purpose)
    return state


@evolve.register
def _(event: ev.RestrictionApplied, state: SubjectState[V]) -> SubjectState[V]:
    state.restrictions[event.request_ref] = event.scope
    return state


@evolve.register
def _(event: ev.RestrictionLifted, state: SubjectState[V]) -> SubjectState[V]:
    state.restrictions.pop(event.request_ref, None)
    return state


@evolve.register
def _(event: ev.AccessRequested, state: SubjectState[V]) -> SubjectState[V]:
    _open_request(state, event, "access")
    return state


@evolve.register
def _(event: ev.AccessFulfilled, state: SubjectState[V]) -> SubjectState[V]:
    _close_request(state, event.request_ref)
    return state


@evolve.register
def _(event: ev.RequestDeadlineExtended, state: SubjectState[V]) -> SubjectState[V]:
    extensions = state.request_extensions
    extensions[event.request_ref] = extensions.get(event.request_ref, 0) + (
        event.extended_by_months)
    return state


@evolve.register
def _(event: ev.ErasureRequested, state: SubjectState[V]) -> SubjectState[V]:
    _open_request(state, event, "erasure")
    return state


@evolve.register
def _(event: ev.ErasureRefusedInPart, state: SubjectState[V]) -> SubjectState[V]:
    # What the law keeps is stored apart and used for nothing else ("afgeschermd").
    state.restrictions[f"{event.request_ref}:{event.kept_scope}"] = event.kept_scope
    return state


@evolve.register
def _(event: ev.ErasureCompleted, state: SubjectState[V]) -> SubjectState[V]:
    _close_request(state, event.request_ref)
    _erase_scopes(state, event.scopes)
    state.erased_since_collection = True
    return state


@evolve.register
def _(event: ev.RetentionExpired, state: SubjectState[V]) -> SubjectState[V]:
    _erase_scopes(state, [event.scope])
    for ref, scope in list(state.restrictions.items()):
        if scope == event.scope:
            del state.restrictions[ref]
    return state


@evolve.register
def _(event: ev.ContractEnded, state: SubjectState[V]) -> SubjectState[V]:
    state.contract_ended_at[event.purpose] = event.occurred_at
    return state


@evolve.register
def _(event: ev.PurposeFulfilled, state: SubjectState[V]) -> SubjectState[V]:
    state.fulfilled_at[event.purpose] = event.occurred_at
    return state


@evolve.register
def _(event: ev.LegalHoldPlaced, state: SubjectState[V]) -> SubjectState[V]:
    state.legal_holds[event.hold_ref] = list(event.scopes)
    return state


@evolve.register
def _(event: ev.LegalHoldReleased, state: SubjectState[V]) -> SubjectState[V]:
    state.legal_holds.pop(event.hold_ref, None)
    return state


@evolve.register
def _(event: ev.ControllerTransferred, state: SubjectState[V]) -> SubjectState[V]:
    # Art. 4(7): the acquirer decides on the transferred data from now on; it received
    # the data (a recipient, art. 4(9)) of every category held for each purpose.
    state.controller_transfers.append(event.new_controller)
    for purpose in event.purposes:
        role, _ = state.roles.get(purpose, ("controller", ""))
        if role == "controller":  # as processor, the customer stays the controller
            state.roles[purpose] = (role, event.new_controller)
            state.transferred_to[purpose] = event.new_controller
        state.disclosures.append(Disclosure(
            event.new_controller, ACQUIRER, purpose, event.transfer_kind,
            sorted(state.holdings.get(purpose, {})), event.occurred_at))
    return state


@evolve.register
def _(event: ev.RequestForwarded, state: SubjectState[V]) -> SubjectState[V]:
    state.forwarded_requests[event.request_ref] = event.forwarded_to
    return state


def _open_request(state: SubjectState[V], event: ev.AccessRequested | ev.ErasureRequested,
                  kind: str) -> None:
    state.open_requests[event.request_ref] = kind
    state.request_received[event.request_ref] = event.occurred_at


def _close_request(state: SubjectState[V], request_ref: str) -> None:
    state.open_requests.pop(request_ref, None)
    state.request_extensions.pop(request_ref, None)
    state.request_received.pop(request_ref, None)


def _erase_scopes(state: SubjectState[V], scopes: Sequence[str]) -> None:
    state.erased_scopes.update(scopes)
    for purpose, held in state.holdings.items():
        value_scopes = state.value_scopes.get(purpose, {})
        for category in held:
            scope = value_scopes.get(category, state.category_scopes.get(category))
            if scope is not None and scope in scopes:
                held[category] = Erased(scope)
