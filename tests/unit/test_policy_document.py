"""The seed policy renders the Dutch statement; malformed policies fail with a path."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.domain.durations import Duration, parse_duration
from ledger.domain.policy import Policy
from ledger.errors import PolicyError
from ledger.policy import load_policy, parse_policy, seed_policy_text
from tests.policy_faults import refusal_of


def seed() -> dict[str, Any]:
    return tomllib.loads(seed_policy_text())


def test_seed_policy_has_every_purpose_of_the_statement() -> None:
    policy = load_policy()
    sections = {p.section for p in policy.purposes.values()}
    assert {"I", "II", "III", "V", "VI"} <= sections
    assert policy.purposes["service-delivery"].categories["gender"] == "optional"
    assert policy.purposes["service-delivery"].categories["linkedin-account"] == "optional"
    assert policy.purposes["contact"].categories["organisation-name"] == "optional"
    assert policy.purposes["demo-request"].requires_consent
    assert not policy.purposes["service-delivery"].requires_consent
    assert policy.purposes["customer-environment"].role == "processor"


def test_fiscal_law_keeps_invoices_and_payments_seven_years() -> None:
    policy = load_policy()
    assert policy.scope_of("invoice-details") == "fiscal"
    assert policy.scope_of("payment-details") == "fiscal"
    assert policy.scope_of("name") == "general"
    assert policy.scopes["fiscal"].period == Duration(years=7)


def test_reasonable_period_is_configurable_per_purpose() -> None:
    data = seed()
    data["purposes"]["demo-request"]["retention"]["period"] = "P6M"
    policy = Policy.from_mapping(data)
    assert policy.purposes["demo-request"].retention.period == Duration(months=6)


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["purposes"]["contact"]["categories"].update(shoe_size="optional"),
         "purposes.contact.categories.shoe_size: unknown category"),
        (lambda d: d["purposes"]["contact"].update(legal_bases=["vibes"]),
         "purposes.contact.legal_bases: unknown legal basis 'vibes'"),
        (lambda d: d["purposes"]["contact"]["retention"].update(period="90 days"),
         "purposes.contact.retention.period"),
        (lambda d: d["purposes"]["contact"].update(recipient_kinds=["aliens"]),
         "purposes.contact.recipient_kinds: unknown recipient kind 'aliens'"),
        (lambda d: d["categories"]["name"].update(scope="forever"),
         "categories.name.scope: unknown retention scope 'forever'"),
        (lambda d: d.pop("version"), "policy.version: must be a non-empty string"),
        (lambda d: d["purposes"]["contact"].update(colour="blue"),
         "purposes.contact: unknown key(s) colour"),
        (lambda d: d["retention_scopes"]["fiscal"].pop("legal_reason"),
         "retention_scopes.fiscal: a statutory scope needs"),
        (lambda d: d["purposes"]["contact"].update(role="owner"),
         "purposes.contact.role: must be 'controller' or 'processor'"),
        (lambda d: d.update(purposes={}), "policy.purposes: must not be empty"),
    ],
)
def test_malformed_policy_is_rejected_with_the_path_to_the_fault(mutate: Any, path: str) -> None:
    assert path in refusal_of(seed(), mutate)


def test_invalid_toml_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="not valid TOML"):
        parse_policy("version = ", origin="broken.toml")


def test_durations_count_calendar_months_and_clamp_month_ends() -> None:
    assert parse_duration("P1Y2M3D") == Duration(1, 2, 3)
    assert parse_duration("P2W") == Duration(days=14)
    start = datetime(2024, 1, 31, 12, tzinfo=UTC)
    assert parse_duration("P1M").after(start) == datetime(2024, 2, 29, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration("P")
