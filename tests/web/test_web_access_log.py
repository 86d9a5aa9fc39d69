"""The access log: every opening of values leaves exactly one entry, nothing else does;
no personal value is ever in it; it is append-only; the subject's export lists the
consultations, its own making included. Pages, API and the command line alike."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from consumers.access.log_sqlite import SQLiteAccessLog
from consumers.web.roles import Role
from tests.canary_scan import raw_hits, store_files
from tests.cli_helpers import ledger
from tests.web.conftest import bearer, sign_in
from tests.web.seed import Seeded

WHY = {"case_ref": "CASE-7", "purpose": "subject-request"}


def _entries(seeded: Seeded) -> list[dict[str, Any]]:
    log = SQLiteAccessLog(seeded.settings.data_dir / "access-log.sqlite")
    try:
        return [entry.as_dict() for entry in log.entries()]
    finally:
        log.close()


def test_each_view_of_values_leaves_exactly_one_entry(client: TestClient,
                                                      seeded: Seeded) -> None:
    a, api = seeded.subject_a, bearer(seeded, Role.DSAR_HANDLER)

    def page_find() -> Any:
        csrf = sign_in(client, seeded.tokens[Role.DSAR_HANDLER])
        return client.post("/find", data={"csrf": csrf, "email": seeded.email_a, **WHY})

    def page_view() -> Any:
        csrf = sign_in(client, seeded.tokens[Role.ADMIN])
        return client.post(f"/subjects/{a}/view", data={"csrf": csrf, **WHY})

    def page_export(kind: str) -> Callable[[], Any]:
        def export() -> Any:
            csrf = sign_in(client, seeded.tokens[Role.DSAR_HANDLER])
            return client.post(f"/subjects/{a}/export",
                               data={"csrf": csrf, "format": kind, **WHY})
        return export

    views: list[tuple[str, Callable[[], Any], str, str]] = [
        ("api view", lambda: client.post(f"/v1/subjects/{a}/view", json=WHY, headers=api),
         "subject-view", "api"),
        ("api export json", lambda: client.post(f"/v1/subjects/{a}/export",
                                                json={**WHY, "format": "json"},
                                                headers=api), "export-json", "api"),
        ("api export html", lambda: client.post(f"/v1/subjects/{a}/export",
                                                json={**WHY, "format": "html"},
                                                headers=api), "export-html", "api"),
        ("page find", page_find, "subject-view", "web"),
        ("page view", page_view, "subject-view", "web"),
        ("page export json", page_export("json"), "export-json", "web"),
        ("page export html", page_export("html"), "export-html", "web"),
    ]
    for name, view, shown, channel in views:
        before = len(_entries(seeded))
        client.cookies.clear()
        answer = view()
        assert answer.status_code == 200, (name, answer.text[:300])
        assert seeded.email_a in answer.text, name  # positive control: values were shown
        after = _entries(seeded)
        assert len(after) == before + 1, name
        entry = after[-1]
        assert (entry["subject_id"], entry["shown"], entry["channel"], entry["case_ref"],
                entry["purpose"]) == (a, shown, channel, "CASE-7", "subject-request"), name
        assert "business-email" in entry["categories"]


def test_reads_without_values_leave_no_entry(client: TestClient, seeded: Seeded) -> None:
    a = seeded.subject_a
    before = len(_entries(seeded))
    auditor, handler = bearer(seeded, Role.AUDITOR), bearer(seeded, Role.DSAR_HANDLER)
    for path in (f"/v1/subjects/{a}/audit-trail", "/v1/dsar-queue", "/v1/retention-schedule",
                 "/v1/registers/disclosures", "/v1/access-log"):
        assert client.get(path, headers=auditor).status_code == 200, path
    assert client.get(f"/v1/subjects/{a}/erasure-plan", headers=handler).status_code == 200
    assert client.post("/v1/subjects/lookup", json={"email": seeded.email_a},
                       headers=handler).status_code == 200
    sign_in(client, seeded.tokens[Role.DSAR_HANDLER])
    for path in (f"/subjects/{a}", f"/subjects/{a}/erase", "/queue", f"/audit?subject_id={a}"):
        assert client.get(path).status_code == 200, path
    assert len(_entries(seeded)) == before


def test_a_view_without_a_case_or_purpose_is_refused_and_not_logged(
        client: TestClient, seeded: Seeded) -> None:
    api = bearer(seeded, Role.DSAR_HANDLER)
    before = len(_entries(seeded))
    for body in ({}, {"case_ref": "CASE-7"}, {**WHY, "purpose": "curiosity"},
                 {**WHY, "case_ref": seeded.email_a}):
        answer = client.post(f"/v1/subjects/{seeded.subject_a}/view", json=body, headers=api)
        assert answer.status_code == 422
        assert seeded.email_a not in answer.text  # not even echoed back
    assert len(_entries(seeded)) == before


def test_the_cli_read_commands_log_the_same_way(seeded: Seeded, tmp_path: Path) -> None:
    data = seeded.settings.data_dir
    before = len(_entries(seeded))
    shown = ledger("subject", "show", seeded.subject_a, "--json", data_dir=data)
    assert shown.returncode == 0, shown.stderr
    exported = ledger("dsar", "export", "--email", "@" + str(_file(tmp_path, seeded.email_a)),
                      "--out", str(tmp_path / "a.json"), "--html", str(tmp_path / "a.html"),
                      "--case", "CASE-CLI", "--purpose", "complaint", "--as-user", "olaf",
                      data_dir=data)
    assert exported.returncode == 0, exported.stderr
    entries = _entries(seeded)[before:]
    assert [(e["viewer"], e["role"], e["channel"], e["shown"], e["case_ref"], e["purpose"])
            for e in entries] == [
        (entries[0]["viewer"], "operator", "cli", "subject-view", "operator-cli",
         "operator-cli"),
        ("olaf", "operator", "cli", "export-json+html", "CASE-CLI", "complaint")]
    document = orjson.loads((tmp_path / "a.json").read_bytes())
    assert document["consultations"][-1]["purpose"] == "complaint"
    assert "handling a complaint" in (tmp_path / "a.html").read_text()


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lookup.txt"
    path.write_text(text + "\n")
    return path


def test_the_export_lists_the_consultations_including_its_own(client: TestClient,
                                                              seeded: Seeded) -> None:
    b, api = seeded.subject_b, bearer(seeded, Role.DSAR_HANDLER)
    client.post(f"/v1/subjects/{b}/view", json={"case_ref": "C-B", "purpose": "complaint"},
                headers=api)
    first = client.post(f"/v1/subjects/{b}/export", json={**WHY, "format": "json"},
                        headers=api).json()
    second = client.post(f"/v1/subjects/{b}/export", json={**WHY, "format": "json"},
                         headers=api).json()
    assert [(c["purpose"], c["shown"]) for c in first["consultations"]] == [
        ("complaint", "subject-view"), ("subject-request", "export-json")]
    assert second["consultations"][:2] == first["consultations"]
    assert [c["shown"] for c in second["consultations"]][-1] == "export-json"
    assert set(second["consultations"][0]) == {"at", "purpose", "purpose_description",
                                               "shown"}  # never who looked


def test_no_personal_value_is_in_the_access_log(client: TestClient, seeded: Seeded) -> None:
    client.post(f"/v1/subjects/{seeded.subject_a}/view", json=WHY,
                headers=bearer(seeded, Role.DSAR_HANDLER))
    log_files = store_files(seeded.settings.data_dir / "access-log.sqlite")
    assert log_files
    needles = [c.encode() for c in seeded.canaries]
    assert {n: h for n, h in raw_hits(log_files, needles).items() if h} == {}
    # Positive control: the scan finds a value where one is (the intake's plaintext).
    control = seeded.settings.data_dir / "control.txt"
    control.write_text(seeded.canaries[0])
    assert raw_hits([control], needles[:1])[needles[0]] == [str(control)]


def test_the_log_is_append_only_and_its_chain_verifies(client: TestClient,
                                                       seeded: Seeded, tmp_path: Path) -> None:
    path = seeded.settings.data_dir / "access-log.sqlite"
    with sqlite3.connect(path) as db:
        for statement in ("UPDATE access_log SET purpose = 'x'", "DELETE FROM access_log"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement)
    answer = client.get("/v1/access-log/verification", headers=bearer(seeded, Role.AUDITOR))
    assert answer.json()["intact"] is True
    assert answer.json()["entries"] >= 1
    # A copy, triggers dropped and an entry changed: the chain shows where.
    copy = tmp_path / "copy.sqlite"
    with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with sqlite3.connect(copy) as db:
        db.execute("DROP TRIGGER access_log_no_update")
        db.execute("UPDATE access_log SET purpose = 'legal-claim' WHERE seq = 1")
    tampered = SQLiteAccessLog(copy)
    try:
        result = tampered.verify()
    finally:
        tampered.close()
    assert (result.intact, result.first_bad_seq) == (False, 1)
