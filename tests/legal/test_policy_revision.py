"""The policy file grows without breaking ledgers (art. 5(2) accountability, art. 24).

Revision 2 of the seed states what art. 13, 15 and 30 GDPR ask the controller to tell
(contacts, the officer, the authority, data subjects, sources, transfers, security,
automated decisions, the jurisdiction's zone). The expectations come from the Dutch
statement (``../shared/seed/privacyverklaring.txt``) and the articles, not from the
code: where the statement says nothing, the revision must say "none" or "not used".
A ledger that recorded acts under revision 1 opens with revision 2 in force; its acts
keep the revision they were judged by, and the registers name both.
"""

from __future__ import annotations

import hashlib
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import pytest

from consumers import composition
from consumers.composition import open_ledger
from ledger.config import Settings
from ledger.domain.durations import Duration
from ledger.domain.policy import Policy
from ledger.errors import PolicyError
from ledger.intake.acts import apply_act, parse_act
from ledger.policy import (
    SEED_REVISION_FILES,
    load_policy,
    parse_policy,
    seed_policy_text,
    seed_revision,
    seed_revisions,
)
from tests.cli_helpers import ledger, record_acts
from tests.policy_faults import refusal_of

R1, R2 = "2021-12-24", "2021-12-24-r2"
# The SHA-256 of revision 1 as ledgers published it: a shipped revision never changes,
# or reopening such a ledger would be refused ("published with other content").
R1_DIGEST = "77721aa7030ed93a66147bde40381b42bf345a12703d381d430a35ea4c59708d"


def r2_data() -> dict[str, Any]:
    return tomllib.loads(seed_policy_text(SEED_REVISION_FILES[-1]))


# -- the revisions ------------------------------------------------------------------------

def test_art_5_2_the_seed_ships_both_revisions_and_the_newest_is_in_force() -> None:
    assert list(seed_revisions()) == [R1, R2]
    policy = load_policy()
    assert (policy.version, policy.revision, policy.revises) == (R2, 2, R1)
    assert seed_revision(R1).revision == 1
    with pytest.raises(PolicyError, match="no shipped policy revision"):
        seed_revision("1999-01-01")


def test_art_5_2_revision_1_is_shipped_unchanged() -> None:
    text = seed_policy_text(SEED_REVISION_FILES[0])
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == R1_DIGEST


def test_art_5_2_revision_2_judges_acts_by_the_same_rules_as_revision_1() -> None:
    """The statement did not change, so neither may the rules an act is checked by."""
    old, new = seed_revision(R1), seed_revision(R2)
    assert old.controller == new.controller
    assert old.transfer_kinds == new.transfer_kinds
    assert set(old.recipient_kinds) == set(new.recipient_kinds)
    assert {k: (c.scope, c.label_nl, c.label_en) for k, c in old.categories.items()} == {
        k: (c.scope, c.label_nl, c.label_en) for k, c in new.categories.items()}
    assert {k: (s.trigger, s.period, s.legal_reason) for k, s in old.scopes.items()} == {
        k: (s.trigger, s.period, s.legal_reason) for k, s in new.scopes.items()}
    for key, purpose in old.purposes.items():
        other = new.purposes[key]
        assert (purpose.role, purpose.legal_bases, dict(purpose.categories),
                purpose.retention, purpose.recipient_kinds) == (
            other.role, other.legal_bases, dict(other.categories), other.retention,
            other.recipient_kinds), key
    assert {k: g.requires_consent for k, g in old.sharing_grounds.items()} == {
        k: g.requires_consent for k, g in new.sharing_grounds.items()}


def test_art_30_1_a_revision_2_states_the_controller_and_how_to_reach_it() -> None:
    """"TOPdesk Nederland B.V. en haar gelieerde ondernemingen"; "via de contactpagina
    op onze website"; customers "neem dan contact op met uw accountmanager"."""
    details = load_policy().controller_details
    assert details is not None
    assert "TOPdesk Nederland B.V." in details.name
    assert "contactpagina" in details.contact.nl
    assert "accountmanager" in details.contact.nl
    assert "contact page" in details.contact.en
    assert "account manager" in details.contact.en


def test_art_37_revision_2_says_the_statement_names_no_data_protection_officer() -> None:
    officer = load_policy().data_protection_officer
    assert officer is not None
    assert (officer.name, officer.contact) == (None, None)
    assert "geen functionaris voor gegevensbescherming" in officer.note.nl
    assert "no data protection officer" in officer.note.en


def test_art_77_revision_2_names_the_autoriteit_persoonsgegevens_and_its_address() -> None:
    authority = load_policy().supervisory_authority
    assert authority is not None
    assert authority.name == "Autoriteit Persoonsgegevens"
    assert authority.postal_address == "Postbus 93374, 2509 AJ Den Haag"
    assert authority.website == "autoriteitpersoonsgegevens.nl"


def test_art_30_1_c_revision_2_names_the_data_subjects_of_each_purpose() -> None:
    """I: customers' contacts; II: who asks for a demo or login; III: who registers for
    a webinar or event; V: website visitors; VI: who contacts us; end users of a
    customer's environment ("Kennisgeving voor eindgebruikers")."""
    policy = load_policy()
    assert {k: p.data_subjects for k, p in policy.purposes.items()} == {
        "service-delivery": ("customer-contact",), "demo-request": ("prospect",),
        "webinar-event": ("event-attendee",), "website": ("website-visitor",),
        "contact": ("enquirer",), "customer-environment": ("end-user",)}
    assert "klanten" in policy.subject_kinds["customer-contact"].nl
    assert policy.subject_kinds["website-visitor"].en == "Website visitors"


def test_art_30_1_e_no_third_country_transfers_since_the_statement_names_none() -> None:
    policy = load_policy()
    assert policy.states_the_notice
    assert all(p.third_country_transfers == () for p in policy.purposes.values())


def test_art_22_no_automated_decision_making_since_the_statement_describes_none() -> None:
    decisions = load_policy().automated_decisions
    assert decisions is not None
    assert decisions.used is False
    assert "geautomatiseerde" in decisions.note.nl
    assert "automated" in decisions.note.en


def test_art_32_revision_2_describes_the_security_measures() -> None:
    """The statement's "technische en organisatorische veiligheidsmaatregelen", and how
    this ledger keeps data: crypto-shredding, key wrapping, access control."""
    measures = " ".join(m.en for m in load_policy().security_measures)
    for words in ("industry standard", "crypto-shredding", "master key", "Access control"):
        assert words in measures
    assert all(m.nl and m.en for m in load_policy().security_measures)


def test_art_14_2_f_every_category_has_a_source_a_person_understands() -> None:
    """"wanneer u gebruik maakt van onze dienstverlening, contact met ons legt, of als
    derden deze gegevens aan ons verschaffen": sources in words, both languages."""
    policy = load_policy()
    for key, category in policy.categories.items():
        assert category.source is not None, key
        assert len(category.source.nl.split()) >= 4
        assert len(category.source.en.split()) >= 4
    assert "browser" in policy.categories["cookie-data"].source.en  # type: ignore[union-attr]


def test_art_7_3_the_jurisdiction_is_amsterdam_and_the_withdrawal_grace_is_none() -> None:
    policy = load_policy()
    assert policy.jurisdiction_zone == "Europe/Amsterdam"
    assert policy.zone.key == "Europe/Amsterdam"
    assert policy.withdrawal_grace("demo-request") == Duration()
    assert datetime(2025, 7, 1, tzinfo=policy.zone).utcoffset().total_seconds() == 7200  # type: ignore[union-attr]


def test_art_5_2_revision_1_reads_with_each_new_fact_not_stated() -> None:
    old = seed_revision(R1)
    assert not old.states_the_notice
    assert (old.controller_details, old.data_protection_officer,
            old.supervisory_authority, old.automated_decisions) == (None, None, None, None)
    assert old.jurisdiction_zone == "UTC"  # what revision 1 counted in
    assert old.security_measures == ()


@pytest.mark.parametrize("key", [
    "jurisdiction_zone", "controller_contact", "data_protection_officer",
    "supervisory_authority", "security_measures", "automated_decision_making",
    "data_subject_kinds", "consent_withdrawal_grace_period"])
def test_art_5_2_a_revision_2_file_must_state_each_fact(key: str) -> None:
    data = r2_data()
    del data[key]
    with pytest.raises(PolicyError, match=f"revision 2 must state {key}"):
        Policy.from_mapping(data)


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda d: d["purposes"]["contact"].pop("data_subjects"),
     "purposes.contact: must state data_subjects"),
    (lambda d: d["purposes"]["contact"].update(data_subjects=["martians"]),
     "purposes.contact.data_subjects: unknown data subject kind 'martians'"),
    (lambda d: d["categories"]["name"].pop("source_en"),
     "categories.name.source_en: must be a non-empty string"),
    (lambda d: d.update(jurisdiction_zone="Europe/Atlantis"),
     "policy.jurisdiction_zone: unknown time zone 'Europe/Atlantis'"),
    (lambda d: d["purposes"]["website"].update(
        third_country_transfers=[{"country": "US", "recipient_kind": "aliens",
                                  "safeguard": "scc"}]),
     "purposes.website.third_country_transfers[0].recipient_kind: unknown recipient kind"),
    (lambda d: d["recipient_kinds"].update(sponsor="Sponsoren"),
     "recipient_kinds.sponsor: must be a table"),
    (lambda d: d["data_protection_officer"].update(named=True),
     "data_protection_officer.name: must be a non-empty string"),
    (lambda d: d.update(revision=0), "policy.revision: must be a whole number"),
])
def test_art_5_2_a_malformed_revision_2_is_refused_with_the_path(mutate: Any,
                                                                 path: str) -> None:
    assert path in refusal_of(r2_data(), mutate)


def test_art_30_1_e_a_listed_transfer_is_read_with_its_safeguard() -> None:
    data = r2_data()
    data["purposes"]["website"]["third_country_transfers"] = [
        {"country": "United States", "recipient_kind": "cookie-provider",
         "safeguard": "EU-US Data Privacy Framework (adequacy decision)"}]
    (transfer,) = Policy.from_mapping(data).purposes["website"].third_country_transfers
    assert (transfer.country, transfer.recipient_kind) == ("United States", "cookie-provider")


def test_art_5_2_parse_policy_accepts_both_revisions() -> None:
    for file in SEED_REVISION_FILES:
        assert parse_policy(seed_policy_text(file), origin=file).version in (R1, R2)


# -- an existing ledger ---------------------------------------------------------------------

SUBJECT = str(uuid4())


def _act(act_id: str, when: str, **body: Any) -> bytes:
    return orjson.dumps({"act_id": act_id, "subject_id": SUBJECT, "actor": "crm",
                         "occurred_at": when, **body})


@pytest.mark.e2e
def test_art_5_2_a_ledger_of_revision_1_opens_and_its_acts_keep_that_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    data_dir = tmp_path / "data"
    # A ledger as the code before revision 2 made it: revision 1 published, acts judged.
    with monkeypatch.context() as old_code:
        old_code.setattr(composition, "load_policy", lambda: seed_revision(R1))
        old_code.setattr(composition, "seed_policy_text",
                         lambda: seed_policy_text(SEED_REVISION_FILES[0]))
        with open_ledger(Settings().with_data_dir(data_dir)) as app:
            assert app.published_policy_versions() == {R1: R1_DIGEST}
            apply_act(app, parse_act(_act(
                "old-1", "2025-02-20T10:00:00+01:00", type="data-collected",
                purpose="service-delivery", source_system="crm", legal_basis="contract",
                values={"name": "Oud", "invoice-details": "INV-1"})))
    # Reads work first (the projections are made with revision 2 in force)...
    before = ledger("registers", "ropa", "--json", data_dir=data_dir)
    assert before.returncode == 0, before.stderr
    # ...then a new act is judged by revision 2.
    new = _act("new-2", "2025-03-01T10:00:00+01:00", type="data-shared",
               purpose="service-delivery", recipient="PostNL",
               recipient_kind="postal-service", ground="service-delivery",
               categories=["name"])
    record_acts(data_dir, [new])

    trail = orjson.loads(ledger("audit", "trail", SUBJECT, "--json", "--as-of",
                                "2026-01-01", data_dir=data_dir).stdout)["trail"]
    assert [(a["act_id"], a["policy_version"]) for a in trail] == [
        ("old-1", R1), ("old-1", R1), ("new-2", R2)]

    registers = orjson.loads(ledger("registers", "ropa", "--json",
                                    data_dir=data_dir).stdout)
    assert registers["policy_version"] == R2
    policy = registers["policy"]
    assert [p["item"] for p in policy["published"]] == [R1, R2]
    assert {j["item"]: j["acts"] for j in policy["judged_under"]} == {R1: 2, R2: 1}
    service = next(r for r in registers["records_of_processing"]
                   if r["purpose"] == "service-delivery")
    assert service["policy_version"] == R2
    # The registration names no purpose; the collection and the sharing do.
    assert {j["item"]: j["acts"] for j in service["judged_under"]} == {R1: 1, R2: 1}
    people = ledger("registers", "ropa", data_dir=data_dir).stdout
    assert f"policy revision {R2}" in people
    assert f"{R1} x2" in people
    assert f"{R2} x1" in people

    export = orjson.loads(ledger("dsar", "export", SUBJECT, "--json",
                                 data_dir=data_dir).stdout)
    assert [v["version"] for v in export["policy"]["judged_under"]] == [R1, R2]
    assert {a["policy_version"] for a in export["acts"]} == {R1, R2}
