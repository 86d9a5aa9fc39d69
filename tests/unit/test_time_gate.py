"""The gate on time: the accepted range of moments, the allowed future skew, and dates
derived past year 9999 that saturate instead of overflowing.

Before the gate, an act in year 9999 was recorded and every read failed from then on
(``projection-failed ... (DataCollected): ValueError``, "year 10000 is out of range"), one
at 0001-01-01T00:30:00+01:00 stopped the projector with ``OverflowError: date value out
of range``, and ``--as-of 9999-01-01`` or ``--now 0001-01-01`` ran with exit 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from consumers.composition import open_key_store
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.domain.acts import ActContext
from ledger.domain.durations import END_OF_TIME, Duration
from ledger.domain.retention import statutory_due
from ledger.errors import ConfigurationError, InvalidAct, PolicyViolation, UnknownSubject
from ledger.intake.acts import parse_act
from ledger.moments import ACCEPTED_RANGE, EARLIEST, LATEST, check_in_range, parse_moment
from ledger.policy import load_policy
from ledger.refusals import refusal_of
from projections.deadlines import request_due

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = load_policy()


def collected(occurred_at: str) -> bytes:
    return orjson.dumps({
        "act_id": "crm-1", "type": "data-collected", "subject_id": str(uuid4()),
        "actor": "crm", "occurred_at": occurred_at, "purpose": "service-delivery",
        "values": {"name": "CANARY-NAME", "invoice-details": "CANARY-INV"},
        "source_system": "crm", "legal_basis": "contract",
    })


# -- the accepted range ---------------------------------------------------------------


@pytest.mark.parametrize("occurred_at", [
    "9999-06-01T10:00:00Z", "0001-06-01T10:00:00Z", "0001-01-01T00:30:00+01:00",
    "1969-12-31T23:59:59.999999Z", "2200-01-01T00:00:00Z", "2199-12-31T23:00:00-05:00",
])
def test_an_act_outside_the_range_is_refused_naming_the_field_and_the_range(
    occurred_at: str,
) -> None:
    with pytest.raises(InvalidAct) as caught:
        parse_act(collected(occurred_at))
    assert caught.value.field == "occurred_at"
    assert caught.value.act_id == "crm-1"
    refusal = refusal_of(caught.value)
    assert (refusal.rule, refusal.act_id) == ("invalid-act", "crm-1")
    assert refusal.reason == f"occurred_at: outside the accepted range, {ACCEPTED_RANGE}"


@pytest.mark.parametrize("occurred_at", [
    "1970-01-01T00:00:00Z", "1970-01-01T01:00:00+01:00", "2199-12-31T23:59:59.999999Z",
    "2200-01-01T00:59:59+01:00",
])
def test_an_act_just_inside_the_range_is_accepted(occurred_at: str) -> None:
    act = parse_act(collected(occurred_at))
    assert EARLIEST <= act.context.occurred_at < LATEST


@pytest.mark.parametrize(("text", "bare_date"), [
    ("9999-01-01", "end"), ("0001-01-01", "start"), ("2200-01-01", "start"),
    ("1969-12-31", "end"), ("9999-12-31T23:59:59+00:00", "start"),
    ("0001-01-01T00:00:00+01:00", "start"),
])
def test_an_option_outside_the_range_is_a_configuration_error(
    text: str, bare_date: Any,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_moment(text, bare_date=bare_date)
    # Exactly this: the option's text is not echoed (it may be anything typed there).
    assert str(caught.value) in (f"the {what} lies outside the accepted range, "
                                 f"{ACCEPTED_RANGE}" for what in ("date", "moment"))


def test_the_range_edges_parse_as_options() -> None:
    assert parse_moment("1970-01-01", bare_date="start") == EARLIEST
    assert parse_moment("2199-12-31", bare_date="end") == LATEST - timedelta(microseconds=1)
    assert check_in_range(EARLIEST, "x") == EARLIEST
    with pytest.raises(ConfigurationError, match=r"^--until lies outside"):
        check_in_range(LATEST, "--until")


def test_a_malformed_option_is_not_echoed() -> None:
    for text in ("jan@example.nl", "2024-07-15T10:30:00"):
        with pytest.raises(ConfigurationError) as caught:
            parse_moment(text, bare_date="start")
        assert text not in str(caught.value)


# -- the future skew ------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[LedgerApplication]:
    key_store = open_key_store(Settings().with_data_dir(tmp_path))
    application = LedgerApplication(POLICY, key_store=key_store, env={
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "events.sqlite"),
    }, max_future_skew=timedelta(seconds=300), clock=lambda: NOW)
    yield application
    application.close()
    key_store.close()


def collect(app: LedgerApplication, subject: UUID, act_id: str, at: datetime) -> None:
    app.collect_data(subject, ActContext(act_id, "crm", at), purpose="service-delivery",
                     values={"name": "x", "invoice-details": "INV-1"}, source_system="crm",
                     legal_basis="contract")


def test_an_act_ten_minutes_ahead_is_refused_and_one_minute_ahead_accepted(
    app: LedgerApplication,
) -> None:
    subject = uuid4()
    with pytest.raises(PolicyViolation) as caught:
        collect(app, subject, "crm-ahead", NOW + timedelta(minutes=10))
    refusal = refusal_of(caught.value)
    assert refusal.rule == "occurred-in-future"
    assert "crm-ahead" in refusal.reason
    assert "300 seconds" in refusal.reason
    with pytest.raises(UnknownSubject):  # refused: nothing recorded, not even Registered
        app.history(subject)
    collect(app, subject, "crm-soon", NOW + timedelta(minutes=1))
    assert [type(e).__name__ for e in app.history(subject)] == ["Registered", "DataCollected"]


def test_the_skew_is_judged_by_the_wall_clock_not_by_earlier_acts(
    app: LedgerApplication,
) -> None:
    subject = uuid4()
    collect(app, subject, "crm-1", NOW - timedelta(days=400))
    for ahead in (NOW + timedelta(minutes=6), NOW + timedelta(days=3650)):
        with pytest.raises(PolicyViolation, match=r"^occurred-in-future"):
            app.request_access(subject, ActContext("crm-2", "crm", ahead),
                               request_ref="DSAR-1", channel="email")


def test_a_future_dated_erasure_or_expiry_destroys_nothing(app: LedgerApplication) -> None:
    subject = uuid4()
    collect(app, subject, "crm-1", datetime(2018, 3, 3, tzinfo=UTC))
    app.request_erasure(subject, ActContext("po-1", "po", NOW), request_ref="DSAR-1",
                        channel="email")
    ahead = ActContext("po-2", "po", NOW + timedelta(hours=1))
    with pytest.raises(PolicyViolation, match=r"^occurred-in-future"):
        app.carry_out_erasure(subject, ahead, request_ref="DSAR-1")
    later = ActContext("po-3", "po", datetime(2033, 1, 1, tzinfo=UTC))
    with pytest.raises(PolicyViolation, match=r"^occurred-in-future"):
        app.expire_retention(subject, later, scope="fiscal")
    assert app.key_store is not None
    assert app.key_store.destroyed_keys(subject) == []
    assert app.subject(subject).state.holdings["service-delivery"]["name"] == "x"


def test_the_application_also_refuses_moments_outside_the_range(
    app: LedgerApplication,
) -> None:
    far = datetime(9999, 6, 1, tzinfo=UTC)
    lenient = LedgerApplication(POLICY, env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                                max_future_skew=timedelta(days=366 * 9000))
    for application in (app, lenient):
        with pytest.raises(InvalidAct) as caught:
            collect(application, uuid4(), "crm-far", far)
        assert (caught.value.field, caught.value.act_id) == ("occurred_at", "crm-far")


def test_the_skew_is_a_setting_read_once() -> None:
    assert Settings.from_env({}).max_clock_skew == timedelta(seconds=300)
    assert Settings.from_env({"LEDGER_MAX_CLOCK_SKEW_SECONDS": "60"}).max_clock_skew == (
        timedelta(seconds=60))
    for bad in ("-1", "soon", str(10**15)):
        with pytest.raises(ConfigurationError, match="LEDGER_MAX_CLOCK_SKEW_SECONDS"):
            Settings.from_env({"LEDGER_MAX_CLOCK_SKEW_SECONDS": bad})


# -- derived dates --------------------------------------------------------------------


def test_derived_dates_past_year_9999_saturate_at_the_end_of_time() -> None:
    fiscal = POLICY.scopes["fiscal"]
    # Both used to raise: "year 10000 is out of range" / "date value out of range".
    assert statutory_due(fiscal, datetime(9999, 6, 1, tzinfo=UTC)) == END_OF_TIME
    assert statutory_due(fiscal, datetime(9992, 6, 1, tzinfo=UTC)) == END_OF_TIME
    assert request_due(datetime(9999, 12, 15, tzinfo=UTC), 2) == END_OF_TIME
    assert Duration(days=20).after(datetime(9999, 12, 15, tzinfo=UTC)) == END_OF_TIME
    minus_five = timezone(timedelta(hours=-5))
    assert Duration(days=1).after(datetime(9999, 12, 30, 23, tzinfo=minus_five)) == (
        END_OF_TIME)
    # Far enough from datetime.max that every time zone can still show it.
    assert END_OF_TIME.astimezone(timezone(timedelta(hours=14))).year == 9999
    assert END_OF_TIME.astimezone(timezone(timedelta(hours=-14))).year == 9999


def test_derived_dates_from_the_edges_of_the_range_are_exact() -> None:
    fiscal = POLICY.scopes["fiscal"]
    last = LATEST - timedelta(microseconds=1)
    assert statutory_due(fiscal, last) == datetime(2207, 1, 1, tzinfo=UTC)
    assert statutory_due(fiscal, EARLIEST) == datetime(1978, 1, 1, tzinfo=UTC)
    assert request_due(last, 2) == datetime(2200, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)
