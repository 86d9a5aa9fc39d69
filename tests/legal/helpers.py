"""What the legal tests that run the command line share: acts as a source system sends
them, and the ledger's JSON answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.cli_helpers import ledger


def act(act_id: str, subject: str, when: str, **body: Any) -> bytes:
    """An act of the CRM about ``subject`` at ``when``; ``body`` holds its type and fields."""
    return orjson.dumps({"act_id": act_id, "subject_id": subject, "actor": "crm",
                         "occurred_at": when, **body})


def read_json(data: Path, *args: str) -> dict[str, Any]:
    """``ledger ARGS --json`` on ``data``, which must succeed, as a document."""
    result = ledger(*args, "--json", data_dir=data)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = orjson.loads(result.stdout)
    return document
