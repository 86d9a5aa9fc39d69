"""``POST /v1/acts``: `ledger record`'s verdicts over HTTP; the actor is the token's name;
office acts refused from upstream, signed for handlers; the body's size is bounded."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import orjson
from fastapi.testclient import TestClient

from consumers.web.context import DEFAULT_MAX_ACTS_BODY
from consumers.web.roles import Role
from tests.cli_helpers import ledger
from tests.web.conftest import bearer
from tests.web.seed import TOKEN_NAMES, Seeded

NDJSON = {"content-type": "application/x-ndjson"}


def _consent(act_id: str, subject: str, actor: str = "somebody-else") -> dict[str, object]:
    return {"act_id": act_id, "type": "consent-given", "subject_id": subject, "actor": actor,
            "occurred_at": "2025-05-01T10:00:00Z", "purpose": "demo-request",
            "channel": "web-form", "notice_version": "2021-12-24", "proof_ref": "form/1"}


def test_bad_lines_get_the_verdicts_ledger_record_gives(client: TestClient, seeded: Seeded,
                                                        tmp_path: Path) -> None:
    nobody = str(uuid4())
    lines = [
        b"{not json",
        b'{"act_id": "x-1", "type": "consent-given"}',
        b'{"act_id": "x-2", "act_id": "x-3"}',
        orjson.dumps({"act_id": "x-4", "type": "data-processed", "subject_id": nobody,
                      "actor": "crm", "occurred_at": "2025-05-01T10:00:00Z",
                      "purpose": "contact", "operation": "use", "categories": ["name"]}),
        orjson.dumps({**_consent("x-5", nobody), "surprise": 1}),
        b'{"act_id": "x-6", "type": "consent-given", "values": "' + b"a" * 300_000 + b'"}',
        b"[1, 2]",
    ]
    body = b"\n".join(lines) + b"\n"
    answer = client.post("/v1/acts", content=body, headers={
        **bearer(seeded, Role.UPSTREAM), **NDJSON})
    assert answer.status_code == 200, answer.text
    over_http = answer.json()
    cli = ledger("record", "--json", "-", data_dir=tmp_path / "fresh", stdin=body)
    from_cli = [orjson.loads(line) for line in cli.stdout.splitlines()]
    assert over_http["verdicts"] == from_cli[:-1]
    assert over_http["summary"] == from_cli[-1]["summary"]
    assert {v["rule"] for v in over_http["verdicts"]} >= {"invalid-act", "unknown-subject"}


def test_the_actor_is_the_tokens_name_and_an_array_works(client: TestClient,
                                                         seeded: Seeded) -> None:
    acts = [_consent(f"arr-{uuid4().hex[:8]}", seeded.subject_a),
            _consent(f"arr-{uuid4().hex[:8]}", seeded.subject_b)]
    answer = client.post("/v1/acts", content=orjson.dumps(acts), headers={
        **bearer(seeded, Role.UPSTREAM), "content-type": "application/json"})
    assert [v["status"] for v in answer.json()["verdicts"]] == ["recorded", "recorded"]
    trail = client.get(f"/v1/subjects/{seeded.subject_a}/audit-trail?limit=1000",
                       headers=bearer(seeded, Role.AUDITOR)).json()["trail"]
    recorded = [a for a in trail if a["act_id"] == acts[0]["act_id"]]
    assert [a["actor"] for a in recorded] == [TOKEN_NAMES[Role.UPSTREAM]]


def test_office_acts_are_refused_from_upstream_and_signed_for_handlers(
        client: TestClient, seeded: Seeded) -> None:
    hold = {"act_id": f"h-{uuid4().hex[:8]}", "type": "legal-hold-placed",
            "subject_id": seeded.subject_b, "actor": "crm",
            "occurred_at": "2025-05-02T10:00:00Z", "hold_ref": "HOLD-X", "reason": "litigation"}
    release = {"act_id": f"r-{uuid4().hex[:8]}", "type": "legal-hold-released",
               "subject_id": seeded.subject_b, "actor": "crm",
               "occurred_at": "2025-05-03T10:00:00Z", "hold_ref": "HOLD-X"}
    body = orjson.dumps(hold) + b"\n" + orjson.dumps(release)
    upstream = client.post("/v1/acts", content=body,
                           headers={**bearer(seeded, Role.UPSTREAM), **NDJSON}).json()
    assert [(v["status"], v["rule"]) for v in upstream["verdicts"]] == [
        ("recorded", None), ("rejected", "office-act-not-allowed")]
    handler = client.post("/v1/acts", content=orjson.dumps(release), headers={
        **bearer(seeded, Role.DSAR_HANDLER), **NDJSON}).json()
    assert [v["status"] for v in handler["verdicts"]] == ["recorded"]


def test_a_body_over_the_limit_is_answered_413(client: TestClient, seeded: Seeded) -> None:
    body = b"\n" * (DEFAULT_MAX_ACTS_BODY + 1)
    answer = client.post("/v1/acts", content=body,
                         headers={**bearer(seeded, Role.UPSTREAM), **NDJSON})
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 413


def test_a_body_that_is_not_acts_is_a_problem(client: TestClient, seeded: Seeded) -> None:
    sender = bearer(seeded, Role.UPSTREAM)
    not_array = client.post("/v1/acts", content=b'{"a": 1}',
                            headers={**sender, "content-type": "application/json"})
    assert not_array.status_code == 400
    wrong_type = client.post("/v1/acts", content=b"<acts/>",
                             headers={**sender, "content-type": "application/xml"})
    assert wrong_type.status_code == 415
