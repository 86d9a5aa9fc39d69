"""The command line with LEDGER_POSTGRES_DSN: keys, projections and the access log on a
real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import orjson
import psycopg
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

SCHEMAS = ("ledger_keys", "ledger_projections", "ledger_access")


@pytest.fixture
def clean_schemas(postgres_dsn: str) -> Iterator[str]:
    def drop() -> None:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            for schema in SCHEMAS:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    drop()
    yield postgres_dsn
    drop()


def ledger(data_dir: Path, dsn: str, *args: str, stdin: bytes | None = None
           ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEDGER_POSTGRES_DSN": dsn}
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", "--data-dir", str(data_dir), *args],
        input=stdin.decode() if stdin else None, capture_output=True, text=True,
        timeout=120, check=False, env=env,
    )


def test_record_show_and_erase_with_keys_and_projections_in_postgres(
    tmp_path: Path, clean_schemas: str
) -> None:
    subject = str(uuid4())
    act = orjson.dumps({
        "act_id": "pg-1", "type": "data-collected", "subject_id": subject, "actor": "crm",
        "occurred_at": "2025-03-03T09:00:00Z", "purpose": "contact", "source_system": "web",
        "legal_basis": "legitimate-interest",
        "values": {"name": "CANARY-PG-NAME", "business-email": "pg@example.nl",
                   "message-content": "CANARY-PG-MESSAGE"},
    })
    assert ledger(tmp_path, clean_schemas, "record", "-", stdin=act).returncode == 0
    assert not (tmp_path / "keys.sqlite").exists(), "keys belong in PostgreSQL here"

    shown = ledger(tmp_path, clean_schemas, "subject", "show", "--email", "PG@example.nl",
                   "--json")
    assert shown.returncode == 0, shown.stderr
    assert "CANARY-PG-NAME" in shown.stdout
    assert not (tmp_path / "projections.sqlite").exists()
    assert not (tmp_path / "access-log.sqlite").exists(), "who looked is in PostgreSQL"
    with psycopg.connect(clean_schemas) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_schema = ANY(%s)", (list(SCHEMAS),))}
        logged = conn.execute("SELECT channel, shown FROM ledger_access.access_log").fetchall()
    assert tables == set(SCHEMAS)
    assert logged == [("cli", "subject-view")]

    assert ledger(tmp_path, clean_schemas, "erase", subject, "--request", "E-1"
                  ).returncode == 0
    after = ledger(tmp_path, clean_schemas, "subject", "show", subject, "--json")
    assert after.returncode == 0, after.stderr
    assert "CANARY-PG" not in after.stdout
