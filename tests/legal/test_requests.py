"""Data subject requests: their deadline and the trace of the ones we pass on.

- Art. 12(3): an answer "within one month of receipt", counted as Dutch law counts it:
  on Amsterdam's calendar, the deadline shown in that zone and in UTC.
- "Kennisgeving voor eindgebruikers": for end users of a customer's environment the
  customer is the controller and we its processor (art. 28(3)(e): we assist it); their
  requests "aan deze organisatie te richten". A request that reaches us anyway is
  passed on, and art. 5(2) (accountability) asks that we can show we did: it is
  recorded (received, forwarded to whom, when) and shows in the DSAR queue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import pytest

from tests.cli_helpers import ledger, record_acts
from tests.legal.helpers import act, read_json

pytestmark = pytest.mark.e2e

CUSTOMER, END_USER = str(uuid4()), str(uuid4())
ACME = "Acme Zorg B.V."
# 1 May 2025 00:30 in Amsterdam (CEST), still 30 April in UTC.
RECEIVED = "2025-04-30T22:30:00Z"


def verdicts(result: Any) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in result.stdout.splitlines()[:-1]]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("requests") / "data"
    acts = [
        act("c-1", CUSTOMER, "2025-02-20T10:00:00+01:00", type="data-collected",
            purpose="service-delivery", source_system="crm", legal_basis="contract",
            values={"name": "Sanne de Vries", "business-email": "sanne@example.nl"}),
        act("c-2", CUSTOMER, RECEIVED, type="access-requested", request_ref="DSAR-1",
            channel="email"),
        act("e-1", END_USER, "2025-04-01T09:00:00+02:00", type="data-collected",
            purpose="customer-environment", source_system="saas", legal_basis="contract",
            controller=ACME, values={"name": "Eind Gebruiker", "business-email": "eg@acme.nl"}),
    ]
    record_acts(data_dir, acts)
    return data_dir


# -- art. 12(3): one month, on Amsterdam's calendar -----------------------------------------

def test_art_12_3_one_month_from_receipt_is_counted_on_amsterdams_calendar(
        data: Path) -> None:
    """Received 1 May 00:30 Amsterdam time: due 1 June 00:30 there (31 May 22:30 UTC),
    not 30 May as a month on UTC's calendar (30 April + 1 month) would have it."""
    view = read_json(data, "subject", "show", CUSTOMER)
    (request,) = view["requests"]
    assert request["due_at_local"] == "2025-06-01T00:30:00+02:00"
    assert request["due_at_utc"] == "2025-05-31T22:30:00+00:00"
    assert request["due_at"] == request["due_at_local"]


def test_art_12_3_the_dsar_queue_shows_the_deadline_in_both_zones_and_flags_it_by_the_instant(
        data: Path) -> None:
    before = read_json(data, "registers", "dsar", "--now", "2025-05-31T22:29:00Z")
    (queued,) = [r for r in before["dsar_queue"]["items"] if r["subject_id"] == CUSTOMER]
    assert (queued["due_at_local"], queued["due_at_utc"], queued["overdue"]) == (
        "2025-06-01T00:30:00+02:00", "2025-05-31T22:30:00+00:00", False)
    after = read_json(data, "registers", "dsar", "--now", "2025-05-31T22:31:00Z")
    (late,) = [r for r in after["dsar_queue"]["items"] if r["subject_id"] == CUSTOMER]
    assert late["overdue"] is True


# -- art. 5(2), 28(3)(e): a request for the controller leaves a trace -------------------------

def test_art_28_3_e_a_request_to_the_controller_is_not_ours_to_open(data: Path) -> None:
    refused = ledger("record", "--json", "-", data_dir=data, stdin=act(
        "e-2", END_USER, "2025-05-02T10:00:00+02:00", type="access-requested",
        request_ref="EU-1", channel="email"))
    assert refused.returncode == 1
    (verdict,) = verdicts(refused)
    assert verdict["rule"] == "request-to-controller"
    assert ACME in verdict["reason"]
    assert "request-forwarded" in verdict["reason"]


def test_art_5_2_a_forwarded_request_is_recorded_and_shows_in_the_queue(data: Path) -> None:
    forwarded = ledger("record", "--json", "-", data_dir=data, stdin=act(
        "e-3", END_USER, "2025-05-02T10:05:00+02:00", type="request-forwarded",
        request_ref="EU-1", request_kind="erasure", channel="email", forwarded_to=ACME))
    assert forwarded.returncode == 0, forwarded.stdout + forwarded.stderr
    view = read_json(data, "subject", "show", END_USER)
    (request,) = view["requests"]
    assert (request["request_ref"], request["kind"], request["status"]) == (
        "EU-1", "erasure", "forwarded")
    assert (request["forwarded_to"], request["requested_at"], request["overdue"]) == (
        ACME, "2025-05-02T10:05:00+02:00", False)
    queue = read_json(data, "registers", "dsar", "--now", "2026-01-01T00:00:00Z")
    (queued,) = [r for r in queue["dsar_queue"]["items"] if r["subject_id"] == END_USER]
    assert (queued["status"], queued["forwarded_to"], queued["overdue"]) == (
        "forwarded", ACME, False)
    people = ledger("registers", "dsar", "--now", "2026-01-01T00:00:00Z", data_dir=data)
    assert f"forwarded to {ACME}" in people.stdout
    trail = read_json(data, "audit", "trail", END_USER)
    (entry,) = [a for a in trail["trail"] if a["type"] == "RequestForwarded"]
    assert entry["details"]["forwarded_to"] == ACME
    ropa = read_json(data, "registers", "ropa")
    (counted,) = ropa["requests_forwarded"]
    assert (counted["controller"], counted["request_kind"], counted["acts"]) == (
        ACME, "erasure", 1)
    # Our own subject's request is ours to answer, and only a customer we process the
    # end user's data for can receive theirs.
    refused = ledger("record", "--json", "-", data_dir=data, stdin=b"\n".join([
        act("c-3", CUSTOMER, "2025-05-02T10:00:00+02:00", type="request-forwarded",
            request_ref="X-1", request_kind="access", channel="email", forwarded_to=ACME),
        act("e-4", END_USER, "2025-05-02T10:00:00+02:00", type="request-forwarded",
            request_ref="EU-2", request_kind="access", channel="email",
            forwarded_to="Gemeente Delft"),
        act("e-5", END_USER, "2025-05-02T10:00:00+02:00", type="request-forwarded",
            request_ref="EU-1", request_kind="access", channel="email", forwarded_to=ACME),
    ]))
    assert [v["rule"] for v in verdicts(refused)] == [
        "not-processor", "unknown-controller", "duplicate-request"]


def test_art_12_1_the_report_tells_the_end_user_where_the_request_went(
        data: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    ledger("record", "-", data_dir=data, stdin=act(
        "e-6", END_USER, "2025-05-03T10:05:00+02:00", type="request-forwarded",
        request_ref="EU-3", request_kind="access", channel="email", forwarded_to=ACME))
    result = ledger("dsar", "export", END_USER, "--html", str(report), data_dir=data)
    assert result.returncode == 0, result.stderr
    assert "Doorgestuurd naar de verwerkingsverantwoordelijke" in report.read_text("utf-8")
