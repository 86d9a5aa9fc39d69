"""A business transfer is a change of controller (art. 4(7), 4(9), 14, 15(1)(c), 19, 30).

The statement ("Bedrijfsoverdracht"): in an acquisition, a sale of assets, a financing
or a merger, personal data "worden gedeeld of overgedragen, onder voorwaarde dat de
gegevens daarna nog steeds enkel worden verzameld, verwerkt en gedeeld voor hun
oorspronkelijke doeleinde". From the transfer's date the acquirer decides on the data:
it is the controller (art. 4(7)) the person must be told of (art. 14(1)(a), 15), it
received the data (a recipient, art. 4(9), 15(1)(c), 19), and the record of processing
says so (art. 30(1)(a)). Where we process as processor for a customer, the customer
stays the controller. Acts are recorded as upstream systems record them.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from uuid import uuid4

import pytest

from tests.cli_helpers import ledger
from tests.legal.helpers import act, read_json, recorded_ledger

pytestmark = pytest.mark.e2e

CUSTOMER, END_USER = str(uuid4()), str(uuid4())
ACQUIRER = "Acme Software B.V."
DELFT = "Gemeente Delft"
TRANSFERRED_AT = "2025-09-01T10:00:00+02:00"


ACTS = [
    act("t-1", CUSTOMER, "2025-02-20T10:00:00+01:00", type="data-collected",
        purpose="service-delivery", source_system="crm", legal_basis="contract",
        values={"name": "Sanne de Vries", "business-email": "sanne@example.nl",
                "invoice-details": "INV-2025-0042"}),
    act("t-2", CUSTOMER, "2025-03-02T10:00:00+01:00", type="data-shared",
        purpose="service-delivery", recipient="PostNL", recipient_kind="postal-service",
        ground="service-delivery", categories=["name"]),
    act("t-3", CUSTOMER, TRANSFERRED_AT, type="controller-transferred",
        new_controller=ACQUIRER, transfer_kind="acquisition", purposes=["service-delivery"]),
    act("t-4", CUSTOMER, "2025-10-01T10:00:00+02:00", type="data-collected",
        purpose="service-delivery", source_system="crm", legal_basis="contract",
        values={"business-phone": "+31 20 555 0101"}),
    act("u-1", END_USER, "2025-04-01T09:00:00+02:00", type="data-collected",
        purpose="customer-environment", source_system="saas", legal_basis="contract",
        controller=DELFT, values={"name": "Ambtenaar", "business-email": "a@delft.nl"}),
    act("u-2", END_USER, TRANSFERRED_AT, type="controller-transferred",
        new_controller=ACQUIRER, transfer_kind="acquisition",
        purposes=["customer-environment"]),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded_ledger(tmp_path_factory, "transfers", ACTS)


def test_art_4_7_the_subject_view_shows_the_acquirer_as_controller_from_its_date(
        data: Path) -> None:
    view = read_json(data, "subject", "show", CUSTOMER)
    (service,) = view["purposes"]
    assert (service["role"], service["controller"]) == ("controller", ACQUIRER)
    assert service["controller_since"] == TRANSFERRED_AT
    assert service["transferred"]["transfer_kind"] == "acquisition"
    # Collected after the transfer: for the same purpose, by the same (new) controller.
    assert "business-phone" in {v["category"] for v in view["personal_data"]}


def test_art_28_as_processor_the_customer_stays_the_controller_after_a_transfer(
        data: Path) -> None:
    view = read_json(data, "subject", "show", END_USER)
    (environment,) = view["purposes"]
    assert (environment["role"], environment["controller"]) == ("processor", DELFT)
    assert environment["controller_since"] is None
    export = read_json(data, "dsar", "export", END_USER)
    assert export["controller_details"]["transferred_to"] == []


def test_art_15_1_c_the_acquirer_is_a_recipient_of_what_was_held_then(data: Path) -> None:
    """Art. 4(9), 15(1)(c): the acquirer received the data held for the purpose."""
    view = read_json(data, "subject", "show", CUSTOMER)
    got = {r["recipient"]: r for r in view["recipients"]}
    assert set(got) == {"PostNL", ACQUIRER}
    assert (got[ACQUIRER]["recipient_kind"], got[ACQUIRER]["ground"]) == (
        "acquirer", "acquisition")
    assert got[ACQUIRER]["categories"] == ["business-email", "invoice-details", "name"]
    assert got[ACQUIRER]["occurred_at"] == TRANSFERRED_AT
    export = read_json(data, "dsar", "export", CUSTOMER)
    named = {r["recipient"]: r for r in export["recipients"]["named"]}
    assert (named[ACQUIRER]["kind_nl"], named[ACQUIRER]["kind_en"]) == (
        "Nieuwe verwerkingsverantwoordelijke na een bedrijfsoverdracht",
        "New controller after a business transfer")


def test_art_14_1_a_15_the_export_names_the_new_controller(data: Path) -> None:
    export = read_json(data, "dsar", "export", CUSTOMER)
    (moved,) = export["controller_details"]["transferred_to"]
    assert (moved["name"], moved["since"], moved["purposes"]) == (
        ACQUIRER, TRANSFERRED_AT, ["service-delivery"])
    assert (moved["transfer_kind_nl"], moved["transfer_kind_en"]) == ("Overname", "Acquisition")


def test_art_12_1_the_html_report_shows_the_new_controller_in_words(
        data: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    result = ledger("dsar", "export", CUSTOMER, "--html", str(report), data_dir=data)
    assert result.returncode == 0, result.stderr
    text = html.unescape(re.sub(r"<[^>]+>", " ", report.read_text("utf-8")))
    assert ACQUIRER in text
    assert "Verwerkingsverantwoordelijke sinds" in text
    assert "Controller since" in text
    assert "Nieuwe verwerkingsverantwoordelijke na een bedrijfsoverdracht" in text
    assert "Overname" in text
    for code in ("acquirer", "acquisition", "ControllerTransferred"):
        assert not re.search(rf"(?<![\w-]){code}(?![\w-])", text), code


def test_art_19_the_disclosure_register_lists_the_acquirer(data: Path) -> None:
    registers = read_json(data, "registers", "disclosures")
    entries = {r["recipient"]: r for r in registers["disclosures"]["items"]}
    acquirer = entries[ACQUIRER]
    assert acquirer["recipient_kinds"] == ["acquirer"]
    subjects = {s["subject_id"]: s for s in acquirer["subjects"]}
    assert set(subjects) == {CUSTOMER, END_USER}
    assert subjects[CUSTOMER]["purposes"] == ["service-delivery"]
    assert subjects[CUSTOMER]["categories"] == ["business-email", "invoice-details", "name"]


def test_art_30_1_a_the_record_of_processing_records_the_transfer(data: Path) -> None:
    ropa = read_json(data, "registers", "ropa")
    records = {r["purpose"]: r for r in ropa["records_of_processing"]}
    (moved,) = records["service-delivery"]["controller_transfers"]
    assert (moved["new_controller"], moved["transfer_kind"], moved["acts"]) == (
        ACQUIRER, "acquisition", 1)
    assert moved["first_at"].startswith("2025-09-01")
    assert records["demo-request"]["controller_transfers"] == []
    (overall,) = ropa["controller_transfers"]
    assert (overall["new_controller"], overall["acts"]) == (ACQUIRER, 2)
    people = ledger("registers", "ropa", data_dir=data)
    assert "transferred to" in people.stdout
    assert ACQUIRER in people.stdout
