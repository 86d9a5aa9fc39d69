"""Every act of the policy, accepted when the rules allow it and refused when they don't.

These run on the aggregate alone (no store): a refused command must leave no event.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from ledger.domain import events as ev
from ledger.domain.acts import ActContext
from ledger.domain.policy import Policy
from ledger.domain.subject import DataSubject
from ledger.domain.values import Erased
from ledger.errors import PolicyViolation
from tests.unit.aggregate_rules import POLICY, T0, refused

_ids = itertools.count(1)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")

CUSTOMER = {
    "name": "Sanne", "business-email": "s@example.nl", "business-phone": "+31 20 1",
    "organisation-name": "Bakkerij", "invoice-details": "INV-1", "payment-details": "NL91",
}


def act(days: float = 0) -> ActContext:
    return ActContext(f"act-{next(_ids)}", "crm", T0 + timedelta(days=days))


def subject() -> DataSubject:
    s = DataSubject.register(uuid4(), POLICY, act())
    s.collect_events()
    return s


def customer() -> DataSubject:
    s = subject()
    s.collect(POLICY, act(), purpose="service-delivery", values=CUSTOMER,
              source_system="crm", legal_basis="contract")
    s.collect_events()
    return s


def processing_refused(rule: str, s: DataSubject, *, purpose: str = "service-delivery",
                       operation: str = "use", category: str = "name", days: float = 0) -> None:
    refused(rule, lambda: s.process(POLICY, act(days), purpose=purpose, operation=operation,
                                    categories=[category]), s)


def recorded(s: DataSubject, event_type: type[ev.SubjectEvent]) -> ev.SubjectEvent:
    pending = s.collect_events()
    assert [type(e) for e in pending] == [event_type]
    event = pending[0]
    assert isinstance(event, event_type)
    assert event.policy_version == POLICY.version
    assert event.actor == "crm"
    return event


# -- collection -------------------------------------------------------------------------

def test_collection_is_recorded_with_scopes_per_category() -> None:
    s = subject()
    s.collect(POLICY, act(), purpose="service-delivery", values=CUSTOMER,
              source_system="crm", legal_basis="contract")
    event = recorded(s, ev.DataCollected)
    assert isinstance(event, ev.DataCollected)
    # Fiscal data per fiscal year, ordinary data per purpose (each its own key).
    assert event.scopes["invoice-details"] == "fiscal-2025"
    assert event.scopes["name"] == "general-service-delivery"
    assert event.role == "controller"
    assert event.controller == POLICY.controller


@pytest.mark.parametrize(("rule", "purpose", "values", "legal_basis"), [
    ("category-not-in-purpose", "service-delivery", {"job-title": "CTO"}, "contract"),
    ("legal-basis-not-allowed", "webinar-event", {"name": "x"}, "legitimate-interest"),
])
def test_a_category_or_legal_basis_the_purpose_does_not_list_is_refused(
    rule: str, purpose: str, values: dict[str, str], legal_basis: str,
) -> None:
    s = subject()
    refused(rule, lambda: s.collect(POLICY, act(), purpose=purpose, values=values,
                                    source_system="crm", legal_basis=legal_basis), s)


def test_unknown_purpose_is_refused_naming_the_known_ones() -> None:
    s = subject()
    with pytest.raises(PolicyViolation, match="known: contact") as caught:
        s.collect(POLICY, act(), purpose="newsletter", values={"name": "x"},
                  source_system="crm", legal_basis="contract")
    assert caught.value.rule == "unknown-purpose"


def test_consent_based_purpose_needs_live_consent_before_collection() -> None:
    s = subject()
    values = {"name": "Pieter", "business-email": "p@example.nl"}
    refused("consent-required", lambda: s.collect(
        POLICY, act(), purpose="demo-request", values=values, source_system="web",
        legal_basis="consent"), s)
    s.give_consent(POLICY, act(), purpose="demo-request", channel="web-form",
                   notice_version="2021-12-24", proof_ref="form/1")
    recorded(s, ev.ConsentGiven)
    s.collect(POLICY, act(), purpose="demo-request", values=values, source_system="web",
              legal_basis="consent")
    recorded(s, ev.DataCollected)


def test_processor_purpose_records_the_customer_as_controller() -> None:
    s = subject()
    refused("controller-required", lambda: s.collect(
        POLICY, act(), purpose="customer-environment", values={"name": "x"},
        source_system="saas", legal_basis="contract"), s)
    s.collect(POLICY, act(), purpose="customer-environment", values={"name": "x"},
              source_system="saas", legal_basis="contract", controller="Gemeente Voorbeeld")
    event = recorded(s, ev.DataCollected)
    assert isinstance(event, ev.DataCollected)
    assert (event.role, event.controller) == ("processor", "Gemeente Voorbeeld")


def test_requests_of_end_users_go_to_their_controller() -> None:
    s = subject()
    s.collect(POLICY, act(), purpose="customer-environment", values={"name": "x"},
              source_system="saas", legal_basis="contract", controller="Gemeente Voorbeeld")
    s.collect_events()
    refused("request-to-controller", lambda: s.request_access(
        POLICY, act(), request_ref="R1", channel="email"), s)
    refused("request-to-controller", lambda: s.request_erasure(
        POLICY, act(), request_ref="R1", channel="email"), s)


# -- processing and sharing ----------------------------------------------------------------

def test_processing_of_held_data_is_recorded() -> None:
    s = customer()
    s.process(POLICY, act(), purpose="service-delivery", operation="invoice",
              categories=["invoice-details"])
    recorded(s, ev.DataProcessed)


def test_processing_data_not_held_is_refused() -> None:
    s = customer()
    processing_refused("not-held", s, category="gender")
    processing_refused("not-held", s, purpose="contact")


def test_processing_after_consent_withdrawal_is_refused() -> None:
    s = subject()
    s.give_consent(POLICY, act(), purpose="demo-request", channel="web-form",
                   notice_version="2021-12-24", proof_ref="form/1")
    s.collect(POLICY, act(), purpose="demo-request", values={"name": "x"},
              source_system="web", legal_basis="consent")
    s.collect_events()
    s.withdraw_consent(POLICY, act(), purpose="demo-request", channel="email",
                       proof_ref="ticket/1")
    recorded(s, ev.ConsentWithdrawn)
    processing_refused("consent-required", s, purpose="demo-request", operation="contact")


def test_withdrawal_blocks_use_even_where_consent_was_an_extra_basis() -> None:
    s = customer()
    s.give_consent(POLICY, act(), purpose="service-delivery", channel="portal",
                   notice_version="2021-12-24", proof_ref="p/1")
    s.withdraw_consent(POLICY, act(), purpose="service-delivery", channel="portal",
                       proof_ref="p/2")
    s.collect_events()
    processing_refused("consent-withdrawn", s)


def test_withdrawing_consent_that_is_not_live_is_refused() -> None:
    s = customer()
    refused("no-live-consent", lambda: s.withdraw_consent(
        POLICY, act(), purpose="demo-request", channel="email", proof_ref="t/1"), s)


def test_unsubscribe_blocks_direct_marketing_but_not_service() -> None:
    s = customer()
    s.object(POLICY, act(), ground="direct-marketing", purpose=None,
             channel="email-unsubscribe-link")
    recorded(s, ev.ObjectionRaised)
    processing_refused("objection", s, operation="direct-marketing", category="business-email")
    s.process(POLICY, act(), purpose="service-delivery", operation="invoice",
              categories=["invoice-details"])
    recorded(s, ev.DataProcessed)


def test_objection_to_a_purpose_blocks_its_processing() -> None:
    s = customer()
    refused("purpose-required", lambda: s.object(
        POLICY, act(), ground="particular-situation", purpose=None, channel="email"), s)
    s.object(POLICY, act(), ground="particular-situation", purpose="service-delivery",
             channel="email")
    recorded(s, ev.ObjectionRaised)
    processing_refused("objection", s)


def test_restriction_allows_storage_only_until_lifted() -> None:
    s = customer()
    s.restrict(POLICY, act(), request_ref="R-1", reason="accuracy-contested")
    recorded(s, ev.RestrictionApplied)
    processing_refused("restricted", s)
    refused("restricted", lambda: s.share(
        POLICY, act(), purpose="service-delivery", recipient="Mailhouse",
        recipient_kind="it-supplier", ground="processor", categories=["name"]), s)
    s.process(POLICY, act(), purpose="service-delivery", operation="store",
              categories=["name"])
    recorded(s, ev.DataProcessed)
    refused("no-such-restriction", lambda: s.lift_restriction(
        POLICY, act(), request_ref="R-2"), s)
    s.lift_restriction(POLICY, act(), request_ref="R-1")
    recorded(s, ev.RestrictionLifted)
    s.process(POLICY, act(), purpose="service-delivery", operation="use", categories=["name"])
    recorded(s, ev.DataProcessed)


def test_sharing_to_an_allowed_recipient_kind_is_recorded() -> None:
    s = customer()
    s.share(POLICY, act(), purpose="service-delivery", recipient="Mailhouse",
            recipient_kind="it-supplier", ground="processor", categories=["name"])
    event = recorded(s, ev.DataShared)
    assert isinstance(event, ev.DataShared)
    assert event.recipient == "Mailhouse"
    assert s.state.disclosures[0].recipient_kind == "it-supplier"


@pytest.mark.parametrize(("rule", "recipient_kind", "ground"), [
    # A recipient kind the purpose does not list.
    ("recipient-kind-not-allowed", "event-organiser", "service-delivery"),
    # Sharing on consent needs live consent.
    ("consent-required", "business-partner", "consent"),
])
def test_sharing_the_purpose_does_not_allow_is_refused(
    rule: str, recipient_kind: str, ground: str,
) -> None:
    s = customer()
    refused(rule, lambda: s.share(
        POLICY, act(), purpose="service-delivery", recipient="Partner",
        recipient_kind=recipient_kind, ground=ground, categories=["name"]), s)


def test_legal_obligation_disclosure_is_allowed_under_restriction() -> None:
    s = customer()
    s.restrict(POLICY, act(), request_ref="R-1", reason="needed-for-legal-claims")
    s.collect_events()
    s.share(POLICY, act(), purpose="service-delivery", recipient="Belastingdienst",
            recipient_kind="public-authority", ground="legal-obligation",
            categories=["invoice-details"])
    recorded(s, ev.DataShared)


def test_collection_during_a_restriction_is_refused() -> None:
    s = customer()
    s.restrict(POLICY, act(), request_ref="R-1", reason="unlawful-processing")
    s.collect_events()
    refused("restricted", lambda: s.collect(
        POLICY, act(), purpose="service-delivery", values={"gender": "v"},
        source_system="crm", legal_basis="contract"), s)


# -- rectification, requests, erasure ------------------------------------------------------

def test_rectification_replaces_held_values() -> None:
    s = customer()
    s.rectify(POLICY, act(), purpose="service-delivery", values={"name": "Sanne B."},
              request_ref="R-9")
    recorded(s, ev.DataRectified)
    assert s.state.holdings["service-delivery"]["name"] == "Sanne B."
    refused("not-held", lambda: s.rectify(
        POLICY, act(), purpose="service-delivery", values={"gender": "v"},
        request_ref="R-9"), s)


def test_access_request_is_opened_and_fulfilled_once() -> None:
    s = customer()
    s.request_access(POLICY, act(), request_ref="DSAR-1", channel="email")
    recorded(s, ev.AccessRequested)
    refused("duplicate-request", lambda: s.request_access(
        POLICY, act(), request_ref="DSAR-1", channel="email"), s)
    s.fulfil_access(POLICY, act(), request_ref="DSAR-1", export_ref="export/1")
    recorded(s, ev.AccessFulfilled)
    refused("no-such-request", lambda: s.fulfil_access(
        POLICY, act(), request_ref="DSAR-1", export_ref="export/1"), s)


def _erase(s: DataSubject, days: float = 1) -> list[ev.SubjectEvent]:
    s.request_erasure(POLICY, act(days), request_ref="E-1", channel="email")
    recorded(s, ev.ErasureRequested)
    refused("duplicate-request", lambda: s.request_erasure(
        POLICY, act(days), request_ref="E-1", channel="email"), s)
    when = act(days + 0.1)
    plan = s.erasure_plan(POLICY, when.occurred_at)
    s.complete_erasure(POLICY, when, request_ref="E-1", plan=plan,
                       destroyed_key_ids=["k1"])
    return list(s.collect_events())  # type: ignore[arg-type]


def test_erasure_is_refused_in_part_for_fiscal_records() -> None:
    s = customer()
    events = _erase(s)
    assert [type(e) for e in events] == [ev.ErasureRefusedInPart, ev.ErasureCompleted]
    refusal, completion = events
    assert isinstance(refusal, ev.ErasureRefusedInPart)
    assert refusal.kept_scope == "fiscal-2025"
    assert "fiscal" in refusal.legal_reason.lower()
    assert refusal.kept_until == datetime(2033, 1, 1, tzinfo=AMSTERDAM)
    assert isinstance(completion, ev.ErasureCompleted)
    assert completion.scopes == ["general-service-delivery"]
    held = s.state.holdings["service-delivery"]
    assert held["name"] == Erased("general-service-delivery")
    assert held["invoice-details"] == "INV-1"


def test_kept_fiscal_records_may_be_stored_and_nothing_else() -> None:
    s = customer()
    _erase(s)
    processing_refused("restricted", s, category="invoice-details", days=2)
    processing_refused("subject-erased", s, days=2)
    s.process(POLICY, act(2), purpose="service-delivery", operation="store",
              categories=["invoice-details"])
    recorded(s, ev.DataProcessed)


def test_new_data_for_an_erased_subject_needs_a_new_collection() -> None:
    s = customer()
    _erase(s)
    refused("subject-erased", lambda: s.rectify(
        POLICY, act(2), purpose="service-delivery", values={"name": "x"},
        request_ref="R"), s)
    s.collect(POLICY, act(3), purpose="contact", values={"name": "again"},
              source_system="web", legal_basis="legitimate-interest")
    recorded(s, ev.DataCollected)
    s.rectify(POLICY, act(3), purpose="contact", values={"name": "again!"}, request_ref="R")
    recorded(s, ev.DataRectified)


def test_completing_an_erasure_that_was_not_requested_is_refused() -> None:
    s = customer()
    plan = s.erasure_plan(POLICY, T0)
    refused("no-such-request", lambda: s.complete_erasure(
        POLICY, act(), request_ref="E-404", plan=plan, destroyed_key_ids=[]), s)


def test_legal_hold_keeps_every_scope_from_erasure_until_released() -> None:
    s = customer()
    refused("unknown-scope", lambda: s.place_legal_hold(
        POLICY, act(), hold_ref="H-1", reason="litigation", scopes=["bogus"]), s)
    s.place_legal_hold(POLICY, act(), hold_ref="H-1", reason="litigation", scopes=[])
    recorded(s, ev.LegalHoldPlaced)
    plan = s.erasure_plan(POLICY, T0 + timedelta(days=1))
    assert plan.shred == frozenset()
    assert set(plan.keep) == {"general-service-delivery", "fiscal-2025"}
    assert plan.keep["general-service-delivery"].until is None
    refused("no-such-hold", lambda: s.release_legal_hold(POLICY, act(), hold_ref="H-2"), s)
    s.release_legal_hold(POLICY, act(), hold_ref="H-1")
    recorded(s, ev.LegalHoldReleased)
    assert s.erasure_plan(POLICY, T0 + timedelta(days=1)).shred == {
        "general-service-delivery"}


def test_fiscal_scope_is_shredded_once_its_retention_ends() -> None:
    s = customer()
    _erase(s)
    due = datetime(2033, 1, 1, tzinfo=AMSTERDAM)
    early = ActContext("a-early", "retention", due - timedelta(days=1))
    refused("retention-not-due", lambda: s.expire_retention(
        POLICY, early, scope="fiscal-2025", due_at=due, destroyed_key_ids=[]), s)
    s.expire_retention(POLICY, ActContext("a-due", "retention", due), scope="fiscal-2025",
                       due_at=due, destroyed_key_ids=["k2"])
    assert [type(e) for e in s.collect_events()] == [ev.RetentionExpired]
    assert s.state.holdings["service-delivery"]["invoice-details"] == Erased("fiscal-2025")
    assert not s.state.restrictions


def test_contract_end_and_purpose_fulfilment_need_held_data() -> None:
    s = customer()
    refused("not-held", lambda: s.end_contract(POLICY, act(), purpose="webinar-event"), s)
    s.end_contract(POLICY, act(), purpose="service-delivery")
    recorded(s, ev.ContractEnded)
    refused("not-held", lambda: s.fulfil_purpose(POLICY, act(), purpose="contact"), s)
    s.fulfil_purpose(POLICY, act(), purpose="service-delivery")
    recorded(s, ev.PurposeFulfilled)


def test_business_transfer_must_keep_the_original_purposes() -> None:
    s = customer()
    refused("transfer-changes-purpose", lambda: s.transfer_controller(
        POLICY, act(), new_controller="Acme", transfer_kind="acquisition",
        purposes=["service-delivery", "demo-request"]), s)
    refused("unknown-transfer-kind", lambda: s.transfer_controller(
        POLICY, act(), new_controller="Acme", transfer_kind="gift",
        purposes=["service-delivery"]), s)
    s.transfer_controller(POLICY, act(), new_controller="Acme", transfer_kind="acquisition",
                          purposes=["service-delivery"])
    recorded(s, ev.ControllerTransferred)


def test_a_request_about_data_we_process_for_a_customer_is_forwarded_to_it() -> None:
    """Art. 28(3)(e), 5(2): an end user's request goes to the customer (the controller)
    and leaves a trace here; one about data we control is ours to answer."""
    end_user = subject()
    end_user.collect(POLICY, act(), purpose="customer-environment", values={
        "name": "E", "business-email": "e@acme.nl"}, source_system="saas",
        legal_basis="contract", controller="Acme Zorg B.V.")
    end_user.collect_events()
    refused("request-to-controller", lambda: end_user.request_access(
        POLICY, act(), request_ref="DSAR-1", channel="email"), end_user)
    refused("unknown-controller", lambda: end_user.forward_request(
        POLICY, act(), request_ref="DSAR-1", request_kind="access", channel="email",
        forwarded_to="Gemeente Delft"), end_user)
    end_user.forward_request(POLICY, act(), request_ref="DSAR-1", request_kind="access",
                             channel="email", forwarded_to="Acme Zorg B.V.")
    event = recorded(end_user, ev.RequestForwarded)
    assert isinstance(event, ev.RequestForwarded)
    assert (event.request_kind, event.forwarded_to) == ("access", "Acme Zorg B.V.")
    refused("duplicate-request", lambda: end_user.forward_request(
        POLICY, act(), request_ref="DSAR-1", request_kind="erasure", channel="email",
        forwarded_to="Acme Zorg B.V."), end_user)
    ours = customer()
    refused("not-processor", lambda: ours.forward_request(
        POLICY, act(), request_ref="DSAR-2", request_kind="access", channel="email",
        forwarded_to="Acme Zorg B.V."), ours)


def test_every_event_type_is_exercised_by_this_module() -> None:
    # Deadline extensions (art. 12(3)) are exercised in their own module beside this one.
    here = Path(__file__)
    source = here.read_text("utf-8") + here.with_name("test_request_deadlines.py").read_text(
        "utf-8")
    missing = [e.__name__ for e in ev.ALL_EVENTS
               if e is not ev.SubjectRegistered and f"ev.{e.__name__}" not in source]
    assert missing == []


def test_reprs_never_show_personal_values() -> None:
    s = customer()
    s.rectify(POLICY, act(), purpose="service-delivery", values={"name": "CANARY-REPR"},
              request_ref="R")
    event = s.pending_events[0]
    assert "CANARY-REPR" not in repr(event)
    assert "CANARY-REPR" not in repr(s)


def test_events_carry_when_it_happened_and_when_it_was_recorded() -> None:
    s = subject()
    happened = ActContext("a-x", "crm", T0 - timedelta(days=30))
    s.collect(POLICY, happened, purpose="contact", values={"name": "x"},
              source_system="web", legal_basis="legitimate-interest")
    event = recorded(s, ev.DataCollected)
    assert event.occurred_at == T0 - timedelta(days=30)
    assert event.timestamp > event.occurred_at


def test_policy_object_is_the_seed() -> None:
    assert isinstance(POLICY, Policy)
    # The newest revision of the 2021-12-24 statement (revision 1 was "2021-12-24").
    assert (POLICY.version, POLICY.revises) == ("2021-12-24-r2", "2021-12-24")
