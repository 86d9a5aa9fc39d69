"""`ledger erase`, `ledger retention enforce` and `ledger keys rotate-master` as users run them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from uuid import uuid4

import orjson
import pytest

from tests import cli_helpers as cli

pytestmark = pytest.mark.e2e


def ledger(data_dir: Path, *args: str, stdin: bytes | None = None
           ) -> subprocess.CompletedProcess[str]:
    return cli.ledger(*args, data_dir=data_dir, stdin=stdin or None, timeout=120)


def collect(subject: str, email: str) -> bytes:
    return cli.collected(subject, {"name": "CANARY-CLI-NAME", "business-email": email,
                                   "invoice-details": "CANARY-CLI-INVOICE"})


@pytest.fixture
def enrolled(tmp_path: Path) -> tuple[Path, str]:
    subject = str(uuid4())
    assert ledger(tmp_path, "record", "-", stdin=collect(subject, "Jan@Example.NL")
                  ).returncode == 0
    return tmp_path, subject


def test_erase_by_email_keeps_fiscal_records_with_the_reason(
    enrolled: tuple[Path, str]
) -> None:
    data_dir, subject = enrolled
    result = ledger(data_dir, "erase", "--email", " jan@example.nl ", "--request", "DSAR-7",
                    "--json")
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["subject_id"] == subject
    # Ordinary data of the purpose shredded; the invoice of 2025 kept until 1 January
    # 2033 00:00 in Amsterdam (art. 52 AWR), under its own fiscal year's scope.
    assert report["shredded_scopes"] == ["general-service-delivery"]
    assert report["kept"]["fiscal-2025"]["until"] == "2033-01-01T00:00:00+01:00"
    assert "fiscal law" in report["kept"]["fiscal-2025"]["legal_reason"]
    assert "CANARY" not in result.stdout + result.stderr
    # The identity went with the scope that held it.
    again = ledger(data_dir, "erase", "--email", "jan@example.nl", "--request", "DSAR-8")
    assert again.returncode == 2  # a look-up that finds nobody: usage
    assert "no subject is indexed under that email" in again.stderr


def test_a_future_moment_only_plans_retention_and_shreds_nothing(
    enrolled: tuple[Path, str]
) -> None:
    """Art. 17(3)(b), fiscal retention: `--now` in the future is a dry run; the kept
    invoice data is still held afterwards. (Shredding on the due date, with the clock
    injected, is tests/e2e/test_erasure_leaves_no_plaintext.py.)"""
    data_dir, subject = enrolled
    assert ledger(data_dir, "erase", subject, "--request", "DSAR-9").returncode == 0
    early = ledger(data_dir, "retention", "enforce", "--now", "2032-12-31T00:00:00+00:00",
                   "--json")
    assert early.returncode == 0, early.stderr
    assert orjson.loads(early.stdout) == {"expired": [], "held": [], "pending": [],
                                          "dry_run": True, "planned": []}
    due = ledger(data_dir, "retention", "enforce", "--now", "2033-01-01T00:00:00+00:00",
                 "--json")
    assert due.returncode == 0, due.stderr
    report = orjson.loads(due.stdout)
    assert report["dry_run"] is True
    assert report["expired"] == []
    assert [(e["subject_id"], e["scope"]) for e in report["planned"]] == [
        (subject, "fiscal-2025")]
    shown = orjson.loads(ledger(data_dir, "subject", "show", subject, "--json").stdout)
    fiscal = [v for v in shown["personal_data"] if v["category"] == "invoice-details"]
    assert fiscal
    assert all(v["status"] == "held" for v in fiscal)
    today = ledger(data_dir, "retention", "enforce", "--json")
    assert orjson.loads(today.stdout) == {"expired": [], "held": [], "pending": []}


def test_master_key_rotation_rewraps_keys_and_data_stays_readable(
    enrolled: tuple[Path, str]
) -> None:
    data_dir, subject = enrolled
    old_key = (data_dir / "master.key").read_bytes()
    result = ledger(data_dir, "keys", "rotate-master", "--json")
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    # The act digests' key (general), the purpose's (general-service-delivery) and the
    # fiscal year's (fiscal-2025).
    assert report["rewrapped_keys"] == 3
    assert report["old_fingerprint"] != report["new_fingerprint"]
    assert (data_dir / "master.key").read_bytes() != old_key
    assert old_key not in (data_dir / "keys.sqlite").read_bytes()
    # Still readable under the new key: erasure works and finds both scopes.
    erase = ledger(data_dir, "erase", subject, "--request", "DSAR-10", "--json")
    assert erase.returncode == 0, erase.stderr
    assert orjson.loads(erase.stdout)["shredded_scopes"] == ["general-service-delivery"]


def test_wrong_master_key_is_a_clear_error(enrolled: tuple[Path, str], tmp_path: Path) -> None:
    data_dir, subject = enrolled
    (data_dir / "master.key").unlink()
    (data_dir / "master.key").write_text("A" * 43 + "=\n")
    result = ledger(data_dir, "erase", subject, "--request", "DSAR-11")
    assert result.returncode == 3
    assert "master" in result.stderr.lower()
    assert "Traceback" not in result.stderr


def _office_act(subject: str, act_type: str, **body: str) -> bytes:
    return orjson.dumps({"act_id": f"o-{uuid4().hex[:8]}", "type": act_type,
                         "subject_id": subject, "actor": "crm",
                         "occurred_at": "2025-04-01T09:00:00Z", **body})


def test_an_upstream_system_cannot_shred_and_the_office_can(
    enrolled: tuple[Path, str]
) -> None:
    """Art. 17 erasure is the controller's decision: an unsigned erasure or expiry from
    any upstream system is refused and nothing is shredded; the office's own file of acts,
    signed by `record --office`, is recorded, and only after the request was recorded."""
    data_dir, subject = enrolled
    request = _office_act(subject, "erasure-requested", request_ref="DSAR-5", channel="email")
    carry_out = _office_act(subject, "erasure-carried-out", request_ref="DSAR-5",
                            channel="email")
    expire = _office_act(subject, "retention-expired", scope="general")
    unsigned = ledger(data_dir, "record", "--json", "-", stdin=carry_out + b"\n" + expire)
    assert unsigned.returncode == 1
    assert [v.get("rule") for v in map(orjson.loads, unsigned.stdout.splitlines()[:-1])] == [
        "office-signature-required", "office-signature-required"]
    shown = ledger(data_dir, "subject", "show", subject, "--json")
    assert "CANARY-CLI-NAME" in shown.stdout, "nothing was shredded"

    early = ledger(data_dir, "record", "--office", "--json", "-", stdin=carry_out)
    assert [v.get("rule") for v in map(orjson.loads, early.stdout.splitlines()[:-1])] == [
        "no-such-request"], "an erasure needs a recorded request"
    signed = ledger(data_dir, "record", "--office", "--json", "-",
                    stdin=request + b"\n" + carry_out.replace(b"o-", b"p-", 1))
    assert signed.returncode == 0, signed.stdout + signed.stderr
    shown = ledger(data_dir, "subject", "show", subject, "--json")
    assert "CANARY-CLI-NAME" not in shown.stdout
    assert "CANARY-CLI-INVOICE" in shown.stdout, "fiscal data kept (art. 17(3)(b))"


def test_office_keys_can_be_rotated_and_listed(enrolled: tuple[Path, str]) -> None:
    data_dir, subject = enrolled
    before = orjson.loads(ledger(data_dir, "keys", "office-public-key", "--json").stdout)
    assert len(before["keys"]) == 1, "a new ledger makes its office key on first use"
    assert ledger(data_dir, "keys", "office-keygen").returncode == 2  # one exists
    rotated = ledger(data_dir, "keys", "office-keygen", "--rotate", "--json")
    assert rotated.returncode == 0, rotated.stderr
    change = orjson.loads(rotated.stdout)
    assert change["retired"] == before["keys"][0]["key_id"]
    after = orjson.loads(ledger(data_dir, "keys", "office-public-key", "--json").stdout)
    assert {k["key_id"] for k in after["keys"]} == {change["retired"], change["key_id"]}
    assert (data_dir / "office.key").stat().st_mode & 0o777 == 0o600
    erased = ledger(data_dir, "erase", subject, "--request", "DSAR-6", "--json")
    assert erased.returncode == 0, erased.stdout + erased.stderr
