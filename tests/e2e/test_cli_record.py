"""`ledger record` as a user runs it: a file of acts, some bad, verdicts line by line."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import orjson
import pytest

from tests.cli_helpers import ledger

pytestmark = pytest.mark.e2e

CANARY = "CANARY-e2e-91c4"


def act(subject: str, n: int, **body: object) -> bytes:
    return orjson.dumps({
        "act_id": f"t-{n}", "subject_id": subject, "actor": "crm",
        "occurred_at": "2025-03-03T09:00:00Z", **body,
    })


def test_bad_lines_are_rejected_and_the_good_ones_around_them_recorded(tmp_path: Path) -> None:
    subject = str(uuid4())
    collect = {"type": "data-collected", "purpose": "contact", "source_system": "web",
               "legal_basis": "legitimate-interest"}
    lines = [
        act(subject, 1, **collect, values={"name": f"{CANARY}-name"}),
        b'{"act_id": "t-2", "values": {"name": "' + CANARY.encode() + b'"',  # broken JSON
        act(subject, 3, **collect, values={"name": 42}),  # wrong type
        act(subject, 4, **collect, values={"name": CANARY * 3000}),  # oversized
        act(subject, 5, **collect, values={"name": "x"}, shoe_size=44),  # unknown field
        act(subject, 6, **{**collect, "purpose": "newsletter"}, values={"name": CANARY}),
        act(subject, 7, type="data-processed", purpose="contact", operation="use",
            categories=["name"]),
        act(str(uuid4()), 8, type="data-processed", purpose="contact", operation="use",
            categories=["name"]),  # unknown subject
    ]
    source = tmp_path / "acts.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")

    result = ledger("record", "--json", str(source), data_dir=tmp_path / "data")

    assert result.returncode == 1, result.stderr
    assert CANARY not in result.stdout
    assert CANARY not in result.stderr
    verdicts = [orjson.loads(line) for line in result.stdout.splitlines()]
    summary = verdicts.pop()
    assert summary == {"summary": {"recorded": 2, "duplicate": 0, "rejected": 6, "failed": 0,
                                   "pending": 0}}
    by_line = {v["line"]: v for v in verdicts}
    assert [by_line[n]["status"] for n in range(1, 9)] == [
        "recorded", "rejected", "rejected", "rejected", "rejected", "rejected",
        "recorded", "rejected"]
    assert by_line[2]["reason"] == "not valid JSON"
    assert by_line[3]["reason"] == "values.name: must be of type string"
    assert "longer than 16384" in by_line[4]["reason"]
    assert "shoe_size" in by_line[5]["reason"]
    assert "unknown purpose 'newsletter'" in by_line[6]["reason"]
    assert by_line[8]["rule"] == "unknown-subject"


def test_human_output_and_summary(tmp_path: Path) -> None:
    good = act(str(uuid4()), 1, type="consent-given", purpose="website", channel="banner",
               notice_version="cookie-2024", proof_ref="cb/1")
    result = ledger("record", "-", data_dir=tmp_path, stdin=good + b"\n{oops\n")
    assert result.returncode == 1
    assert "line 2: rejected: invalid-act: not valid JSON" in result.stdout
    assert "recorded 1, duplicate 0, rejected 1, failed 0" in result.stderr


def test_all_good_exits_zero_and_records_survive_a_restart(tmp_path: Path) -> None:
    subject = str(uuid4())
    first = act(subject, 1, type="consent-given", purpose="website", channel="banner",
                notice_version="cookie-2024", proof_ref="cb/1")
    assert ledger("record", "-", data_dir=tmp_path, stdin=first).returncode == 0
    again = act(subject, 2, type="consent-withdrawn", purpose="website", channel="banner",
                proof_ref="cb/2")
    # Withdrawal needs the consent recorded by the first, separate process.
    assert ledger("record", "-", data_dir=tmp_path, stdin=again).returncode == 0


def test_help_describes_the_commands(tmp_path: Path) -> None:
    result = ledger("--help", data_dir=tmp_path)
    assert result.returncode == 0
    for command in ("record", "demo", "schema"):
        assert command in result.stdout


def test_demo_records_and_refuses(tmp_path: Path) -> None:
    result = ledger("demo", "--json", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    outcomes = [orjson.loads(line) for line in result.stdout.splitlines()]
    refused = {o["detail"].split(":")[0] for o in outcomes if o["status"] == "refused"}
    assert {"consent-required", "category-not-in-purpose", "recipient-kind-not-allowed",
            "objection", "transfer-changes-purpose", "restricted"} <= refused
    erasure = next(o for o in outcomes if o["act_type"] == "erasure-completed")
    assert "shredded general" in erasure["detail"]
    assert "kept fiscal" in erasure["detail"]


def test_a_re_delivered_file_is_recorded_once(tmp_path: Path) -> None:
    subject = str(uuid4())
    acts = b"\n".join([
        act(subject, 1, type="consent-given", purpose="website", channel="banner",
            notice_version="cookie-2024", proof_ref="cb/1"),
        act(subject, 2, type="consent-withdrawn", purpose="website", channel="banner",
            proof_ref="cb/2"),
    ])
    first = ledger("record", "--json", "-", data_dir=tmp_path, stdin=acts)
    again = ledger("record", "--json", "-", data_dir=tmp_path, stdin=acts)
    assert orjson.loads(first.stdout.splitlines()[-1])["summary"]["recorded"] == 2
    summary = orjson.loads(again.stdout.splitlines()[-1])["summary"]
    assert summary == {"recorded": 0, "duplicate": 2, "rejected": 0, "failed": 0,
                       "pending": 0}
    assert again.returncode == 0
