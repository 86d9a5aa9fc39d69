"""`ledger erase`, `ledger retention enforce` and `ledger keys rotate-master` as users run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import orjson
import pytest

pytestmark = pytest.mark.e2e


def ledger(data_dir: Path, *args: str, stdin: bytes | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", "--data-dir", str(data_dir), *args],
        input=stdin.decode() if stdin else None, capture_output=True, text=True,
        timeout=120, check=False,
    )


def collect(subject: str, email: str) -> bytes:
    return orjson.dumps({
        "act_id": f"c-{uuid4().hex[:8]}", "type": "data-collected", "subject_id": subject,
        "actor": "crm", "occurred_at": "2025-03-03T09:00:00Z", "purpose": "service-delivery",
        "source_system": "crm", "legal_basis": "contract",
        "values": {"name": "CANARY-CLI-NAME", "business-email": email,
                   "invoice-details": "CANARY-CLI-INVOICE"},
    })


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
    assert report["shredded_scopes"] == ["general"]
    assert report["kept"]["fiscal"]["until"].startswith("2033-01-01")
    assert "fiscal law" in report["kept"]["fiscal"]["legal_reason"]
    assert "CANARY" not in result.stdout + result.stderr
    # The identity went with the scope that held it.
    again = ledger(data_dir, "erase", "--email", "jan@example.nl", "--request", "DSAR-8")
    assert again.returncode == 2  # a look-up that finds nobody: usage
    assert "no subject is indexed under that email" in again.stderr


def test_retention_enforcement_shreds_the_kept_scope_when_due(
    enrolled: tuple[Path, str]
) -> None:
    data_dir, subject = enrolled
    assert ledger(data_dir, "erase", subject, "--request", "DSAR-9").returncode == 0
    early = ledger(data_dir, "retention", "enforce", "--now", "2032-12-31T00:00:00+00:00",
                   "--json")
    assert orjson.loads(early.stdout) == {"expired": [], "held": [], "pending": []}
    due = ledger(data_dir, "retention", "enforce", "--now", "2033-01-01T00:00:00+00:00",
                 "--json")
    assert due.returncode == 0, due.stderr
    assert [(e["subject_id"], e["scope"]) for e in orjson.loads(due.stdout)["expired"]] == [
        (subject, "fiscal")]


def test_master_key_rotation_rewraps_keys_and_data_stays_readable(
    enrolled: tuple[Path, str]
) -> None:
    data_dir, subject = enrolled
    old_key = (data_dir / "master.key").read_bytes()
    result = ledger(data_dir, "keys", "rotate-master", "--json")
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["rewrapped_keys"] == 2  # general and fiscal
    assert report["old_fingerprint"] != report["new_fingerprint"]
    assert (data_dir / "master.key").read_bytes() != old_key
    assert old_key not in (data_dir / "keys.sqlite").read_bytes()
    # Still readable under the new key: erasure works and finds both scopes.
    erase = ledger(data_dir, "erase", subject, "--request", "DSAR-10", "--json")
    assert erase.returncode == 0, erase.stderr
    assert orjson.loads(erase.stdout)["shredded_scopes"] == ["general"]


def test_wrong_master_key_is_a_clear_error(enrolled: tuple[Path, str], tmp_path: Path) -> None:
    data_dir, subject = enrolled
    (data_dir / "master.key").unlink()
    (data_dir / "master.key").write_text("A" * 43 + "=\n")
    result = ledger(data_dir, "erase", subject, "--request", "DSAR-11")
    assert result.returncode == 3
    assert "master" in result.stderr.lower()
    assert "Traceback" not in result.stderr
