"""Retention as Dutch law and the statement count it (art. 5(1)(e), 7(3), 17, 18 GDPR).

Expectations come from the law and the statement, not from what the code prints:

- fiscal records are kept 7 years (art. 52 lid 4 AWR, art. 2:10 BW): a record belongs
  to the year it was made in, Dutch time, and may go on 1 January 00:00 Amsterdam time
  of the eighth year after it, whatever the offset of the act and whatever the season;
- each year's records go on their own date: later records keep nothing older alive;
- "bewaard totdat de termijn van de overeenkomst is verstreken" (I) and "verwijderd na
  een redelijke termijn nadat het doeleinde is voltooid" (II, III, VI): each purpose's
  data goes when that purpose ends, not when the last of them does;
- a withdrawn consent takes away the ground of what rested on it alone (art. 7(3),
  17(1)(b)), after the policy's grace period (none in the statement);
- "Als dit niet mogelijk is, wordt de informatie apart opgeslagen zodat er geen gebruik
  meer van gemaakt kan worden": what the law or a hold keeps after its retention is
  restricted to storage (art. 18(2)), by itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from consumers.backends.embedded import EmbeddedBackend
from consumers.composition import open_embedded, open_office_key
from consumers.services.office import enforce_retention
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.domain import events as ev
from ledger.domain.acts import ActContext
from ledger.domain.retention import retention_due, statutory_due
from ledger.domain.subject import DataSubject
from ledger.domain.values import Erased
from ledger.errors import PolicyViolation
from ledger.policy import load_policy, parse_policy, seed_policy_text

POLICY = load_policy()
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
CET = timedelta(hours=1)
# 1 January 2033 00:00 in Amsterdam (winter time, UTC+1): when 2025's records may go.
END_OF_2025_RECORDS = datetime(2032, 12, 31, 23, 0, tzinfo=UTC)
END_OF_2026_RECORDS = datetime(2033, 12, 31, 23, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
_ids = itertools.count(1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def act(when: datetime | str, actor: str = "crm") -> ActContext:
    moment = at(when) if isinstance(when, str) else when
    return ActContext(f"legal-{next(_ids)}", actor, moment)


def bill(subject: DataSubject, when: str, **values: str) -> None:
    """Billing records the subject's invoice details (purpose I, contract) at ``when``."""
    subject.collect(POLICY, act(when), purpose="service-delivery",
                    values=values or {"invoice-details": "INV"}, source_system="billing",
                    legal_basis="contract")


def billed_customer(when: str = "2025-03-01T09:00:00+01:00", **values: str) -> DataSubject:
    """A customer registered and billed at ``when``."""
    subject = DataSubject.register(uuid4(), POLICY, act(when))
    bill(subject, when, **values)
    return subject


def clocked(app: LedgerApplication, now: datetime) -> None:
    """The wall clock as the ledger sees it (a future ``--now`` only plans)."""
    app.time_gate = replace(app.time_gate, clock=lambda: now)


def values_of(app: LedgerApplication, subject: UUID, category: str) -> list[object]:
    """Every value of ``category`` the subject's log holds, read back now."""
    return [e.values[category] for e in app.history(subject)
            if isinstance(e, ev.DataCollected | ev.DataRectified) and category in e.values]


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[EmbeddedBackend]:
    with open_embedded(Settings().with_data_dir(tmp_path / "data")) as opened:
        yield opened


def office(tmp_path: Path) -> Any:
    return open_office_key(Settings().with_data_dir(tmp_path / "data"))


def customer(app: LedgerApplication, when: str, invoice: str, **values: str) -> UUID:
    subject = uuid4()
    app.collect_data(subject, act(when), purpose="service-delivery", source_system="billing",
                     legal_basis="contract",
                     values={"name": f"Klant {invoice}", "invoice-details": invoice, **values})
    return subject


# -- 1. the time zone of the law ----------------------------------------------------------

@pytest.mark.parametrize("collected", [
    "2025-01-15T10:00:00+01:00",  # winter, CET
    "2025-07-15T10:00:00+02:00",  # summer, CEST
    "2025-07-15T08:00:00+00:00",  # the same summer moment, told in UTC
    "2025-12-31T22:59:00+00:00",  # 23:59 on New Year's Eve in Amsterdam: still 2025
    "2025-01-01T00:00:00+01:00",  # the first minute of 2025 in Amsterdam
])
def test_art_52_awr_2025_records_may_go_on_1_january_2033_amsterdam_time(
        collected: str) -> None:
    """Art. 52 lid 4 AWR, art. 2:10 BW: 7 years from the end of the record's year."""
    scope = POLICY.scopes["fiscal"]
    assert statutory_due(scope, at(collected), POLICY.zone) == END_OF_2025_RECORDS
    assert POLICY.scope_for("invoice-details", "service-delivery", at(collected)) == (
        "fiscal-2025")


def test_art_52_awr_an_act_at_2330_utc_on_new_years_eve_is_a_record_of_the_new_year() -> None:
    """2025-12-31T23:30Z is 00:30 on 1 January 2026 in Amsterdam: a 2026 record."""
    new_year = at("2025-12-31T23:30:00+00:00")
    assert POLICY.scope_for("payment-details", "service-delivery", new_year) == "fiscal-2026"
    assert statutory_due(POLICY.scopes["fiscal"], new_year, POLICY.zone) == (
        END_OF_2026_RECORDS)


def test_art_52_awr_summer_and_winter_records_fall_due_at_the_same_instant() -> None:
    """DST: the deadline is 1 January 00:00 in Amsterdam (UTC+1 then), for every record of
    the year, whether it was made in winter (UTC+1) or summer (UTC+2)."""
    winter = billed_customer("2025-01-10T09:00:00+01:00")
    summer = billed_customer("2025-07-10T09:00:00+02:00")
    (winter_due,) = [d for s, d in retention_due(POLICY, winter.state).items()
                     if s.startswith("fiscal")]
    (summer_due,) = [d for s, d in retention_due(POLICY, summer.state).items()
                     if s.startswith("fiscal")]
    assert winter_due == summer_due == datetime(2033, 1, 1, tzinfo=AMSTERDAM)
    assert winter_due is not None
    assert winter_due.utcoffset() == CET
    assert winter_due.isoformat() == "2033-01-01T00:00:00+01:00"
    assert winter_due == END_OF_2025_RECORDS


def test_art_52_awr_enforcement_a_minute_before_shreds_nothing_and_a_minute_after_the_year(
        backend: EmbeddedBackend, tmp_path: Path) -> None:
    """The clock injected one minute before 1 January 2033 00:00 Amsterdam: nothing is
    shredded; one minute after: the 2025 records of summer and winter are, and nothing
    else (the 2026 invoice, the ordinary data of the running contract)."""
    app, key = backend.app, office(tmp_path)
    winter = customer(app, "2025-01-20T11:00:00+01:00", "INV-2025-W")
    summer = customer(app, "2025-08-20T11:00:00+02:00", "INV-2025-S")
    # The winter customer's next invoice is of 2026 in Amsterdam, though 2025 in UTC.
    app.collect_data(winter, act("2025-12-31T23:30:00+00:00", "billing"),
                     purpose="service-delivery", source_system="billing",
                     legal_basis="contract", values={"invoice-details": "INV-2026-1"})

    before = END_OF_2025_RECORDS - MINUTE
    clocked(app, before)
    report = enforce_retention(backend, key, before, wait_s=0)
    assert (report.expired, report.held, report.pending) == ([], [], [])
    assert values_of(app, winter, "invoice-details") == ["INV-2025-W", "INV-2026-1"]
    assert values_of(app, summer, "invoice-details") == ["INV-2025-S"]

    after = END_OF_2025_RECORDS + MINUTE
    clocked(app, after)
    report = enforce_retention(backend, key, after, wait_s=0)
    assert sorted((e["subject_id"], e["scope"]) for e in report.expired) == sorted(
        [(str(winter), "fiscal-2025"), (str(summer), "fiscal-2025")])
    assert values_of(app, winter, "invoice-details") == [Erased("fiscal-2025"), "INV-2026-1"]
    assert values_of(app, summer, "invoice-details") == [Erased("fiscal-2025")]
    # The contract runs on: its ordinary data is held, and used as before.
    assert values_of(app, summer, "name") == ["Klant INV-2025-S"]
    with backend.reading() as reader:
        schedule = {(r["subject_id"], r["scope"]): r for r in reader.retention_schedule(
            now=after)}
    nxt = schedule[(str(winter), "fiscal-2026")]
    assert (nxt["due_at_utc"], nxt["due_at_local"], nxt["status"]) == (
        "2033-12-31T23:00:00+00:00", "2034-01-01T00:00:00+01:00", "scheduled")
    assert (str(winter), "fiscal-2025") not in schedule


def test_art_52_awr_the_subject_view_shows_the_deadline_in_amsterdam_and_in_utc(
        backend: EmbeddedBackend) -> None:
    subject = customer(backend.app, "2025-07-01T10:00:00+02:00", "INV-V")
    with backend.reading() as reader:
        view = reader.subject_view(subject, now=at("2025-07-02T00:00:00+00:00"))
    (fiscal,) = [r for r in view["retention"] if r["scope"] == "fiscal-2025"]
    assert view["time_zone"] == "Europe/Amsterdam"
    assert (fiscal["due_at"], fiscal["due_at_local"], fiscal["due_at_utc"]) == (
        "2033-01-01T00:00:00+01:00", "2033-01-01T00:00:00+01:00",
        "2032-12-31T23:00:00+00:00")
    assert (fiscal["statutory"], fiscal["fiscal_year"]) == (True, 2025)


# -- 2. retention scopes that match the law -----------------------------------------------

def test_art_5_1_e_a_2026_invoice_does_not_keep_a_2025_invoice_alive() -> None:
    """Storage limitation: each fiscal year's records under a key of their own."""
    subject = billed_customer(**{"invoice-details": "INV-2025"})
    bill(subject, "2026-03-01T09:00:00+01:00", **{"invoice-details": "INV-2026"})
    due = retention_due(POLICY, subject.state)
    assert due["fiscal-2025"] == END_OF_2025_RECORDS
    assert due["fiscal-2026"] == END_OF_2026_RECORDS


def test_art_5_1_e_each_purpose_keeps_its_data_under_its_own_scope() -> None:
    """I ends with the contract, VI a reasonable period after the question is handled:
    the same category held for both is two values, under two keys, going apart."""
    subject = DataSubject.register(uuid4(), POLICY, act("2025-03-01T09:00:00+01:00"))
    subject.collect(POLICY, act("2025-03-01T09:00:00+01:00"), purpose="service-delivery",
                    values={"name": "Sanne"}, source_system="crm", legal_basis="contract")
    subject.collect(POLICY, act("2025-03-02T09:00:00+01:00"), purpose="contact",
                    values={"name": "Sanne", "message-content": "Vraag"},
                    source_system="web", legal_basis="legitimate-interest")
    subject.fulfil_purpose(POLICY, act("2025-03-03T09:00:00+01:00"), purpose="contact")
    due = retention_due(POLICY, subject.state)
    # VI: 30 days after the question was handled, counted on Amsterdam's calendar.
    assert due["general-contact"] == datetime(2025, 4, 2, 9, 0, tzinfo=AMSTERDAM)
    assert due["general-service-delivery"] is None  # the contract runs on


def test_art_5_1_e_data_recorded_before_the_split_goes_when_its_last_ground_ends() -> None:
    """Old events carry the policy's own scopes (``general``, ``fiscal``) and keep them:
    ``general`` falls due when the last purpose holding data in it has ended."""
    subject = DataSubject.register(uuid4(), POLICY, act("2024-03-01T09:00:00+01:00"))
    for purpose, basis in (("service-delivery", "contract"),
                           ("contact", "legitimate-interest")):
        subject.trigger_event(
            ev.DataCollected, purpose=purpose, values={"name": "Oud"},
            scopes={"name": "general"}, source_system="crm", legal_basis=basis,
            role="controller", controller=POLICY.controller,
            **act("2024-03-01T09:00:00+01:00").event_fields(POLICY))
    subject.fulfil_purpose(POLICY, act("2024-04-01T09:00:00+02:00"), purpose="contact")
    assert retention_due(POLICY, subject.state) == {"general": None}
    subject.end_contract(POLICY, act("2024-09-01T09:00:00+02:00"), purpose="service-delivery")
    assert retention_due(POLICY, subject.state) == {
        "general": datetime(2024, 9, 1, 9, 0, tzinfo=AMSTERDAM)}


def test_art_17_3_b_a_legal_hold_on_a_policy_scope_keeps_every_year_derived_from_it() -> None:
    subject = billed_customer()
    subject.place_legal_hold(POLICY, act("2025-04-01T09:00:00+02:00"), hold_ref="H-1",
                             reason="litigation", scopes=["fiscal"])
    with pytest.raises(PolicyViolation) as held:
        subject.check_expiry(POLICY, "fiscal-2025", END_OF_2025_RECORDS,
                             END_OF_2025_RECORDS + MINUTE)
    assert held.value.rule == "legal-hold"


# -- 3. consent withdrawn means erasure due -----------------------------------------------

def prospect_and_customer(app: LedgerApplication) -> UUID:
    """A customer contact (I, contract) who also asked for a demo (II, consent)."""
    subject = uuid4()
    app.collect_data(subject, act("2025-02-03T09:00:00+01:00"), purpose="service-delivery",
                     source_system="crm", legal_basis="contract",
                     values={"name": "Sanne de Vries", "business-email": "sanne@example.nl"})
    app.give_consent(subject, act("2025-02-04T09:00:00+01:00", "website"),
                     purpose="demo-request", channel="web-form", notice_version="2021-12-24",
                     proof_ref="form/7")
    app.collect_data(subject, act("2025-02-04T09:01:00+01:00", "website"),
                     purpose="demo-request", source_system="web-form", legal_basis="consent",
                     values={"name": "Sanne de Vries", "job-title": "CTO",
                             "business-email": "sanne@example.nl",
                             "business-phone": "+31 20 555 0101",
                             "organisation-name": "Bakkerij"})
    return subject


WITHDRAWN = "2025-05-05T14:00:00+02:00"


def test_art_7_3_17_1_b_withdrawing_consent_makes_what_rested_on_it_due_at_once(
        backend: EmbeddedBackend, tmp_path: Path) -> None:
    """Art. 17(1)(b): erasure without undue delay once consent is withdrawn and no other
    ground holds the data; the statement sets no grace period. Data the contract (I)
    holds is kept, and the view says on which ground."""
    app, key = backend.app, office(tmp_path)
    subject = prospect_and_customer(app)
    app.withdraw_consent(subject, act(WITHDRAWN, "website"), purpose="demo-request",
                         channel="email", proof_ref="mail/9")
    with backend.reading() as reader:
        schedule = {r["scope"]: r for r in reader.retention_schedule(
            subject_id=subject, now=at(WITHDRAWN))}
        view = reader.subject_view(subject, now=at(WITHDRAWN) + MINUTE)
    demo = schedule["general-demo-request"]
    assert (demo["due_at_utc"], demo["status"]) == ("2025-05-05T12:00:00+00:00", "due")
    assert schedule["general-service-delivery"]["status"] == "awaiting-trigger"
    shown = {(v["purpose"], v["category"]): v for v in view["personal_data"]}
    name = shown[("demo-request", "name")]
    assert (name["ground"]["live"], name["ground"]["ended_by"]) == (False, "consent-withdrawn")
    assert [(k["ground"], k.get("purpose"), k.get("legal_basis")) for k in name["kept_by"]] == [
        ("purpose", "service-delivery", "contract")]
    assert shown[("demo-request", "job-title")]["kept_by"] == []  # held for nothing else
    (retention,) = [r for r in view["retention"] if r["scope"] == "general-demo-request"]
    assert retention["because"] == ["consent-withdrawn"]

    clocked(app, at(WITHDRAWN) + MINUTE)
    report = enforce_retention(backend, key, at(WITHDRAWN) + MINUTE, wait_s=0)
    assert [(e["subject_id"], e["scope"]) for e in report.expired] == [
        (str(subject), "general-demo-request")]
    held = app.subject(subject).state.holdings
    assert all(isinstance(v, Erased) for v in held["demo-request"].values())
    assert held["service-delivery"] == {"name": "Sanne de Vries",
                                        "business-email": "sanne@example.nl"}
    # The address is still held (for the contract): the person can still be found.
    assert app.find_subject("email", "sanne@example.nl") == subject


def test_art_7_3_data_held_on_consent_alone_waits_for_the_policys_grace_period() -> None:
    """A policy may give a grace period after a withdrawal (the seed gives none)."""
    lenient = parse_policy(seed_policy_text().replace(
        'consent_withdrawal_grace_period = "P0D"', 'consent_withdrawal_grace_period = "P14D"'))
    subject = DataSubject.register(uuid4(), lenient, act("2025-02-04T09:00:00+01:00"))
    subject.give_consent(lenient, act("2025-02-04T09:00:00+01:00"), purpose="demo-request",
                         channel="web-form", notice_version="2021-12-24", proof_ref="f/1")
    subject.collect(lenient, act("2025-02-04T09:01:00+01:00"), purpose="demo-request",
                    values={"name": "N"}, source_system="web-form", legal_basis="consent")
    assert retention_due(lenient, subject.state) == {"general-demo-request": None}
    subject.withdraw_consent(lenient, act(WITHDRAWN), purpose="demo-request",
                             channel="email", proof_ref="m/1")
    assert retention_due(lenient, subject.state) == {
        "general-demo-request": at(WITHDRAWN) + timedelta(days=14)}
    assert retention_due(POLICY, subject.state) == {"general-demo-request": at(WITHDRAWN)}


def test_art_7_3_consent_given_again_before_the_erasure_keeps_the_data() -> None:
    subject = DataSubject.register(uuid4(), POLICY, act("2025-02-04T09:00:00+01:00"))
    subject.give_consent(POLICY, act("2025-02-04T09:00:00+01:00"), purpose="demo-request",
                         channel="web-form", notice_version="2021-12-24", proof_ref="f/1")
    subject.collect(POLICY, act("2025-02-04T09:01:00+01:00"), purpose="demo-request",
                    values={"name": "N"}, source_system="web-form", legal_basis="consent")
    subject.withdraw_consent(POLICY, act(WITHDRAWN), purpose="demo-request",
                             channel="email", proof_ref="m/1")
    subject.give_consent(POLICY, act("2025-05-06T09:00:00+02:00"), purpose="demo-request",
                         channel="web-form", notice_version="2021-12-24", proof_ref="f/2")
    assert retention_due(POLICY, subject.state) == {"general-demo-request": None}


# -- 4. after retention, restricted by itself ---------------------------------------------

def ended_customer() -> DataSubject:
    subject = billed_customer(**{"name": "N", "invoice-details": "INV"})
    subject.end_contract(POLICY, act("2025-06-30T17:00:00+02:00"), purpose="service-delivery")
    subject.collect_events()
    return subject


def refused_as(rule: str, command: Any) -> PolicyViolation:
    with pytest.raises(PolicyViolation) as refused:
        command()
    assert refused.value.rule == rule
    return refused.value


def test_art_18_2_fiscal_records_kept_after_the_contract_are_stored_only_without_a_request(
        ) -> None:
    """"apart opgeslagen zodat er geen gebruik meer van gemaakt kan worden": after the
    contract ended (I), the invoice the law keeps may be stored, not used or shared; no
    erasure request or restriction is needed for that."""
    subject = ended_customer()
    assert not subject.state.restrictions  # nobody asked for anything
    later = "2025-07-01T09:00:00+02:00"
    for operation in ("use", "invoice", "direct-marketing"):
        refusal = refused_as("restricted", lambda op=operation: subject.process(
            POLICY, act(later), purpose="service-delivery", operation=op,
            categories=["invoice-details"]))
        assert "INV" not in str(refusal)
    refused_as("restricted", lambda: subject.share(
        POLICY, act(later), purpose="service-delivery", recipient="Mailhouse",
        recipient_kind="it-supplier", ground="processor", categories=["invoice-details"]))
    subject.process(POLICY, act(later), purpose="service-delivery", operation="store",
                    categories=["invoice-details"])
    # Art. 18(2): what the law obliges us to hand over still goes (the tax authority).
    subject.share(POLICY, act(later), purpose="service-delivery", recipient="Belastingdienst",
                  recipient_kind="public-authority", ground="legal-obligation",
                  categories=["invoice-details"])
    # Before the end, the same use was allowed: the restriction came with the end.
    before = "2025-06-30T16:59:00+02:00"
    subject.process(POLICY, act(before), purpose="service-delivery", operation="invoice",
                    categories=["invoice-details"])


def test_art_18_2_data_a_legal_hold_keeps_past_its_retention_is_stored_only() -> None:
    subject = billed_customer()
    subject.place_legal_hold(POLICY, act("2032-06-01T09:00:00+02:00"), hold_ref="H-7",
                             reason="regulator-inquiry", scopes=["fiscal"])
    subject.process(POLICY, act(END_OF_2025_RECORDS - MINUTE), purpose="service-delivery",
                    operation="invoice", categories=["invoice-details"])
    refusal = refused_as("restricted", lambda: subject.process(
        POLICY, act(END_OF_2025_RECORDS + MINUTE), purpose="service-delivery",
        operation="invoice", categories=["invoice-details"]))
    assert "H-7" in str(refusal)


def test_art_18_the_view_shows_data_past_its_retention_as_restricted(
        backend: EmbeddedBackend) -> None:
    app = backend.app
    subject = customer(app, "2025-03-01T09:00:00+01:00", "INV-R")
    app.end_contract(subject, act("2025-06-30T17:00:00+02:00"), purpose="service-delivery")
    with backend.reading() as reader:
        during = reader.subject_view(subject, now=at("2025-06-30T16:00:00+02:00"))
        after = reader.subject_view(subject, now=at("2025-07-01T09:00:00+02:00"))
    restricted = {v["category"]: (v["restricted"], v["restricted_because"])
                  for v in after["personal_data"]}
    assert restricted["invoice-details"] == (True, "retention-ended")
    assert {v["category"]: v["restricted"] for v in during["personal_data"]} == {
        "name": False, "invoice-details": False}
    (invoice,) = [v for v in after["personal_data"] if v["category"] == "invoice-details"]
    assert [k["ground"] for k in invoice["kept_by"]] == ["law"]
