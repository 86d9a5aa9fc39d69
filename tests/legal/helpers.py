"""What the legal tests that run the command line share: acts as a source system sends
them, and the ledger's JSON answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli_helpers import ledger, record_acts


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


def recorded_ledger(tmp_path_factory: pytest.TempPathFactory, name: str, acts: list[bytes],
                    *, erased: tuple[str, str] | None = None) -> Path:
    """A new data directory with ``acts`` recorded and, if given, ``erased``'s subject
    erased at its request (``(SUBJECT, REQUEST)``): what a module's tests read."""
    data_dir = tmp_path_factory.mktemp(name) / "data"
    record_acts(data_dir, acts)
    if erased is not None:
        subject, request = erased
        erasure = ledger("erase", subject, "--request", request, data_dir=data_dir)
        assert erasure.returncode == 0, erasure.stdout + erasure.stderr
    return data_dir
