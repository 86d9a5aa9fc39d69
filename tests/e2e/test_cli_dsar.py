"""The read commands as a DSAR handler and an auditor run them.

`ledger subject show`, `ledger dsar export`, `ledger audit trail --as-of`,
`ledger registers` and `ledger rebuild`, on acts recorded with `ledger record`; each
command brings the projections up to date first. A DSAR export of a subject with a
few hundred acts is checked field by field against what the ledger recorded.
"""

from __future__ import annotations

import sqlite3
import stat
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import pytest

from consumers.composition import open_ledger
from ledger.config import Settings
from ledger.domain import events as ev
from ledger.domain.values import Erased
from tests.cli_helpers import ledger, record_acts
from tests.projection_acts import Scenario, apply_step

pytestmark = pytest.mark.e2e

SUBJECT = str(uuid4())
EMAIL = f"inge-{uuid4().hex[:6]}@example.nl"
NAME = "Inge <de Vries> & Zn"


def act(n: int, when: str, **body: Any) -> bytes:
    return orjson.dumps({"act_id": f"crm-{n}", "subject_id": SUBJECT, "actor": "crm",
                         "occurred_at": when, **body})


ACTS = [
    act(1, "2025-02-20T10:00:00+01:00", type="data-collected", purpose="service-delivery",
        source_system="crm", legal_basis="contract",
        values={"name": NAME, "business-email": EMAIL, "business-phone": "+31 20 555 0101",
                "organisation-name": "Bakkerij", "invoice-details": "INV-7",
                "payment-details": "NL91 ABNA 0417 1643 00"}),
    act(2, "2025-02-25T10:00:00+01:00", type="consent-given", purpose="demo-request",
        channel="web-form", notice_version="2021-12-24", proof_ref="form/881"),
    act(3, "2025-03-02T10:00:00+01:00", type="data-shared", purpose="service-delivery",
        recipient="PostNL", recipient_kind="postal-service", ground="service-delivery",
        categories=["name"]),
    act(4, "2025-03-05T10:00:00+01:00", type="access-requested", request_ref="DSAR-1",
        channel="email"),
    act(5, "2025-03-20T10:00:00+01:00", type="request-deadline-extended",
        request_ref="DSAR-1", extended_by_months=2, reason_code="complexity"),
    act(6, "2025-03-21T10:00:00+01:00", type="data-rectified", purpose="service-delivery",
        request_ref="R-1", values={"name": "Inge de Vries"}),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("cli") / "data"
    record_acts(data_dir, ACTS)
    return data_dir


def test_subject_show_by_email_as_a_table_and_as_json(data: Path) -> None:
    table = ledger("subject", "show", "--email", EMAIL, data_dir=data)
    assert table.returncode == 0, table.stderr
    assert "Inge de Vries" in table.stdout
    assert "Name (name)" in table.stdout
    assert "PostNL" in table.stdout
    assert "Recipients to notify (art. 19)" in table.stdout
    shown = orjson.loads(ledger("subject", "show", SUBJECT, "--json", data_dir=data).stdout)
    values = {v["category"]: v["value"] for v in shown["personal_data"]}
    assert values["name"] == "Inge de Vries"
    assert values["business-email"] == EMAIL
    assert shown["consents"][0]["proof_ref"] == "form/881"
    (request,) = shown["requests"]
    # Art. 12(3), counted on Amsterdam's calendar: received 5 March 10:00 (CET), due three
    # months later at 10:00 there, in summer time (CEST); shown in UTC too.
    assert (request["due_at"], request["extended_months"]) == ("2025-06-05T10:00:00+02:00", 2)
    assert request["due_at_utc"] == "2025-06-05T08:00:00+00:00"


def test_dsar_export_writes_private_json_and_escaped_html(data: Path, tmp_path: Path) -> None:
    out, html = tmp_path / "export.json", tmp_path / "report.html"
    result = ledger("dsar", "export", SUBJECT, "--out", str(out), "--html", str(html),
                    data_dir=data)
    assert result.returncode == 0, result.stderr
    assert "values held" in result.stdout
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(html.stat().st_mode) == 0o600
    export = orjson.loads(out.read_bytes())
    assert export["format"] == "personal-data-ledger/dsar-export"
    assert {v["value"] for v in export["recorded_values"]} >= {NAME, "Inge de Vries", EMAIL}
    report = html.read_text("utf-8")
    assert "Inge &lt;de Vries&gt; &amp; Zn" in report
    assert NAME not in report
    again = ledger("dsar", "export", SUBJECT, "--out", str(out), data_dir=data)
    assert again.returncode == 2
    assert "never overwrites" in again.stderr
    assert ledger("dsar", "export", SUBJECT, data_dir=data).returncode == 2


def test_audit_trail_as_of_a_day_shows_what_was_held_and_why_without_values(
    data: Path,
) -> None:
    result = ledger("audit", "trail", SUBJECT, "--as-of", "2025-03-01", "--json",
                    data_dir=data)
    assert result.returncode == 0, result.stderr
    trail = orjson.loads(result.stdout)
    assert [a["act_id"] for a in trail["trail"]] == ["crm-1", "crm-1", "crm-2"]
    assert {"policy_version", "actor", "occurred_at", "recorded_at"} <= set(trail["trail"][1])
    held = trail["held"]
    assert {(v["category"], v["status"]) for v in held["personal_data"]} >= {
        ("name", "held"), ("invoice-details", "held")}
    assert {p["purpose"]: p["legal_basis"] for p in held["purposes"]}[
        "service-delivery"] == "contract"
    assert held["consents"][0]["live"] is True
    for value in (NAME, EMAIL, "Inge de Vries", "NL91"):
        assert value not in result.stdout
    table = ledger("audit", "trail", "--limit", "3", data_dir=data)
    assert "PolicyVersionPublished" in table.stdout
    assert "(first 3 acts;" in table.stdout


def test_registers_for_scripts_and_people(data: Path) -> None:
    result = ledger("registers", "--json", "--now", "2025-06-06T00:00:00Z", data_dir=data)
    assert result.returncode == 0, result.stderr
    registers = orjson.loads(result.stdout)
    (queued,) = registers["dsar_queue"]["items"]
    assert (queued["request_ref"], queued["overdue"], queued["extension_reasons"]) == (
        "DSAR-1", True, ["complexity"])
    (recipient,) = registers["disclosures"]["items"]
    assert recipient["recipient"] == "PostNL"
    assert recipient["subjects"][0]["categories"] == ["name"]
    service = next(p for p in registers["records_of_processing"]
                   if p["purpose"] == "service-delivery")
    used = {c["category"] for c in service["categories"] if c["acts"]}
    assert used == {"name", "business-email", "business-phone", "organisation-name",
                    "invoice-details", "payment-details"}
    assert service["recipients"]["used"][0]["recipient_kind"] == "postal-service"
    assert {r["scope"] for r in registers["retention_schedule"]["items"]} == {
        "general-service-delivery", "fiscal-2025"}
    people = ledger("registers", "dsar", "--now", "2025-06-06T00:00:00Z", data_dir=data)
    assert "OVERDUE" in people.stdout


def test_rebuild_reports_progress_and_gives_the_same_view(data: Path) -> None:
    before = ledger("subject", "show", SUBJECT, "--json", data_dir=data).stdout
    result = ledger("rebuild", "--json", "--batch-size", "2", data_dir=data)
    assert result.returncode == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert summary["subjects"] == 1
    assert summary["events"] == summary["position"]
    assert "rebuild:" in result.stderr, "plain counts on stderr when not a terminal"
    after = ledger("subject", "show", SUBJECT, "--json", data_dir=data).stdout
    assert orjson.loads(after) == orjson.loads(before)


def test_a_failing_event_stops_the_read_commands_naming_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert ledger("record", "-", data_dir=data_dir, stdin=ACTS[0] + b"\n").returncode == 0
    db = sqlite3.connect(data_dir / "events.sqlite")
    db.execute("INSERT INTO stored_events VALUES (?, 1, 'ledger.domain.events:NoSuchAct', ?)",
               (uuid4().hex, b"{}"))
    db.commit()
    (poisoned,) = db.execute("SELECT max(rowid) FROM stored_events").fetchone()
    db.close()
    for _ in range(2):  # it stops at the same event each time; it never skips it
        result = ledger("subject", "show", SUBJECT, data_dir=data_dir)
        assert result.returncode == 3
        assert f"projection stopped at notification {poisoned} (NoSuchAct)" in result.stderr
        assert NAME not in result.stderr


@pytest.mark.slow
def test_the_export_of_a_long_history_holds_everything_recorded(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    scenario = Scenario.of(1)
    kinds = ("rectify", "share", "process", "consent", "withdraw", "access", "extend",
             "fulfil", "restrict", "lift", "hold", "release", "object", "end-contract")
    with open_ledger(Settings().with_data_dir(data_dir)) as app:
        apply_step(app, scenario, (0, "collect", 1, 1))
        seed = 0
        while len(scenario.recorded) < 300:
            seed += 1
            kind = "collect" if seed % 25 == 0 else kinds[seed % len(kinds)]
            apply_step(app, scenario, (0, kind, seed, 5))
        subject = scenario.subjects[0]
        history = app.history(subject)
        holdings = app.subject(subject).state.holdings
        disclosures = app.subject(subject).state.disclosures

    result = ledger("dsar", "export", str(subject), "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    export = orjson.loads(result.stdout)

    # Every act, in order, with its clear fields.
    assert len(history) >= 300
    assert [(a["version"], a["act_id"], a["type"], a["actor"], a["policy_version"])
            for a in export["acts"]] == [
        (e.originator_version, e.act_id, _type(e), e.actor, e.policy_version)
        for e in history]
    assert [_moment(a["occurred_at"]) for a in export["acts"]] == [
        e.occurred_at for e in history]
    # Every value ever recorded, opened, attributed to its act, purpose and category.
    recorded = [(e.act_id, e.purpose, category, value)
                for e in history if isinstance(e, ev.DataCollected | ev.DataRectified)
                for category, value in sorted(e.values.items())]
    assert [(v["act_id"], v["purpose"], v["category"], v["value"])
            for v in export["recorded_values"]] == recorded
    # What is held now, value for value, and where it went.
    assert {(v["purpose"], v["category"]): v["value"]
            for v in export["subject"]["personal_data"]} == {
        (p, c): None if isinstance(v, Erased) else v
        for p, held in holdings.items() for c, v in held.items()}
    assert [(r["recipient"], r["purpose"], r["categories"])
            for r in export["subject"]["recipients"]] == [
        (d.recipient, d.purpose, d.categories) for d in disclosures]


def _type(event: ev.SubjectEvent) -> str:
    return "SubjectRegistered" if isinstance(event, ev.SubjectRegistered) else (
        type(event).__name__)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)

