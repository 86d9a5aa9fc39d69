"""`ledger record` as a user runs it: a file of acts, some bad, verdicts line by line."""

from __future__ import annotations

import json
import subprocess
import sys
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


def test_an_act_id_sent_again_with_other_values_is_an_act_id_conflict(tmp_path: Path) -> None:
    """In one file (the second line never reaches the backend) and in a later run (the
    ledger compares the keyed digest it kept): the first act stands, exit 1."""
    subject = str(uuid4())
    collect = {"type": "data-collected", "purpose": "contact", "source_system": "web",
               "legal_basis": "legitimate-interest"}
    first = act(subject, 1, **collect, values={"name": f"{CANARY}-first"})
    other = act(subject, 1, **collect, values={"name": f"{CANARY}-other"})
    result = ledger("record", "--json", "-", data_dir=tmp_path, stdin=first + b"\n" + other)
    assert result.returncode == 1, result.stdout + result.stderr
    *verdicts, summary = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [(v["line"], v["status"], v["rule"]) for v in verdicts] == [
        (1, "recorded", None), (2, "rejected", "act-id-conflict")]
    assert "t-1" in verdicts[1]["reason"]
    assert "line 1" in verdicts[1]["reason"]
    assert summary["summary"]["rejected"] == 1

    again = ledger("record", "--json", "-", data_dir=tmp_path, stdin=other)
    assert again.returncode == 1, again.stdout + again.stderr
    verdict = orjson.loads(again.stdout.splitlines()[0])
    assert (verdict["status"], verdict["rule"]) == ("rejected", "act-id-conflict")
    assert "t-1" in verdict["reason"]
    assert "version 1" in verdict["reason"]
    same = ledger("record", "--json", "-", data_dir=tmp_path, stdin=first)
    assert same.returncode == 0, same.stdout + same.stderr
    assert orjson.loads(same.stdout.splitlines()[0])["status"] == "duplicate"
    assert CANARY not in result.stdout + again.stdout + same.stdout
    shown = ledger("subject", "show", subject, "--json", data_dir=tmp_path)
    assert f"{CANARY}-first" in shown.stdout
    assert f"{CANARY}-other" not in shown.stdout


def test_a_malformed_identity_is_refused_as_invalid_value_not_a_failure(
        tmp_path: Path) -> None:
    # Before: `failed: internal-error: ValueError` (exit 3) for the phone, and the email
    # recorded and bound as an identity.
    collect = {"type": "data-collected", "purpose": "service-delivery", "source_system": "crm",
               "legal_basis": "contract"}
    lines = [
        act(str(uuid4()), 1, **collect, values={"name": CANARY, "business-phone": "n/a"}),
        act(str(uuid4()), 2, **collect, values={"name": CANARY,
                                                "business-email": "not an email"}),
    ]
    result = ledger("record", "--json", "-", data_dir=tmp_path, stdin=b"\n".join(lines))
    assert result.returncode == 1, result.stderr
    verdicts = [orjson.loads(line) for line in result.stdout.splitlines()[:-1]]
    assert [(v["status"], v["rule"]) for v in verdicts] == [
        ("rejected", "invalid-value"), ("rejected", "invalid-value")]
    assert verdicts[0]["reason"].startswith("values.business-phone: is not a phone number")
    assert verdicts[1]["reason"].startswith("values.business-email: is not an email address")
    assert CANARY not in result.stdout + result.stderr


# Runs `ledger` in a child that reports its own peak resident size when it is done.
_MEASURED = ("import json, resource, sys\n"
             "from consumers.cli import main\n"
             "code = main(sys.argv[1:])\n"
             "sys.stdout.flush()\n"
             "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             "print(json.dumps({'peak_kib': peak}), file=sys.stderr)\n"
             "sys.exit(code)\n")


def _record_through_a_pipe(data_dir: Path, line_size: int) -> tuple[list[dict[str, object]],
                                                                      int]:
    """Three lines through stdin, the second ``line_size`` bytes without a newline until
    its end; the verdicts and the child's peak resident size (KiB)."""
    good = {"type": "consent-given", "purpose": "website", "channel": "banner",
            "notice_version": "cookie-2024", "proof_ref": "cb/1"}
    child = subprocess.Popen(
        [sys.executable, "-c", _MEASURED, "--data-dir", str(data_dir), "record", "--json", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdin is not None
    assert child.stdout is not None
    assert child.stderr is not None
    try:
        child.stdin.write(act(str(uuid4()), 1, **good) + b"\n")
        chunk = b"x" * (1024 * 1024)
        for start in range(0, line_size, len(chunk)):
            child.stdin.write(chunk[:line_size - start])
        child.stdin.write(b"\n" + act(str(uuid4()), 3, **good) + b"\n")
        child.stdin.close()
        # A few lines of verdicts: they fit the pipes' buffers while stdin is written.
        out, err = child.stdout.read(), child.stderr.read()
        child.wait(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 1, err
    verdicts = [orjson.loads(line) for line in out.splitlines()[:-1]]
    return verdicts, int(json.loads(err.splitlines()[-1])["peak_kib"])


def test_a_200_mb_line_is_refused_with_bounded_memory_and_the_lines_after_it_go_on(
        tmp_path: Path) -> None:
    # Before: the whole line was read into memory first (peak ~459 MiB against ~54 MiB
    # for a short line); now the reader holds at most 256 KiB of a line.
    small, small_peak = _record_through_a_pipe(tmp_path / "small", 1024)
    big, big_peak = _record_through_a_pipe(tmp_path / "big", 200 * 1024 * 1024)
    assert [(v["line"], v["status"]) for v in big] == [
        (1, "recorded"), (2, "rejected"), (3, "recorded")]
    assert big[1]["reason"] == "act is larger than 262144 bytes"
    assert small[1]["reason"] == "not valid JSON"
    growth_mib = (big_peak - small_peak) / 1024
    assert growth_mib <= 16, f"peak grew by {growth_mib:.1f} MiB"
