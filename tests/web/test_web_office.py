"""The office's work in the console: an erasure planned, confirmed and carried out; the
other acts a DSAR handler records, from the pages and the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from consumers.web.roles import Role
from tests.web.conftest import bearer, sign_in
from tests.web.seed import Seeded


def test_the_erasure_plan_says_what_goes_and_what_stays_and_why(client: TestClient,
                                                                seeded: Seeded) -> None:
    plan = client.get(f"/v1/subjects/{seeded.subject_a}/erasure-plan",
                      headers=bearer(seeded, Role.DSAR_HANDLER)).json()
    (shred,) = plan["shred"]  # the policy's general scope (its name is the policy's)
    assert shred["scope"].startswith("general")
    assert {c["category"] for c in shred["categories"]} >= {"name", "business-email"}
    (kept,) = plan["keep"]
    assert kept["scope"].startswith("fiscal")
    assert "fiscal" in kept["legal_reason"].lower()
    assert kept["until"].startswith("2033-01-01")
    assert {"request_ref": "DSAR-E1", "kind": "erasure"} in plan["open_requests"]
    assert seeded.email_a not in str(plan)


def test_an_erasure_from_the_pages_needs_confirming_and_updates_the_queue(
        client: TestClient, seeded: Seeded) -> None:
    a = seeded.subject_a
    csrf = sign_in(client, seeded.tokens[Role.DSAR_HANDLER])
    queue = client.get("/queue").text
    assert queue.index("DSAR-E1") < queue.index("Closed requests")
    plan_page = client.get(f"/subjects/{a}/erase").text
    assert "general" in plan_page
    assert "fiscal" in plan_page
    unconfirmed = client.post(f"/subjects/{a}/erase", data={"csrf": csrf,
                                                           "request_ref": "DSAR-E1"})
    assert unconfirmed.status_code == 422
    done = client.post(f"/subjects/{a}/erase", data={"csrf": csrf, "request_ref": "DSAR-E1",
                                                    "confirm": "yes"})
    assert done.status_code == 200, done.text
    assert "Shredded: general" in done.text
    queue = client.get("/queue").text
    assert queue.index("DSAR-E1") > queue.index("Closed requests")
    view = client.post("/v1/subjects/" + a + "/view", json={
        "case_ref": "C-9", "purpose": "subject-request"},
        headers=bearer(seeded, Role.DSAR_HANDLER)).json()
    statuses = {v["category"]: v["status"] for v in view["personal_data"]}
    assert statuses["name"] == "erased"
    assert statuses["invoice-details"] == "held"


def test_office_acts_from_the_forms(client: TestClient, seeded: Seeded) -> None:
    b = seeded.subject_b
    csrf = sign_in(client, seeded.tokens[Role.DSAR_HANDLER])
    assert "Deadline extended" in client.get(f"/subjects/{b}/acts").text
    extended = client.post(f"/subjects/{b}/acts", data={
        "csrf": csrf, "type": "request-deadline-extended", "request_ref": "DSAR-B1",
        "extended_by_months": "2", "reason_code": "complexity"})
    assert extended.status_code == 200, extended.text
    not_open = client.post(f"/subjects/{b}/acts", data={
        "csrf": csrf, "type": "restriction-lifted", "request_ref": "R-404"})
    assert not_open.status_code == 422
    assert "no-such-restriction" in not_open.text
    released = client.post(f"/subjects/{b}/acts", data={
        "csrf": csrf, "type": "legal-hold-released", "hold_ref": "HOLD-1"})
    assert released.status_code == 200, released.text  # signed by the console's office key
    rectified = client.post(f"/subjects/{b}/acts", data={
        "csrf": csrf, "type": "data-rectified", "request_ref": "R-1", "purpose": "contact",
        "category": "name", "value": "Corrected Name"})
    assert rectified.status_code == 200, rectified.text
    queue = client.get("/v1/dsar-queue", headers=bearer(seeded, Role.AUDITOR)).json()
    (b1,) = [r for r in queue["items"] if r["request_ref"] == "DSAR-B1"]
    assert b1["extended_months"] == 2


def test_office_acts_over_the_api(client: TestClient, seeded: Seeded) -> None:
    b, handler = seeded.subject_b, bearer(seeded, Role.DSAR_HANDLER)
    fulfilled = client.post(f"/v1/subjects/{b}/acts", headers=handler, json={
        "type": "access-fulfilled", "request_ref": "DSAR-B1", "export_ref": "EXP-1",
        "actor": "not-me"})
    assert fulfilled.status_code == 200, fulfilled.text
    assert fulfilled.json()["status"] == "recorded"
    again = client.post(f"/v1/subjects/{b}/acts", headers=handler, json={
        "type": "access-fulfilled", "request_ref": "DSAR-B1", "export_ref": "EXP-1"})
    assert again.status_code == 422
    problem = again.json()
    assert (problem["rule"], again.headers["content-type"]) == (
        "no-such-request", "application/problem+json")
    trail = client.get(f"/v1/subjects/{b}/audit-trail?limit=1000",
                       headers=bearer(seeded, Role.AUDITOR)).json()["trail"]
    (act,) = [a for a in trail if a["act_id"] == fulfilled.json()["act_id"]]
    assert act["actor"] == "hanna-handler"
    upstream = client.post(f"/v1/subjects/{b}/acts", headers=bearer(seeded, Role.UPSTREAM),
                           json={"type": "legal-hold-released", "hold_ref": "X"})
    assert upstream.status_code == 403


def test_a_request_for_a_controller_we_do_not_serve_is_refused_by_rule(
    client: TestClient, seeded: Seeded,
) -> None:
    """Art. 28(3)(e): the console records a forwarded request; for a subject whose data
    we hold as controller the policy refuses it (not-processor), by rule, not by form."""
    forwarded = client.post(f"/v1/subjects/{seeded.subject_b}/acts",
                            headers=bearer(seeded, Role.DSAR_HANDLER), json={
        "type": "request-forwarded", "request_ref": "FWD-1", "request_kind": "access",
        "channel": "email", "forwarded_to": "Some Customer B.V."})
    assert forwarded.status_code == 422, forwarded.text
    assert forwarded.json()["rule"] == "not-processor"
