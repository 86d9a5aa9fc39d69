"""What the end-to-end tests share: the ledger's command line run as a user runs it, and
canary values, unique per call, to look for where they must not be afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import orjson

# Each canary is recognisable and valid for its category; the message holds markup, so
# that reports are seen to escape it.
_CANARY_FORMATS = {
    "name": "CANARY-{tag}-NAME-{token}",
    "business-email": "canary-{tag}-{token}@example.nl",
    "business-phone": "+31 6 {digits}",
    "invoice-details": "CANARY-{tag}-INVOICE-{token}",
    "message-content": "CANARY-{tag}-MSG-{token} <b>&amp;</b>",
}


def ledger(*args: str, data_dir: Path, stdin: bytes | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``ledger --data-dir DATA_DIR ARGS...`` in a fresh interpreter; never raises on exit codes."""
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", "--data-dir", str(data_dir), *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def canaries(tag: str, *categories: str) -> dict[str, str]:
    """A value for each of ``categories``, carrying ``tag`` and a token unique to this call."""
    token = uuid4().hex[:10]
    digits = str(int(token, 16))[-9:]  # a phone number must be one: digits only
    return {c: _CANARY_FORMATS[c].format(tag=tag, token=token, digits=digits)
            for c in categories}


def collected(subject: str, values: dict[str, str]) -> bytes:
    """A data-collected act from the CRM for service delivery (contract) holding ``values``."""
    return orjson.dumps({
        "act_id": f"c-{uuid4().hex[:8]}", "type": "data-collected", "subject_id": subject,
        "actor": "crm", "occurred_at": "2025-03-03T09:00:00Z", "purpose": "service-delivery",
        "source_system": "crm", "legal_basis": "contract", "values": values,
    })


def record_acts(data_dir: Path, acts: list[bytes]) -> None:
    """``ledger record -`` of ``acts``, one a line; asserts they were all recorded."""
    recorded = ledger("record", "-", data_dir=data_dir, stdin=b"\n".join(acts) + b"\n")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
