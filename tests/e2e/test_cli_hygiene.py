"""Operator hygiene (issue 11): private files whatever the umask, look-up values kept out
of argv, and no value can drive the terminal."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import orjson
import pytest

from tests.cli_helpers import ledger

pytestmark = pytest.mark.e2e

ESCAPE = "\x1b[31mRED\x1b]0;owned\x07\u202eevil"


def collect(subject: str, name: str = "Jan Jansen") -> bytes:
    return orjson.dumps({
        "act_id": f"c-{uuid4().hex[:8]}", "type": "data-collected", "subject_id": subject,
        "actor": "crm", "occurred_at": "2025-03-03T09:00:00Z", "purpose": "contact",
        "source_system": "crm", "legal_basis": "legitimate-interest",
        "values": {"name": name, "business-email": "jan@example.nl"},
    }) + b"\n"


def loose_files(root: Path) -> list[str]:
    """Every directory not 0700 and every file not 0600 under ``root`` (itself included)."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        wanted = 0o700 if path.is_dir() else 0o600
        if mode != wanted:
            found.append(f"{path.relative_to(root.parent)} {mode:o}")
    return found


def test_everything_in_the_data_directory_is_private_whatever_the_umask(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-m", "consumers.cli", "--data-dir", str(data_dir), "record", "-"],
        input=collect(str(uuid4())), capture_output=True, timeout=120, check=False,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert result.returncode == 0, result.stderr
    shown = ledger("registers", "--json", data_dir=data_dir)  # projections too
    assert shown.returncode == 0, shown.stderr
    assert len(list(data_dir.iterdir())) >= 4  # stores, keys
    assert loose_files(data_dir) == []
    # Positive control: the check sees a file the ledger did not make private.
    (data_dir / "stray").touch(mode=0o644)
    assert loose_files(data_dir) == ["data/stray 644"]


def test_an_existing_open_data_directory_is_made_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    assert ledger("record", "-", data_dir=data_dir, stdin=collect(str(uuid4()))
                  ).returncode == 0
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_look_up_values_can_come_from_stdin_or_a_file(tmp_path: Path) -> None:
    subject = str(uuid4())
    data_dir = tmp_path / "data"
    assert ledger("record", "-", data_dir=data_dir, stdin=collect(subject)).returncode == 0
    from_stdin = ledger("subject", "show", "--email", "-", "--json", data_dir=data_dir,
                        stdin=b"Jan@Example.nl\n")
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert orjson.loads(from_stdin.stdout)["subject_id"] == subject
    secret = tmp_path / "who.txt"
    secret.write_text("jan@example.nl\n")
    from_file = ledger("subject", "show", "--email", f"@{secret}", "--json", data_dir=data_dir)
    assert orjson.loads(from_file.stdout)["subject_id"] == subject
    nobody = ledger("subject", "show", "--email", "-", data_dir=data_dir, stdin=b"x@y.nl\n")
    assert nobody.returncode == 2
    assert "x@y.nl" not in nobody.stderr
    malformed = ledger("subject", "show", "--phone", "n/a", data_dir=data_dir)
    assert malformed.returncode == 2, malformed.stderr
    assert "not a phone number" in malformed.stderr
    assert "Traceback" not in malformed.stderr


def test_control_characters_in_values_are_escaped_for_people(tmp_path: Path) -> None:
    subject = str(uuid4())
    data_dir = tmp_path / "data"
    assert ledger("record", "-", data_dir=data_dir,
                  stdin=collect(subject, name=ESCAPE)).returncode == 0
    shown = ledger("subject", "show", subject, data_dir=data_dir)
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout
    assert "\x07" not in shown.stdout
    assert "\u202e" not in shown.stdout
    assert "\\x1b[31mRED" in shown.stdout  # positive control: the value is there, escaped
    as_json = ledger("subject", "show", subject, "--json", data_dir=data_dir)
    held = {v["category"]: v["value"] for v in orjson.loads(as_json.stdout)["personal_data"]}
    assert held["name"] == ESCAPE  # scripts get the value itself
