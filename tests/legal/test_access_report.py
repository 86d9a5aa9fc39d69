"""The access report is complete (art. 15(1)(a)-(h), 15(2), 15(3), 12(1) GDPR).

What a person must be told comes from art. 15 and, for its content, from the statement
(``../shared/seed/privacyverklaring.txt``): its purposes, its kinds of third parties,
"totdat de termijn van de overeenkomst is verstreken" and the 7 fiscal years, the
rights it lists ("kopie", "bezwaar", "verwijderen of af te laten schermen",
"elektronische weergave", correction), and the Dutch supervisory authority. The HTML
report is opened in headless Chromium (Debian's package) and its rendered text is
checked item by item, in Dutch and in English; a screenshot is kept.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import pytest

from ledger.policy import load_policy
from tests.cli_helpers import ledger
from tests.legal.chromium import rendered_text, screenshot
from tests.legal.helpers import act, recorded_ledger

pytestmark = pytest.mark.e2e

ANNE, BERT = str(uuid4()), str(uuid4())
FIRST_NAME, NEW_NAME = "Anne <van Dijk> & Zn", "Anne van Dijk"


ACTS = [
    # Winter: 10:00 in Amsterdam is 09:00 UTC.
    act("a-1", ANNE, "2025-02-20T09:00:00Z", type="data-collected",
        purpose="service-delivery", source_system="crm", legal_basis="contract",
        values={"name": FIRST_NAME, "business-email": "anne@example.nl",
                "invoice-details": "INV-2025-7", "payment-details": "NL91 ABNA 0417"}),
    act("a-2", ANNE, "2025-02-25T10:00:00+01:00", type="consent-given",
        purpose="demo-request", channel="web-form", notice_version="2021-12-24",
        proof_ref="form/881"),
    act("a-3", ANNE, "2025-03-02T10:00:00+01:00", type="data-shared",
        purpose="service-delivery", recipient="PostNL", recipient_kind="postal-service",
        ground="service-delivery", categories=["name"]),
    # Summer: 10:00 in Amsterdam is 08:00 UTC.
    act("a-4", ANNE, "2025-07-01T08:00:00Z", type="data-rectified",
        purpose="service-delivery", request_ref="R-1", values={"name": NEW_NAME}),
    act("a-5", ANNE, "2025-07-02T10:00:00+02:00", type="access-requested",
        request_ref="DSAR-1", channel="email"),
    act("b-1", BERT, "2025-03-10T10:00:00+01:00", type="data-collected",
        purpose="service-delivery", source_system="crm", legal_basis="contract",
        values={"name": "Bert", "invoice-details": "INV-2025-8"}),
    act("b-2", BERT, "2025-03-11T10:00:00+01:00", type="erasure-requested",
        request_ref="DSAR-2", channel="email"),
]
# Codes the report must show as words (art. 12(1)): the policy's own keys, the fixed
# vocabularies' codes, event class names.
RAW_CODES = (
    *(k for k in load_policy().purposes if "-" in k),
    *(k for k in load_policy().categories if "-" in k),
    *load_policy().recipient_kinds, "kept-by-law", "legitimate-interest", "web-form",
    "fiscal-year-end", "contract-ended", "DataCollected", "DataRectified", "DataShared",
    "ConsentGiven", "SubjectRegistered", "AccessRequested", "ErasureRefusedInPart",
    "PolicyVersionPublished",
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded_ledger(tmp_path_factory, "access", ACTS, erased=(BERT, "DSAR-2"))


def export_of(data: Path, subject: str) -> dict[str, Any]:
    result = ledger("dsar", "export", subject, "--json", data_dir=data)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = orjson.loads(result.stdout)
    return document


@pytest.fixture(scope="module")
def anne(data: Path) -> dict[str, Any]:
    return export_of(data, ANNE)


@pytest.fixture(scope="module")
def bert(data: Path) -> dict[str, Any]:
    return export_of(data, BERT)


@pytest.fixture(scope="module")
def reports(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Anne's HTML report side by side, in Dutch only and in English only; Bert's."""
    where = tmp_path_factory.mktemp("reports")
    made = {"both": where / "anne.html", "nl": where / "anne-nl.html",
            "en": where / "anne-en.html", "bert": where / "bert.html"}
    for lang, path in made.items():
        subject = BERT if lang == "bert" else ANNE
        extra = ["--lang", lang] if lang in ("nl", "en") else []
        result = ledger("dsar", "export", subject, "--html", str(path), *extra, data_dir=data)
        assert result.returncode == 0, result.stderr
    return made


# -- the JSON export -------------------------------------------------------------------------

def test_art_15_the_export_keeps_every_key_it_had(anne: dict[str, Any]) -> None:
    assert {"format", "format_version", "generated_at", "position", "controller",
            "policy_version", "subject", "recorded_values", "purposes", "acts"} <= set(anne)
    assert anne["format"] == "personal-data-ledger/dsar-export"


def test_art_15_1_a_the_export_states_the_purposes_in_both_languages(
        anne: dict[str, Any]) -> None:
    purposes = {p["purpose"]: p for p in anne["purposes"]}
    service = purposes["service-delivery"]
    assert (service["title_nl"], service["title_en"]) == ("Onze dienstverlening",
                                                          "Our services")
    assert "klantrelatie" in service["description_nl"]
    assert "customer relationship" in service["description"]
    assert service["legal_bases"] == ["contract", "legitimate-interest"]


def test_art_15_1_b_the_export_states_the_categories_held(anne: dict[str, Any]) -> None:
    held = {(v["category"], v["label_nl"], v["label_en"])
            for v in anne["subject"]["personal_data"]}
    assert ("invoice-details", "Factuurgegevens", "Invoice details") in held
    assert ("name", "Naam", "Name") in held


def test_art_15_1_c_the_export_names_recipients_by_name_and_by_kind(
        anne: dict[str, Any]) -> None:
    """"IV. Derden": postal services among the kinds purpose I may share with."""
    (named,) = anne["recipients"]["named"]
    assert (named["recipient"], named["kind_nl"], named["kind_en"]) == (
        "PostNL", "Post- en pakketdiensten", "Postal and parcel services")
    kinds = {k["kind"]: k for k in anne["recipients"]["kinds"]}
    assert {"it-supplier", "postal-service", "survey-tool", "business-partner",
            "public-authority"} <= set(kinds)
    assert kinds["it-supplier"]["en"] == "IT suppliers and service providers"


def test_art_15_1_d_the_export_gives_retention_per_category(anne: dict[str, Any]) -> None:
    """I: until the contract has ended; invoices and payments 7 years by fiscal law."""
    rows = {(r["purpose"], r["category"]): r for r in anne["retention_by_category"]}
    name = rows[("service-delivery", "name")]
    assert name["rule_nl"] == "Tot het einde van de overeenkomst"
    assert name["rule_en"] == "Until the end of the contract"
    assert name["statutory_en"] is None
    invoice = rows[("service-delivery", "invoice-details")]
    assert "7 years after the end of the fiscal year" in invoice["statutory_en"]
    assert "Algemene wet inzake rijksbelastingen" in invoice["statutory_nl"]
    # 2025's records are kept until 1 January 2033, 00:00 in Amsterdam.
    assert invoice["due_at"].startswith("2033-01-01T00:00:00")


def test_art_15_1_d_the_export_says_why_data_is_kept_past_an_erasure(
        bert: dict[str, Any]) -> None:
    rows = {r["category"]: r for r in bert["retention_by_category"]}
    assert rows["name"]["status"] == "erased"
    assert rows["name"]["kept_past_erasure"] is None
    kept = rows["invoice-details"]["kept_past_erasure"]
    assert kept["request_ref"] == "DSAR-2"
    assert "Fiscale wet" in kept["reason_nl"]
    assert "fiscal law" in kept["reason_en"]
    assert kept["until"].startswith("2033-01-01T00:00:00")


def test_art_15_1_e_the_export_states_each_right(anne: dict[str, Any]) -> None:
    """Rectification (16), erasure (17), restriction (18), portability (20),
    objection (21), besides access (15) and withdrawing consent (7(3))."""
    rights = {r["right"]: r for r in anne["rights"]["rights"]}
    assert {right: rights[right]["article"] for right in (
        "access", "rectification", "erasure", "restriction", "portability", "objection")} == {
        "access": "15", "rectification": "16", "erasure": "17", "restriction": "18",
        "portability": "20", "objection": "21"}
    assert "afmeldlink" in rights["objection"]["text_nl"]  # "Afmelden voor e-mails"
    assert "contactpagina" in anne["rights"]["how_nl"]


def test_art_15_1_f_the_export_states_the_right_to_complain_to_the_ap(
        anne: dict[str, Any]) -> None:
    authority = anne["supervisory_authority"]
    assert authority["name"] == "Autoriteit Persoonsgegevens"
    assert authority["postal_address"] == "Postbus 93374, 2509 AJ Den Haag"
    assert "klacht" in authority["text_nl"]
    assert "complaint" in authority["text_en"]
    assert "autoriteitpersoonsgegevens.nl" in authority["text_en"]


def test_art_15_1_g_the_export_states_the_source_in_words(anne: dict[str, Any]) -> None:
    sources = {s["category"]: s for s in anne["sources"]}
    invoice = sources["invoice-details"]
    assert invoice["source_system"] == "crm"
    assert invoice["via_en"] == "our customer relationship system (CRM)"
    assert "invoicing" in invoice["source_en"]
    assert "facturatie" in invoice["source_nl"]
    assert sources["name"]["source_en"].startswith("From you")


def test_art_15_1_h_the_export_states_no_automated_decision_making(
        anne: dict[str, Any]) -> None:
    automated = anne["automated_decision_making"]
    assert (automated["stated"], automated["used"]) == (True, False)
    assert "art. 22" in automated["note_en"]


def test_art_15_2_the_export_states_there_are_no_third_country_transfers(
        anne: dict[str, Any]) -> None:
    transfers = anne["third_country_transfers"]
    assert (transfers["stated"], transfers["transfers"]) == (True, [])
    assert "outside the European Economic Area" in transfers["text_en"]


def test_art_15_3_the_export_holds_every_past_value_of_each_category(
        anne: dict[str, Any]) -> None:
    groups = {g["category"]: g for g in anne["values_by_category"]}
    assert [(v["value"], v["status"]) for v in groups["name"]["values"]] == [
        (FIRST_NAME, "replaced"), (NEW_NAME, "held")]
    assert [v["event_type"] for v in groups["name"]["values"]] == [
        "DataCollected", "DataRectified"]


def test_art_12_3_the_export_names_the_revision_that_judged_the_acts(
        anne: dict[str, Any]) -> None:
    assert [v["version"] for v in anne["policy"]["judged_under"]] == ["2021-12-24-r2"]
    assert anne["time_zone"] == "Europe/Amsterdam"


# -- the HTML report, as Chromium renders it ----------------------------------------------------

# Per art. 15 item: (Dutch words, English words) the rendered report must hold.
ITEMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "15(1)(a) purposes": (
        ("Waarvoor wij uw gegevens gebruiken", "Onze dienstverlening",
         "Uitvoering van een overeenkomst"),
        ("What we use your data for", "Our services", "Performance of a contract")),
    "15(1)(b) categories": (("Welke gegevens wij nu van u hebben", "Factuurgegevens"),
                            ("The data we hold about you now", "Invoice details")),
    "15(1)(c) recipients": (("Aan wie wij uw gegevens geven", "PostNL",
                             "Post- en pakketdiensten", "IT-leveranciers en dienstverleners"),
                            ("Who we give your data to", "PostNL",
                             "Postal and parcel services", "IT suppliers and service providers")),
    "15(1)(d) retention": (("Hoe lang wij uw gegevens bewaren",
                            "Tot het einde van de overeenkomst",
                            "7 jaar na het einde van het boekjaar", "1 januari 2033"),
                           ("How long we keep your data", "Until the end of the contract",
                            "7 years after the end of the fiscal year", "1 January 2033")),
    "15(1)(e) rights": (("Uw rechten", "Rectificatie", "Wissing", "Beperking",
                         "Bezwaar", "Overdraagbaarheid"),
                        ("Your rights", "Rectification", "Erasure", "Restriction",
                         "Objection", "Portability")),
    "15(1)(f) complaint": (("klacht in te dienen bij de Autoriteit Persoonsgegevens",
                            "Postbus 93374, 2509 AJ Den Haag"),
                           ("lodge a complaint with the Autoriteit Persoonsgegevens",
                            "Postbus 93374, 2509 AJ Den Haag")),
    "15(1)(g) source": (("Waar uw gegevens vandaan komen", "Van uzelf",
                         "ons klantbeheersysteem (CRM)"),
                        ("Where your data comes from", "From you",
                         "our customer relationship system (CRM)")),
    "15(1)(h) automated decisions": (("Geautomatiseerde besluitvorming",
                                      "uitsluitend op geautomatiseerde verwerking"),
                                     ("Automated decision-making",
                                      "based solely on automated processing")),
    "15(2) third countries": (("niet door naar landen buiten de Europese Economische Ruimte",),
                              ("do not transfer your data to countries outside",)),
    "15(3) every value": (("Alle waarden per soort gegeven", FIRST_NAME, NEW_NAME,
                           "Vervangen door een latere waarde"),
                          ("Every value of each category", FIRST_NAME, NEW_NAME,
                           "Replaced by a later value")),
    "12(1) readable dates in Amsterdam time": (
        ("20 februari 2025 10:00", "1 juli 2025 10:00"),
        ("20 February 2025 10:00", "1 July 2025 10:00")),
}


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_art_15_the_report_in_one_language_states_each_item(
        reports: dict[str, Path], lang: str, tmp_path: Path) -> None:
    text = rendered_text(reports[lang], tmp_path)
    other = "en" if lang == "nl" else "nl"
    for item, (nl, en) in ITEMS.items():
        for words in (nl if lang == "nl" else en):
            assert words in text, f"art. {item}: {words!r} missing from the {lang} report"
    # One language only: the other's headings are absent.
    for words in (ITEMS["15(1)(e) rights"][0 if other == "nl" else 1][0],
                  ITEMS["15(1)(a) purposes"][0 if other == "nl" else 1][0]):
        assert words not in text


def test_art_15_the_report_side_by_side_states_each_item_in_both_languages(
        reports: dict[str, Path], tmp_path: Path) -> None:
    text = rendered_text(reports["both"], tmp_path)
    for item, (nl, en) in ITEMS.items():
        if item.startswith("12(1)"):
            continue  # side by side, a moment is written once: 2025-02-20 10:00
        for words in (*nl, *en):
            if "2033" not in words:  # side by side, a moment is written once
                assert words in text, f"art. {item}: {words!r} missing"
    assert "2025-02-20 10:00" in text
    assert "2025-07-01 10:00" in text
    assert "2033-01-01 " in text
    shot = screenshot(reports["both"], tmp_path / "access-report.png", tmp_path)
    assert shot.stat().st_size > 50_000, "a blank page"


# The consultations the export appends (CJEU C-579/21, ``consumers/access/report.py``)
# come after the report's own sections; they are held to their own tests.
CONSULTATIONS = "Raadplegingen van uw gegevens"


@pytest.mark.parametrize("report", ["both", "nl", "en", "bert"])
def test_art_12_1_the_report_shows_words_not_codes_and_dates_without_noise(
        reports: dict[str, Path], report: str, tmp_path: Path) -> None:
    text = rendered_text(reports[report], tmp_path).partition(CONSULTATIONS)[0]
    assert "Alles wat met uw gegevens is gedaan" in text or (
        "Everything done with your data" in text)
    shown = [code for code in RAW_CODES if re.search(rf"(?<![\w-]){code}(?![\w-])", text)]
    assert shown == [], f"raw codes in the {report} report"
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}", text), "an ISO timestamp"
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", text), "microseconds"
    assert not re.search(r"[+-]\d{2}:\d{2}", text), "a UTC offset"


def test_art_15_1_d_the_report_says_why_erased_data_is_partly_kept(
        reports: dict[str, Path], tmp_path: Path) -> None:
    text = rendered_text(reports["bert"], tmp_path)
    assert "Bewaard na wissing, omdat" in text
    assert "Kept past erasure, because" in text
    assert "Fiscale wet (Algemene wet inzake rijksbelastingen art. 52 lid 4)" in text
    assert "Alleen bewaard omdat de wet dat eist" in text
    assert "gewist" in text
    assert "erased" in text
