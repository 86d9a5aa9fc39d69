"""The gate on time at the command line: moments outside the accepted range are usage
errors (exit 2), acts outside it or dated ahead of the clock are refused (exit 1).

Before the gate, ``audit trail --as-of 9999-01-01`` and ``registers --now 0001-01-01``
ran with exit 0, and ``ledger record`` recorded acts of year 9999 and acts ten minutes
ahead (``recorded 2, duplicate 0, rejected 0, failed 0``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import orjson
import pytest

from ledger.moments import ACCEPTED_RANGE
from tests.cli_helpers import ledger

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("args", [
    ("audit", "trail", "--as-of", "9999-01-01"),
    ("registers", "--now", "0001-01-01"),
    ("registers", "--until", "2200-01-01T00:00:00Z"),
    ("retention", "enforce", "--now", "0001-01-01", "--json"),
])
def test_a_moment_outside_the_range_is_a_usage_error(tmp_path: Path, args: tuple[str, ...],
                                                     ) -> None:
    result = ledger(*args, data_dir=tmp_path / "data")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"lies outside the accepted range, {ACCEPTED_RANGE}" in result.stderr
    assert "Traceback" not in result.stderr


def test_acts_out_of_range_or_ahead_of_the_clock_are_refused(tmp_path: Path) -> None:
    subject = str(uuid4())
    now = datetime.now(UTC)

    def collected(act_id: str, at: str) -> bytes:
        return orjson.dumps({
            "act_id": act_id, "type": "data-collected", "subject_id": subject,
            "actor": "crm", "occurred_at": at, "purpose": "service-delivery",
            "source_system": "crm", "legal_basis": "contract",
            "values": {"name": "CANARY-TIME", "invoice-details": "CANARY-INV"}})

    lines = [collected("crm-9999", "9999-06-01T10:00:00Z"),
             collected("crm-0001", "0001-01-01T00:30:00+01:00"),
             collected("crm-ahead", (now + timedelta(minutes=10)).isoformat()),
             collected("crm-soon", (now + timedelta(minutes=1)).isoformat())]
    result = ledger("record", "-", "--json", data_dir=tmp_path / "data",
                    stdin=b"\n".join(lines) + b"\n")
    assert result.returncode == 1, result.stdout + result.stderr
    verdicts = {v["act_id"]: v for v in map(orjson.loads, result.stdout.splitlines())
                if "act_id" in v}
    for act_id in ("crm-9999", "crm-0001"):
        assert (verdicts[act_id]["status"], verdicts[act_id]["rule"]) == (
            "rejected", "invalid-act")
        assert verdicts[act_id]["reason"] == (
            f"occurred_at: outside the accepted range, {ACCEPTED_RANGE}")
    assert (verdicts["crm-ahead"]["status"], verdicts["crm-ahead"]["rule"]) == (
        "rejected", "occurred-in-future")
    assert "crm-ahead" in verdicts["crm-ahead"]["reason"]
    assert "300 seconds" in verdicts["crm-ahead"]["reason"]
    assert verdicts["crm-soon"]["status"] == "recorded"
    assert "CANARY" not in result.stdout + result.stderr
    shown = ledger("subject", "show", subject, "--json", data_dir=tmp_path / "data")
    assert shown.returncode == 0, shown.stderr
    held = {v["category"] for v in orjson.loads(shown.stdout)["personal_data"]}
    assert held == {"name", "invoice-details"}  # the one act a minute ahead
