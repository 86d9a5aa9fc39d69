"""The record of processing activities is complete (art. 30(1)(a)-(g) and 30(2) GDPR).

Expectations come from the statement (``../shared/seed/privacyverklaring.txt``: its
purposes I-VI, their lists of data, the kinds of third parties in IV, the 7 years of
fiscal law, the "Kennisgeving voor eindgebruikers") and from the article's letters,
not from what the code happens to print. The acts are recorded as upstream systems
record them (`ledger record`), the register is read as an auditor reads it
(`ledger registers ropa`, with and without --json).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import pytest

from tests.cli_helpers import ledger
from tests.legal.helpers import act, recorded_ledger

pytestmark = pytest.mark.e2e

CUSTOMER, END_USER, OTHER_END_USER, ATTENDEE = (str(uuid4()) for _ in range(4))
ACME, DELFT = "Acme Zorg B.V.", "Gemeente Delft"


ACTS = [
    act("c-1", CUSTOMER, "2025-02-20T10:00:00+01:00", type="data-collected",
        purpose="service-delivery", source_system="crm", legal_basis="contract",
        values={"name": "Sanne de Vries", "business-email": "sanne@example.nl",
                "invoice-details": "INV-2025-0042", "payment-details": "NL91 ABNA 0417"}),
    act("c-2", CUSTOMER, "2025-03-02T10:00:00+01:00", type="data-shared",
        purpose="service-delivery", recipient="PostNL", recipient_kind="postal-service",
        ground="service-delivery", categories=["name"]),
    act("c-3", CUSTOMER, "2025-03-03T10:00:00+01:00", type="erasure-requested",
        request_ref="DSAR-9", channel="email"),
    act("e-1", END_USER, "2025-04-01T09:00:00+02:00", type="data-collected",
        purpose="customer-environment", source_system="saas", legal_basis="contract",
        controller=ACME, values={"name": "Eind Gebruiker", "business-email": "eg@acme.nl"}),
    act("e-2", END_USER, "2025-04-02T09:00:00+02:00", type="data-processed",
        purpose="customer-environment", operation="support", categories=["name"]),
    act("e-3", OTHER_END_USER, "2025-04-03T09:00:00+02:00", type="data-collected",
        purpose="customer-environment", source_system="saas", legal_basis="contract",
        controller=DELFT, values={"name": "Ambtenaar", "message-content": "help"}),
    act("w-1", ATTENDEE, "2025-05-01T09:00:00+02:00", type="data-collected",
        purpose="webinar-event", source_system="events", legal_basis="contract",
        values={"name": "Gast", "business-address": "Straat 1, Delft"}),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded_ledger(tmp_path_factory, "ropa", ACTS, erased=(CUSTOMER, "DSAR-9"))


@pytest.fixture(scope="module")
def ropa(data: Path) -> dict[str, Any]:
    result = ledger("registers", "ropa", "--json", data_dir=data)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = orjson.loads(result.stdout)
    return document


def record(ropa: dict[str, Any], purpose: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in ropa["records_of_processing"]
                                 if r["purpose"] == purpose)
    return found


def test_art_30_1_a_ropa_names_the_controller_and_its_contact_details(
        ropa: dict[str, Any]) -> None:
    """"TOPdesk Nederland B.V. en haar gelieerde ondernemingen"; reached "via de
    contactpagina op onze website" or the account manager."""
    controller = ropa["controller"]
    assert "TOPdesk Nederland B.V." in controller["name"]
    assert "contactpagina" in controller["contact_nl"]
    assert "account manager" in controller["contact_en"]


def test_art_30_1_a_ropa_states_that_the_statement_names_no_data_protection_officer(
        ropa: dict[str, Any]) -> None:
    officer = ropa["data_protection_officer"]
    assert officer["named"] is False
    assert officer["name"] is None
    assert "no data protection officer" in officer["note_en"]


def test_art_30_1_b_ropa_states_every_purpose_of_the_statement(
        ropa: dict[str, Any]) -> None:
    """I Onze dienstverlening, II Contact of verzoek om een demo, III Deelname in een
    webinar of evenement, V Website, VI Contact, and the end users' environment."""
    titles = {r["section"]: r["title_nl"] for r in ropa["records_of_processing"]}
    assert titles["I"] == "Onze dienstverlening"
    assert titles["II"] == "Contact of verzoek om een demo"
    assert titles["III"] == "Deelname in een webinar of evenement"
    assert titles["V"] == "Website"
    assert titles["VI"] == "Contact"
    for entry in ropa["records_of_processing"]:
        assert entry["in_policy"]
        assert entry["description"]
        assert entry["description_nl"]
        assert entry["title_en"]
    assert "klantrelatie" in record(ropa, "service-delivery")["description_nl"]


def test_art_30_1_c_ropa_states_the_categories_of_data_subjects(
        ropa: dict[str, Any]) -> None:
    subjects = {r["purpose"]: [s["label_en"] for s in r["data_subjects"]]
                for r in ropa["records_of_processing"]}
    assert subjects["service-delivery"] == ["Customers' contact persons"]
    assert "prospects" in subjects["demo-request"][0]
    assert subjects["webinar-event"] == ["Webinar and event attendees"]
    assert subjects["website"] == ["Website visitors"]
    assert "contact us" in subjects["contact"][0]
    assert "End users" in subjects["customer-environment"][0]


def test_art_30_1_c_ropa_states_the_categories_of_personal_data_allowed_and_used(
        ropa: dict[str, Any]) -> None:
    """Purpose I lists name, phone, email, gender (optional), LinkedIn (optional),
    organisation, payment and invoice details, message content."""
    service = record(ropa, "service-delivery")
    listed = {c["category"]: c["listed"] for c in service["categories"]}
    assert listed == {
        "name": "required", "business-phone": "required", "business-email": "required",
        "gender": "optional", "linkedin-account": "optional",
        "organisation-name": "required", "payment-details": "required",
        "invoice-details": "required", "message-content": "required"}
    used = {c["category"]: c["acts"] for c in service["categories"] if c["acts"]}
    # Collected once each (the sharing of the name counts under recipients).
    assert used == {"name": 1, "business-email": 1, "invoice-details": 1,
                    "payment-details": 1}
    assert {c["label_nl"] for c in service["categories"]} >= {"Factuurgegevens", "Naam"}


def test_art_30_1_d_ropa_states_the_categories_of_recipients(ropa: dict[str, Any]) -> None:
    """IV: IT suppliers, survey tools, postal services, event organisers and venues,
    sponsors, cookie providers; business partners; authorities by law."""
    webinar = record(ropa, "webinar-event")["recipients"]
    assert {k["label_nl"] for k in webinar["kinds"]} >= {
        "Evenementenorganisaties en -locaties", "Sponsoren", "Post- en pakketdiensten"}
    assert all(k["label_en"] for k in webinar["kinds"])
    assert record(ropa, "website")["recipients"]["kinds_allowed"] == ["cookie-provider"]
    used = record(ropa, "service-delivery")["recipients"]["used"]
    assert [(u["recipient"], u["recipient_kind"], u["acts"]) for u in used] == [
        ("PostNL", "postal-service", 1)]


def test_art_30_1_e_ropa_states_that_there_are_no_third_country_transfers(
        ropa: dict[str, Any]) -> None:
    for entry in ropa["records_of_processing"]:
        transfers = entry["third_country_transfers"]
        assert (transfers["stated"], transfers["none"], transfers["transfers"]) == (
            True, True, []), entry["purpose"]


def test_art_30_1_f_ropa_states_retention_including_the_seven_year_fiscal_period(
        ropa: dict[str, Any]) -> None:
    """I: "totdat de termijn van de overeenkomst is verstreken", longer by fiscal law
    (invoices and payment records 7 years); II, III, VI: a reasonable period after the
    purpose is fulfilled."""
    service = record(ropa, "service-delivery")["retention"]
    assert service["rule"]["words_en"] == "Until the end of the contract"
    (fiscal,) = service["statutory"]
    assert fiscal["categories"] == ["invoice-details", "payment-details"]
    assert fiscal["period"] == "P7Y"
    assert fiscal["words_en"] == "7 years after the end of the fiscal year"
    assert "Algemene wet inzake rijksbelastingen" in fiscal["legal_reason_nl"]
    assert "after the purpose is fulfilled" in record(
        ropa, "demo-request")["retention"]["rule"]["words_en"]
    assert record(ropa, "contact")["retention"]["statutory"] == []
    # What the acts did: the erasure kept the fiscal records by law, shredded the rest.
    # (Each fiscal year under a scope of its own; ordinary data per purpose.)
    assert [k["scope"] for k in service["kept_by_law"]] == ["fiscal-2025"]
    assert [e["item"] for e in service["erased"]] == ["general-service-delivery"]


def test_art_30_1_g_ropa_describes_the_security_measures(ropa: dict[str, Any]) -> None:
    measures = " ".join(m["en"] for m in ropa["security_measures"])
    assert "crypto-shredding" in measures
    assert "master key" in measures
    assert "Access control" in measures
    assert record(ropa, "contact")["security_measures"] == ropa["security_measures"]


def test_art_30_2_the_processor_record_lists_each_customer_we_process_for(
        ropa: dict[str, Any]) -> None:
    """"Kennisgeving voor eindgebruikers": the customer organisation is controller, we
    are its processor; art. 30(2)(a)-(b): each controller and what we do for it."""
    record_ = ropa["processor_record"]
    assert "TOPdesk" in record_["processor"]["name"]
    assert [p["purpose"] for p in record_["purposes"]] == ["customer-environment"]
    by_name = {c["controller"]: c for c in record_["controllers"]}
    assert set(by_name) == {ACME, DELFT}
    acme = by_name[ACME]
    assert acme["purposes"] == ["customer-environment"]
    assert {p["item"]: p["acts"] for p in acme["categories_of_processing"]} == {
        "collect": 1, "support": 1}
    assert {c["item"] for c in acme["categories_of_personal_data"]} == {
        "name", "business-email"}
    assert {c["item"] for c in by_name[DELFT]["categories_of_personal_data"]} == {
        "name", "message-content"}
    assert record_["security_measures"]
    assert record_["processor"]["contact_nl"]
    assert {c["item"] for c in record(ropa, "customer-environment")["controllers"]} == {
        ACME, DELFT}


def test_art_5_2_ropa_names_the_policy_revision_each_answer_rests_on(
        ropa: dict[str, Any]) -> None:
    assert ropa["policy_version"] == ropa["policy"]["version"] == "2021-12-24-r2"
    assert [p["item"] for p in ropa["policy"]["published"]] == ["2021-12-24-r2"]
    for entry in ropa["records_of_processing"]:
        assert entry["policy_version"] == "2021-12-24-r2"
    assert {j["item"] for j in record(ropa, "service-delivery")["judged_under"]} == {
        "2021-12-24-r2"}


def test_art_30_1_the_table_for_people_shows_allowances_beside_use(data: Path) -> None:
    people = ledger("registers", "ropa", data_dir=data)
    assert people.returncode == 0, people.stderr
    text = people.stdout
    assert "Record of processing activities (art. 30(1)), policy revision 2021-12-24-r2" in text
    assert "POLICY 2021-12-24-R2 ALLOWS" in text
    assert "ACTS RECORDED" in text
    assert "none named" in text  # the officer
    assert "Customers' contact persons" in text
    assert "PostNL (postal-service) x1" in text
    assert "7 years after the end of" in text
    assert "Processor record (art. 30(2))" in text
    assert ACME in text
    assert DELFT in text


def test_art_30_1_a_fresh_ledger_prints_what_the_policy_allows_not_dashes(
        tmp_path: Path) -> None:
    """Before any act, the record still states the controller, every purpose, its data
    subjects, categories, recipients, transfers and retention (art. 30(1)(a)-(g))."""
    result = ledger("registers", "ropa", data_dir=tmp_path / "fresh")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for words in ("TOPdesk Nederland B.V.", "Customers' contact persons",
                  "Website visitors", "invoice-details", "cookie-provider",
                  "Until the end of the contract", "third countries", "crypto-shredding"):
        assert words in text, words
    aspects = ("data subjects", "categories", "legal bases", "recipients", "retention",
               "third countries")
    allowed = [line[2 + len(name):].split()[0] for line in text.splitlines()
               for name in aspects if line.startswith(f"  {name} ")]
    assert len(allowed) == len(aspects) * 6  # every purpose of the policy
    assert "-" not in allowed
