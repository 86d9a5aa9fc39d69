"""Key loss is not erasure: a lost, emptied, partial or foreign key store, or a lost
master key, is refused with exit 5 (2 for the master key: a setting) and what to
restore; nothing is written. A real erasure still reads as erased (the control)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from uuid import UUID, uuid4

import orjson
import pytest

from ledger.crypto.key_store_sqlite import SQLiteKeyStore
from ledger.crypto.master_key import FileMasterKey
from tests.cli_helpers import ledger

pytestmark = pytest.mark.e2e

INTEGRITY = 5


def collect(subject: str) -> bytes:
    return orjson.dumps({
        "act_id": f"c-{uuid4().hex[:8]}", "type": "data-collected", "subject_id": subject,
        "actor": "crm", "occurred_at": "2025-03-03T09:00:00Z", "purpose": "service-delivery",
        "source_system": "crm", "legal_basis": "contract",
        "values": {"name": "CANARY-LOSS-NAME", "business-email": f"{subject[:8]}@example.nl",
                   "invoice-details": "CANARY-LOSS-INVOICE"},
    })


def record_subject(data_dir: Path) -> str:
    subject = str(uuid4())
    result = ledger("record", "-", data_dir=data_dir, stdin=collect(subject))
    assert result.returncode == 0, result.stderr
    return subject


def event_store_fingerprint(data_dir: Path) -> tuple[str, int, bool]:
    """The event store's bytes (hashed), its event count, and whether a WAL is left."""
    path = data_dir / "events.sqlite"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
        count = db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
    db.close()
    return digest, count, (data_dir / "events.sqlite-wal").exists()


def remove_key_store(data_dir: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (data_dir / f"keys.sqlite{suffix}").unlink(missing_ok=True)


def key_ids(data_dir: Path) -> dict[str, UUID]:
    with sqlite3.connect(data_dir / "keys.sqlite") as db:
        rows = db.execute("SELECT scope, key_id FROM data_keys").fetchall()
    db.close()
    return {scope: UUID(bytes=bytes(key_id)) for scope, key_id in rows}


def test_a_deleted_key_store_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    subject = record_subject(tmp_path)
    remove_key_store(tmp_path)
    before = event_store_fingerprint(tmp_path)

    shown = ledger("subject", "show", subject, data_dir=tmp_path)
    assert shown.returncode == INTEGRITY, shown.stdout + shown.stderr
    assert "key-store-mismatch" in shown.stderr
    assert "missing" in shown.stderr
    assert "restore" in shown.stderr
    assert str(tmp_path / "keys.sqlite") in shown.stderr
    # Recording is refused the same way, before anything is written.
    again = ledger("record", "-", data_dir=tmp_path, stdin=collect(str(uuid4())))
    assert again.returncode == INTEGRITY, again.stdout + again.stderr

    assert event_store_fingerprint(tmp_path) == before
    assert not (tmp_path / "keys.sqlite").exists(), "a missing key store is never recreated"


@pytest.mark.parametrize("replacement", ["empty file", "fresh key store"])
def test_an_emptied_or_fresh_key_store_is_refused(tmp_path: Path, replacement: str) -> None:
    subject = record_subject(tmp_path)
    remove_key_store(tmp_path)
    if replacement == "empty file":
        (tmp_path / "keys.sqlite").write_bytes(b"")
    else:
        # A new, unbound key store under the ledger's own master key.
        SQLiteKeyStore(tmp_path / "keys.sqlite", FileMasterKey(tmp_path / "master.key")).close()
    before = event_store_fingerprint(tmp_path)
    keys_before = (tmp_path / "keys.sqlite").read_bytes()

    shown = ledger("subject", "show", subject, data_dir=tmp_path)
    assert shown.returncode == INTEGRITY, shown.stdout + shown.stderr
    assert "key-store-mismatch" in shown.stderr
    assert "empty" in shown.stderr
    assert "restore the key store backup" in shown.stderr
    assert event_store_fingerprint(tmp_path) == before
    assert (tmp_path / "keys.sqlite").read_bytes() == keys_before


@pytest.mark.parametrize("master", ["shared master key", "own master keys"])
def test_the_key_store_of_another_ledger_is_refused(tmp_path: Path, master: str) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    env = {}
    if master == "shared master key":
        key_file = tmp_path / "shared-master.key"
        FileMasterKey.generate(key_file)
        env = {"LEDGER_MASTER_KEY_FILE": str(key_file)}
    subject = str(uuid4())
    for data_dir in (ours, theirs):
        done = run(data_dir, env, "record", "-", stdin=collect(subject))
        assert done.returncode == 0, done.stderr
    remove_key_store(ours)
    shutil.copyfile(theirs / "keys.sqlite", ours / "keys.sqlite")
    before = event_store_fingerprint(ours)

    shown = run(ours, env, "subject", "show", subject)
    assert shown.returncode == INTEGRITY, shown.stdout + shown.stderr
    assert "key-store-mismatch" in shown.stderr
    assert "belongs to ledger" in shown.stderr
    assert "restore" in shown.stderr
    assert event_store_fingerprint(ours) == before


def test_a_partly_lost_key_store_names_the_missing_keys(tmp_path: Path) -> None:
    subject = record_subject(tmp_path)
    # Invoice data live under the scope of their fiscal year (fiscal-2025, ...).
    (lost,) = [key_id for scope, key_id in key_ids(tmp_path).items()
               if scope.startswith("fiscal")]
    with sqlite3.connect(tmp_path / "keys.sqlite") as db:
        db.execute("DELETE FROM data_keys WHERE key_id = ?", (lost.bytes,))
    db.close()

    for command in (("subject", "show", subject), ("subject", "show", subject, "--json"),
                    ("dsar", "export", subject, "--out", str(tmp_path / "export.json"))):
        shown = ledger(*command, data_dir=tmp_path)
        assert shown.returncode == INTEGRITY, shown.stdout + shown.stderr
        assert "key-missing" in shown.stderr
        assert f"1 data key of subject {subject}" in shown.stderr
        assert str(lost) in shown.stderr
        assert "restore the key store backup" in shown.stderr
        assert "CANARY" not in shown.stdout + shown.stderr
    assert not (tmp_path / "export.json").exists()
    # An act about the subject cannot load it: a failure (not a refusal), nothing written.
    before = event_store_fingerprint(tmp_path)
    again = ledger("record", "-", data_dir=tmp_path, stdin=collect(subject))
    assert again.returncode == 3, again.stdout + again.stderr
    assert "failed: key-missing" in again.stdout
    assert event_store_fingerprint(tmp_path)[1] == before[1]


def test_a_real_erasure_still_reads_as_erased(tmp_path: Path) -> None:
    """The positive control: shredded keys are in the fence, so they read as erased."""
    subject = record_subject(tmp_path)
    erased = ledger("erase", subject, "--request", "DSAR-1", data_dir=tmp_path)
    assert erased.returncode == 0, erased.stderr
    shown = ledger("subject", "show", subject, "--json", data_dir=tmp_path)
    assert shown.returncode == 0, shown.stderr
    statuses = {(v["category"], v["status"])
                for v in orjson.loads(shown.stdout)["personal_data"]}
    assert ("name", "erased") in statuses
    assert ("invoice-details", "held") in statuses  # kept by fiscal law
    assert "CANARY-LOSS-NAME" not in shown.stdout


def test_a_lost_master_key_is_never_replaced_next_to_existing_stores(tmp_path: Path) -> None:
    subject = record_subject(tmp_path)
    (tmp_path / "master.key").unlink()
    before = event_store_fingerprint(tmp_path)
    keys_before = (tmp_path / "keys.sqlite").read_bytes()

    for command in (("subject", "show", subject), ("record", "-"),
                    ("keys", "rotate-master")):
        shown = ledger(*command, data_dir=tmp_path, stdin=collect(str(uuid4())))
        assert shown.returncode == 2, shown.stdout + shown.stderr
        assert str(tmp_path / "master.key") in shown.stderr
        assert "restore the master key" in shown.stderr
        assert not (tmp_path / "master.key").exists(), "no new master key next to the stores"
    assert event_store_fingerprint(tmp_path) == before
    assert (tmp_path / "keys.sqlite").read_bytes() == keys_before


def test_a_new_data_dir_binds_its_stores_on_first_use(tmp_path: Path) -> None:
    data_dir = tmp_path / "new"
    subject = record_subject(data_dir)
    shown = ledger("subject", "show", subject, data_dir=data_dir)
    assert shown.returncode == 0, shown.stderr
    with sqlite3.connect(data_dir / "events.sqlite") as db:
        (event_side,) = db.execute("SELECT value FROM ledger_binding WHERE name = 'ledger_id'"
                                   ).fetchone()
    db.close()
    with sqlite3.connect(data_dir / "keys.sqlite") as db:
        (key_side,) = db.execute("SELECT value FROM key_store_meta WHERE name = 'ledger_id'"
                                 ).fetchone()
    db.close()
    assert UUID(str(event_side)) == UUID(bytes(key_side).decode()
                                         if isinstance(key_side, bytes) else str(key_side))


def test_stores_from_before_the_binding_are_bound_on_their_next_open(tmp_path: Path) -> None:
    subject = record_subject(tmp_path)
    with sqlite3.connect(tmp_path / "events.sqlite") as db:
        db.execute("DROP TABLE ledger_binding")
    db.close()
    with sqlite3.connect(tmp_path / "keys.sqlite") as db:
        db.execute("DELETE FROM key_store_meta WHERE name = 'ledger_id'")
    db.close()
    shown = ledger("subject", "show", subject, "--json", data_dir=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "CANARY-LOSS-NAME" in shown.stdout
    with sqlite3.connect(tmp_path / "events.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM ledger_binding").fetchone() == (1,)
    db.close()
    remove_key_store(tmp_path)  # and from then on, a lost key store is refused
    assert ledger("subject", "show", subject, data_dir=tmp_path).returncode == INTEGRITY


def run(data_dir: Path, env: dict[str, str], *args: str, stdin: bytes | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", "--data-dir", str(data_dir), *args],
        input=stdin.decode() if stdin else None, capture_output=True, text=True,
        timeout=120, check=False, env={**os.environ, **env},
    )
