"""The verifiable log on the embedded store, as an auditor and an operator use it.

Each tamper test copies a ledger, verifies the copy untouched (its own positive
control: exit 0, intact), tampers with the copy's SQLite file the way someone with write
access to it could, and verifies again: exit 1, the shard, the sequence number and what
failed. Then erasure (the log still verifies, an export made before it still verifies
offline, and today's log provably extends its checkpoint), a rewritten history (the
fork is reported), a store from before the tree (numbered once), and the keys.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import orjson
import pytest

from tests import cli_helpers as cli

pytestmark = pytest.mark.e2e

SUBJECTS = [str(uuid4()) for _ in range(4)]


def ledger(data_dir: Path, *args: str, stdin: bytes | None = None
           ) -> subprocess.CompletedProcess[str]:
    return cli.ledger(*args, data_dir=data_dir, stdin=stdin or None, timeout=120)


def collect(subject: str, tag: str) -> bytes:
    return cli.collected(subject, {"name": f"CANARY-AUDIT-{tag}",
                                   "business-email": f"{tag}@example.nl",
                                   "invoice-details": f"INV-{tag}"})


def use(subject: str) -> bytes:
    return orjson.dumps({
        "act_id": f"p-{uuid4().hex[:8]}", "type": "data-processed", "subject_id": subject,
        "actor": "crm", "occurred_at": "2025-03-04T09:00:00Z", "purpose": "service-delivery",
        "operation": "invoice", "categories": ["invoice-details"]})


def record(data_dir: Path, *lines: bytes) -> None:
    result = ledger(data_dir, "record", "-", stdin=b"\n".join(lines) + b"\n")
    assert result.returncode == 0, result.stdout + result.stderr


def verify(data_dir: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = ledger(data_dir, "audit", "verify", "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    assert "CANARY" not in result.stdout + result.stderr, "a report names places, never values"
    return result.returncode, orjson.loads(result.stdout)


def problems(report: dict) -> list[tuple[str, int | None]]:  # type: ignore[type-arg]
    return [(p["kind"], p["first"]) for shard in report["shards"] for p in shard["problems"]]


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("audit") / "data"
    record(data_dir, *(collect(s, f"s{n}") for n, s in enumerate(SUBJECTS)))
    record(data_dir, *(use(s) for s in SUBJECTS))
    return data_dir


@pytest.fixture
def copy(original: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(original, target)
    return target


def events_db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "events.sqlite", isolation_level=None)


def sequence_at(db: sqlite3.Connection, rowid: int) -> int:
    (sequence,) = db.execute("SELECT sequence FROM ledger_leaves WHERE notification_id = ?",
                             (rowid,)).fetchone()
    return int(sequence)


def flip_a_byte(db: sqlite3.Connection) -> int:
    (state,) = db.execute("SELECT state FROM stored_events WHERE rowid = 5").fetchone()
    changed = bytearray(state)
    changed[len(changed) // 2] ^= 0x01
    db.execute("UPDATE stored_events SET state = ? WHERE rowid = 5", (bytes(changed),))
    return sequence_at(db, 5)


def delete_a_row(db: sqlite3.Connection) -> int:
    sequence = sequence_at(db, 6)
    db.execute("DELETE FROM stored_events WHERE rowid = 6")
    return sequence


def insert_a_forged_event(db: sqlite3.Connection) -> int | None:
    subject, topic, state = db.execute(
        "SELECT originator_id, topic, state FROM stored_events WHERE rowid = 5").fetchone()
    db.execute("INSERT INTO stored_events VALUES (?, 99, ?, ?)", (subject, topic, state))
    return None  # it has no sequence to name: it is named by its place


def swap_two_events(db: sqlite3.Connection) -> int:
    sequence = sequence_at(db, 6)
    db.execute("UPDATE stored_events SET rowid = -1 WHERE rowid = 6")
    db.execute("UPDATE stored_events SET rowid = 6 WHERE rowid = 7")
    db.execute("UPDATE stored_events SET rowid = 7 WHERE rowid = -1")
    return sequence


@pytest.mark.parametrize(("tamper", "kind"), [
    (flip_a_byte, "changed"), (delete_a_row, "missing"),
    (insert_a_forged_event, "inserted"), (swap_two_events, "reordered"),
])
def test_each_tampering_is_detected_and_named(
    copy: Path, tamper: Callable[[sqlite3.Connection], int | None], kind: str,
) -> None:
    code, before = verify(copy)
    assert (code, before["intact"], problems(before)) == (0, True, []), "positive control"
    assert before["shards"][0]["latest_signed_size"] == before["shards"][0]["size"]
    db = events_db(copy)
    sequence = tamper(db)
    db.close()
    code, after = verify(copy)
    assert code == 1
    assert problems(after) == [(kind, sequence)]
    text = ledger(copy, "audit", "verify")
    assert text.returncode == 1
    where = f"sequence {sequence}: " if sequence is not None else "the event at notification id "
    assert f"shard 0: {kind}: {where}" in text.stdout, text.stdout
    assert "NOT intact" in text.stdout


def test_a_checkpoint_altered_in_the_store_is_a_bad_signature(copy: Path) -> None:
    assert verify(copy)[0] == 0  # positive control
    db = events_db(copy)
    (row_id, note) = db.execute("SELECT id, note FROM ledger_checkpoints ORDER BY id DESC "
                                "LIMIT 1").fetchone()
    origin, size, rest = note.split("\n", 2)
    db.execute("UPDATE ledger_checkpoints SET note = ? WHERE id = ?",
               (f"{origin}\n{int(size) + 1}\n{rest}", row_id))
    db.close()
    code, report = verify(copy)
    assert code == 1
    assert [p["kind"] for p in report["shards"][0]["problems"]] == ["bad-signature"]
    assert "does not verify" in report["shards"][0]["problems"][0]["detail"]


def test_after_an_erasure_the_log_and_an_earlier_export_still_verify(copy: Path,
                                                                    tmp_path: Path) -> None:
    subject = SUBJECTS[0]
    export = tmp_path / "before.json"
    assert ledger(copy, "dsar", "export", subject, "--out", str(export),
                  "--html", str(tmp_path / "before.html")).returncode == 0
    document = orjson.loads(export.read_bytes())
    assert len(document["log_proofs"]["entries"]) == len(document["acts"]) >= 3
    html = (tmp_path / "before.html").read_text()
    assert "verify-export" in html
    assert "Controleerbaar" in html
    assert "Verifiable" in html
    keys = copy / "audit-public-keys"

    erased = ledger(copy, "erase", subject, "--request", "DSAR-1", "--json")
    assert erased.returncode == 0, erased.stderr
    assert orjson.loads(erased.stdout)["shredded_scopes"]

    code, report = verify(copy)
    assert (code, problems(report)) == (0, []), "destroying keys changes no leaf"
    offline = subprocess.run(  # nothing but the file and the key: no data dir at all
        [sys.executable, "-m", "consumers.cli", "--data-dir", str(tmp_path / "nowhere"),
         "audit", "verify-export", str(export), "--public-key", str(keys)],
        capture_output=True, text=True, timeout=60, check=False)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "each listed act is in the signed log, unaltered" in offline.stdout
    assert not (tmp_path / "nowhere").exists()
    code, extended = verify(copy, "--checkpoint", str(export))
    assert code == 0
    (result,) = extended["shards"][0]["consistency"]
    assert result["outcome"] == "extends"
    assert result["size"] < extended["shards"][0]["size"]  # the erasure's acts came after
    assert result["proof"], "an RFC 9162 consistency proof, not merely equal roots"


def test_an_altered_export_does_not_verify(copy: Path, tmp_path: Path) -> None:
    export = tmp_path / "export.json"
    assert ledger(copy, "dsar", "export", SUBJECTS[1], "--out", str(export)).returncode == 0
    keys = str(copy / "audit-public-keys")
    good = ledger(copy, "audit", "verify-export", str(export), "--public-key", keys)
    assert good.returncode == 0, good.stdout  # positive control
    document = orjson.loads(export.read_bytes())
    entry = document["log_proofs"]["entries"][0]["leaf"]
    entry["state_sha256"] = "00" * 32
    export.write_bytes(orjson.dumps(document))
    bad = ledger(copy, "audit", "verify-export", str(export), "--public-key", keys)
    assert bad.returncode == 1
    assert "does not lead to the root signed" in bad.stdout


def test_a_rewritten_history_is_reported_as_a_fork(original: Path, tmp_path: Path) -> None:
    earlier = tmp_path / "earlier"
    shutil.copytree(original, earlier)  # the store as it was at some point
    today = tmp_path / "today"
    shutil.copytree(original, today)
    record(today, *(use(s) for s in SUBJECTS))
    kept = tmp_path / "checkpoint.json"
    assert ledger(today, "audit", "checkpoint", "--out", str(kept)).returncode == 0
    assert verify(today, "--checkpoint", str(kept))[0] == 0  # positive control

    # History rewritten from the earlier point: other acts appended, more of them.
    record(earlier, *(collect(str(uuid4()), f"x{n}") for n in range(3)))
    code, _own = verify(earlier)
    assert code == 0, "the rewritten store is consistent with itself"
    code, report = verify(earlier, "--checkpoint", str(kept))
    assert code == 1
    assert [p["kind"] for p in report["shards"][0]["problems"]] == ["forked"]
    assert report["shards"][0]["consistency"][0]["outcome"] == "forked"
    text = ledger(earlier, "audit", "verify", "--checkpoint", str(kept))
    assert "shard 0: forked: the log does not extend the checkpoint of size" in text.stdout


def test_a_store_from_before_the_tree_is_numbered_once_when_first_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one-time migration: events recorded by the library's plain SQLite module."""
    from consumers import composition
    from consumers.services.ports import Backend
    from ledger.config import Settings
    from ledger.intake.acts import parse_act

    data_dir = tmp_path / "data"
    plain = {"PERSISTENCE_MODULE": "eventsourcing.sqlite"}
    original_env = composition.event_store_env
    monkeypatch.setattr(composition, "event_store_env",
                        lambda settings: {**original_env(settings), **plain})
    with composition.open_embedded(Settings().with_data_dir(data_dir)) as backend:
        typed: Backend = backend
        outcomes = list(typed.submit([parse_act(collect(s, f"old{n}"))
                                      for n, s in enumerate(SUBJECTS)],
                                     wait_s=0))
        assert {o.status for o in outcomes} == {"recorded"}
    db = events_db(data_dir)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    (before,) = db.execute("SELECT COUNT(*) FROM stored_events").fetchone()
    db.close()
    assert "ledger_leaves" not in tables
    assert before >= 2 * len(SUBJECTS)
    monkeypatch.setattr(composition, "event_store_env", original_env)

    record(data_dir, *(use(s) for s in SUBJECTS))
    db = events_db(data_dir)
    numbered = [r[0] for r in db.execute("SELECT sequence FROM ledger_leaves l JOIN "
                                         "stored_events e ON e.rowid = l.notification_id "
                                         "ORDER BY e.rowid")]
    (total,) = db.execute("SELECT COUNT(*) FROM stored_events").fetchone()
    db.close()
    assert numbered == list(range(total)), "every event, in notification order, from 0"
    code, report = verify(data_dir)
    assert (code, problems(report)) == (0, [])
    assert report["shards"][0]["latest_signed_size"] == total


def test_keygen_rotation_and_retirement(copy: Path) -> None:
    again = ledger(copy, "audit", "keygen")
    assert again.returncode == 2
    assert "--rotate" in again.stderr
    before = ledger(copy, "audit", "public-key", "--json")
    old = orjson.loads(before.stdout)["signing_key"]
    rotated = ledger(copy, "audit", "keygen", "--rotate", "--json")
    assert rotated.returncode == 0, rotated.stderr
    change = orjson.loads(rotated.stdout)
    assert change["replaced"] == old
    assert change["key"] != old
    assert (copy / "audit.key").stat().st_mode & 0o777 == 0o600
    record(copy, *(use(s) for s in SUBJECTS))  # signed with the new key on close
    code, report = verify(copy)
    assert code == 0, "what the old key signed still verifies"
    keys = ledger(copy, "audit", "public-key").stdout.splitlines()
    assert len(keys) == 2

    # The old key was compromised: retire it. Its checkpoints prove nothing any more
    # and are set aside; the new key's cover the same history (the tree only grows).
    path = copy / "audit-public-keys"
    lines = [("retired " + line) if line.startswith(old + "+") else line
             for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    code, report = verify(copy)
    assert code == 0
    assert report["shards"][0]["set_aside"]
    assert ledger(copy, "audit", "public-key").stdout.count("retired ") == 1

    # A key nobody trusts: every checkpoint is refused by name.
    other = copy.parent / "other"
    ledger(other, "audit", "keygen")
    code, report = verify(copy, "--public-key", str(other / "audit-public-keys"))
    assert code == 1
    assert {p["kind"] for p in report["shards"][0]["problems"]} == {"bad-signature"}
