"""Extending the deadline of an open request (GDPR art. 12(3)): accepted and refused.

One month to answer, extendable by two further months in total, for the complexity or
the number of requests. Runs on the aggregate alone: a refused command leaves no event.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import orjson
import pytest

from ledger.domain import events as ev
from ledger.domain.acts import ActContext
from ledger.domain.subject import DataSubject
from ledger.errors import InvalidAct
from ledger.intake.acts import HANDLERS, parse_act
from tests.unit.aggregate_rules import POLICY, T0, refused

_ids = itertools.count(1)


def act(days: float = 0) -> ActContext:
    return ActContext(f"deadline-{next(_ids)}", "privacy-office", T0 + timedelta(days=days))


def with_open_request(kind: str = "access", ref: str = "DSAR-1") -> DataSubject:
    s = DataSubject.register(uuid4(), POLICY, act())
    s.collect(POLICY, act(), purpose="contact", values={"name": "x"},
              source_system="web", legal_basis="legitimate-interest")
    if kind == "access":
        s.request_access(POLICY, act(), request_ref=ref, channel="email")
    else:
        s.request_erasure(POLICY, act(), request_ref=ref, channel="email")
    s.collect_events()
    return s


def extend(s: DataSubject, months: Any, reason: str = "complexity",
           ref: str = "DSAR-1") -> None:
    s.extend_request_deadline(POLICY, act(1), request_ref=ref, extended_by_months=months,
                              reason_code=reason)


@pytest.mark.parametrize("kind", ["access", "erasure"])
@pytest.mark.parametrize("months", [1, 2])
def test_an_open_request_is_extended_with_its_reason(kind: str, months: int) -> None:
    s = with_open_request(kind)
    extend(s, months, "number-of-requests")
    (event,) = s.collect_events()
    assert isinstance(event, ev.RequestDeadlineExtended)
    assert (event.request_ref, event.extended_by_months, event.reason_code) == (
        "DSAR-1", months, "number-of-requests")
    assert (event.policy_version, event.actor) == (POLICY.version, "privacy-office")
    assert s.state.request_extensions == {"DSAR-1": months}


def test_two_extensions_of_one_month_add_up_to_the_limit() -> None:
    s = with_open_request()
    extend(s, 1)
    extend(s, 1)
    assert len(s.collect_events()) == 2
    assert s.state.request_extensions == {"DSAR-1": 2}
    refused("extension-limit", lambda: extend(s, 1), s)


def test_more_than_two_months_in_total_is_refused() -> None:
    s = with_open_request()
    extend(s, 2)
    s.collect_events()
    refused("extension-limit", lambda: extend(s, 1), s)
    t = with_open_request()
    extend(t, 1)
    t.collect_events()
    refused("extension-limit", lambda: extend(t, 2), t)


@pytest.mark.parametrize("months", [0, 3, -1, True])
def test_only_one_or_two_months_may_be_asked(months: Any) -> None:
    s = with_open_request()
    refused("extension-months", lambda: extend(s, months), s)


def test_an_unknown_reason_is_refused() -> None:
    s = with_open_request()
    refused("unknown-extension-reason", lambda: extend(s, 1, "holiday-season"), s)


def test_a_request_that_is_not_open_cannot_be_extended() -> None:
    s = with_open_request()
    refused("no-such-request", lambda: extend(s, 1, ref="DSAR-unknown"), s)
    s.fulfil_access(POLICY, act(2), request_ref="DSAR-1", export_ref="export-1")
    s.collect_events()
    refused("no-such-request", lambda: extend(s, 1), s)


def test_a_closed_request_forgets_its_extension_so_a_reused_ref_starts_afresh() -> None:
    s = with_open_request()
    extend(s, 2)
    s.fulfil_access(POLICY, act(2), request_ref="DSAR-1", export_ref="export-1")
    s.collect_events()
    assert s.state.request_extensions == {}
    s.request_access(POLICY, act(3), request_ref="DSAR-1", channel="email")
    extend(s, 2)
    assert s.state.request_extensions == {"DSAR-1": 2}


def test_an_erasure_completed_closes_its_extension_too() -> None:
    s = with_open_request("erasure")
    extend(s, 1)
    plan = s.erasure_plan(POLICY, T0 + timedelta(days=3))
    s.complete_erasure(POLICY, act(3), request_ref="DSAR-1", plan=plan, destroyed_key_ids=[])
    s.collect_events()
    assert s.state.request_extensions == {}


def at(moment: datetime) -> ActContext:
    return ActContext(f"deadline-{next(_ids)}", "privacy-office", moment)


@pytest.mark.parametrize("kind", ["access", "erasure"])
def test_an_extension_is_accepted_up_to_one_month_after_receipt(kind: str) -> None:
    s = with_open_request(kind)  # received at T0
    s.extend_request_deadline(POLICY, at(datetime(2025, 4, 3, 9, 0, tzinfo=UTC)),
                              request_ref="DSAR-1", extended_by_months=1,
                              reason_code="complexity")
    assert len(s.collect_events()) == 1


@pytest.mark.parametrize("kind", ["access", "erasure"])
def test_an_extension_after_the_first_month_is_refused(kind: str) -> None:
    # Art. 12(3): the subject is told of an extension within one month of receipt.
    s = with_open_request(kind)
    late = at(datetime(2025, 4, 3, 9, 1, tzinfo=UTC))
    refused("extension-too-late", lambda: s.extend_request_deadline(
        POLICY, late, request_ref="DSAR-1", extended_by_months=1,
        reason_code="complexity"), s)


def test_a_reused_ref_counts_the_month_from_the_new_request() -> None:
    s = with_open_request()
    s.fulfil_access(POLICY, act(2), request_ref="DSAR-1", export_ref="export-1")
    s.request_access(POLICY, at(datetime(2025, 6, 1, tzinfo=UTC)), request_ref="DSAR-1",
                     channel="email")
    s.collect_events()
    s.extend_request_deadline(POLICY, at(datetime(2025, 6, 20, tzinfo=UTC)),
                              request_ref="DSAR-1", extended_by_months=2,
                              reason_code="complexity")
    assert len(s.collect_events()) == 1


def test_the_intake_act_is_validated_and_dispatched() -> None:
    document = {
        "act_id": "office-9", "type": "request-deadline-extended",
        "subject_id": str(uuid4()), "actor": "privacy-office",
        "occurred_at": "2025-03-20T10:00:00+01:00", "request_ref": "DSAR-1",
        "extended_by_months": 2, "reason_code": "complexity",
    }
    parsed = parse_act(orjson.dumps(document))
    assert parsed.body == {"request_ref": "DSAR-1", "extended_by_months": 2,
                           "reason_code": "complexity"}
    assert "request-deadline-extended" in HANDLERS
    for field, bad, expected in [
        ("extended_by_months", 3, "extended_by_months: must be one of: 1, 2"),
        ("reason_code", "holiday", "reason_code: must be one of: complexity"),
    ]:
        with pytest.raises(InvalidAct, match=expected):
            parse_act(orjson.dumps({**document, field: bad}))
