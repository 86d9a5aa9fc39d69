"""``evolve``: the one state-evolution function the aggregate and the read model share."""

from __future__ import annotations

import itertools
from copy import deepcopy
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from ledger.domain import events as ev
from ledger.domain.acts import ActContext
from ledger.domain.evolution import evolve
from ledger.domain.state import SubjectState
from ledger.domain.subject import DataSubject
from ledger.domain.values import Erased
from ledger.policy import load_policy

POLICY = load_policy()
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)
CUSTOMER = {
    "name": "Sanne", "business-email": "s@example.nl", "business-phone": "+31 20 1",
    "organisation-name": "Bakkerij", "invoice-details": "INV-1", "payment-details": "NL91",
}


@dataclass(frozen=True)
class Envelope:
    """Stands in for a sealed value: ``evolve`` moves values without looking at them."""

    category: str


def act(days: float = 0) -> ActContext:
    return ActContext(f"evo-{next(_ids)}", "crm", T0 + timedelta(days=days))


def history() -> tuple[DataSubject, list[ev.SubjectEvent]]:
    s = DataSubject.register(uuid4(), POLICY, act())
    s.collect(POLICY, act(), purpose="service-delivery", values=CUSTOMER,
              source_system="crm", legal_basis="contract")
    s.give_consent(POLICY, act(1), purpose="webinar-event", channel="web",
                   notice_version="1", proof_ref="p-1")
    s.process(POLICY, act(2), purpose="service-delivery", operation="store",
              categories=["name"])
    s.request_erasure(POLICY, act(3), request_ref="E-1", channel="email")
    when = act(4)
    s.complete_erasure(POLICY, when, request_ref="E-1",
                       plan=s.erasure_plan(POLICY, when.occurred_at), destroyed_key_ids=[])
    return s, [e for e in s.collect_events() if isinstance(e, ev.SubjectEvent)]


def enveloped(event: ev.SubjectEvent) -> Any:
    """The event with each personal value swapped for an envelope, as read models see it."""
    state = dict(vars(event))
    for name in type(event).personal_fields:
        state[name] = {c: Envelope(c) for c in state[name]}
    copy = object.__new__(type(event))
    object.__setattr__(copy, "__dict__", state)
    return copy


def test_evolve_changes_the_state_it_is_given_and_returns_it() -> None:
    _, events = history()
    state: SubjectState[str] = SubjectState()
    for event in events:
        assert evolve(event, state) is state
    assert state.open_requests == {}
    assert state.erased_since_collection


def test_events_without_effect_leave_state_as_it_was() -> None:
    _, events = history()
    processed = next(e for e in events if isinstance(e, ev.DataProcessed))
    state: SubjectState[str] = SubjectState()
    before = deepcopy(state)
    evolve(processed, state)
    assert state == before


def test_the_aggregate_and_a_sealed_read_model_evolve_alike() -> None:
    s, events = history()
    plain: SubjectState[str] = SubjectState()
    sealed: SubjectState[Envelope] = SubjectState()
    for event in events:
        evolve(event, plain)
        evolve(enveloped(event), sealed)
    # The aggregate's state is evolve's, plus the act ids its events' apply records.
    assert replace(plain, act_ids=s.state.act_ids) == s.state
    assert {**vars(sealed), "holdings": {}} == {**vars(plain), "holdings": {}}
    for purpose, held in plain.holdings.items():
        for category, value in held.items():
            other = sealed.holdings[purpose][category]
            if isinstance(value, Erased):
                assert other == value  # erasure reaches every form of a value
            else:
                assert other == Envelope(category)
    assert any(isinstance(v, Erased) for held in sealed.holdings.values() for v in held.values())
    assert any(isinstance(v, Envelope) for held in sealed.holdings.values() for v in held.values())
