"""Only the privacy office may destroy data or lift a protection: signed acts (issue 11).

A Kafka consumer cannot see who produced a record, so the act carries the office's
Ed25519 signature over its canonical form; unsigned, altered or foreign-signed office
acts are refused, whatever sent them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger.crypto.office_signing import (
    OFFICE_ACT_TYPES,
    SIGNATURE_FIELD,
    OfficeKey,
    OfficeKeyring,
)
from ledger.errors import ConfigurationError, PolicyViolation
from ledger.intake.acts import act_from_document


def erasure(**changes: Any) -> dict[str, Any]:
    return {"act_id": "erase-1", "type": "erasure-carried-out",
            "subject_id": "8b9af1bd-eb0a-44ba-b46e-fd8549dc402f", "actor": "privacy-office",
            "occurred_at": "2025-03-03T09:00:00+00:00", "request_ref": "DSAR-1",
            "channel": "email", **changes}


@pytest.fixture
def office(tmp_path: Path) -> tuple[OfficeKey, OfficeKeyring, Path]:
    key = OfficeKey.generate(tmp_path / "office.key")
    trusted = tmp_path / "office-public-keys"
    trusted.write_text(OfficeKeyring.line_for(key) + "\n")
    return key, OfficeKeyring.load(trusted), trusted


def refusal(keyring: OfficeKeyring, document: dict[str, Any]) -> str | None:
    try:
        keyring.verify(document["type"], document["act_id"], document)
    except PolicyViolation as refused:
        return refused.rule
    return None


def test_a_signed_office_act_passes_the_schema_and_the_keyring(
    office: tuple[OfficeKey, OfficeKeyring, Path],
) -> None:
    key, keyring, _ = office
    signed = key.sign(erasure())
    act_from_document(signed)  # the signature has the schema's form
    assert refusal(keyring, signed) is None


def test_unsigned_office_acts_of_every_kind_are_refused(
    office: tuple[OfficeKey, OfficeKeyring, Path],
) -> None:
    _, keyring, _ = office
    for act_type in sorted(OFFICE_ACT_TYPES):
        assert refusal(keyring, erasure(type=act_type)) == "office-signature-required"


def test_other_acts_need_no_signature(office: tuple[OfficeKey, OfficeKeyring, Path]) -> None:
    _, keyring, _ = office
    assert refusal(keyring, erasure(type="erasure-requested")) is None


def test_an_act_altered_after_signing_is_refused(
    office: tuple[OfficeKey, OfficeKeyring, Path],
) -> None:
    key, keyring, _ = office
    signed = key.sign(erasure())
    for field, value in (("subject_id", "00000000-0000-4000-8000-000000000000"),
                         ("request_ref", "DSAR-2"), ("occurred_at", "2030-01-01T00:00:00Z"),
                         ("type", "retention-expired")):
        assert refusal(keyring, {**signed, field: value}) == "office-signature-invalid", field


def test_a_key_the_ledger_does_not_trust_is_refused(
    office: tuple[OfficeKey, OfficeKeyring, Path], tmp_path: Path,
) -> None:
    _, keyring, _ = office
    stranger = OfficeKey.generate(tmp_path / "stranger.key")
    assert refusal(keyring, stranger.sign(erasure())) == "office-signature-invalid"
    # A signature lifted from another act does not carry over either.
    key = office[0]
    lifted = {**erasure(act_id="erase-2"),
              SIGNATURE_FIELD: key.sign(erasure())[SIGNATURE_FIELD]}
    assert refusal(keyring, lifted) == "office-signature-invalid"


def test_a_rotated_key_is_picked_up_and_a_retired_one_refused(
    office: tuple[OfficeKey, OfficeKeyring, Path], tmp_path: Path,
) -> None:
    old, keyring, trusted = office
    new = OfficeKey.generate(tmp_path / "office-2.key")
    with trusted.open("a") as handle:
        handle.write(OfficeKeyring.line_for(new) + "\n")
    assert refusal(keyring, new.sign(erasure())) is None  # read again on an unknown key
    assert refusal(keyring, old.sign(erasure())) is None  # still trusted until removed
    trusted.write_text(OfficeKeyring.line_for(new) + "\n")
    assert refusal(OfficeKeyring.load(trusted), old.sign(erasure())) == (
        "office-signature-invalid")


def test_no_trusted_keys_means_no_office_act_is_accepted(tmp_path: Path) -> None:
    keyring = OfficeKeyring.load(tmp_path / "missing")
    key = OfficeKey.generate(tmp_path / "office.key")
    assert refusal(keyring, key.sign(erasure())) == "office-signature-invalid"


def test_the_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "office.key"
    key = OfficeKey.generate(path)
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigurationError, match="refusing to overwrite"):
        OfficeKey.generate(path)
    assert OfficeKey.load(path).key_id == key.key_id
    assert "office.key" not in repr(key)
    assert key.key_id in repr(key)


def test_a_trusted_keys_file_whose_key_id_lies_is_refused(
    office: tuple[OfficeKey, OfficeKeyring, Path],
) -> None:
    _, _, trusted = office
    key_id, encoded = trusted.read_text().split()
    trusted.write_text(f"{'0' * len(key_id)} {encoded}\n")
    with pytest.raises(ConfigurationError, match="key id does not match"):
        OfficeKeyring.load(trusted)
