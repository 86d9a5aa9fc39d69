"""The master key: loading, generating, wrapping, and never showing its material."""

from __future__ import annotations

import base64
import os
import pickle
import stat
from pathlib import Path

import pytest

from ledger.config import Settings
from ledger.crypto.master_key import (
    AesGcmMasterKey,
    EnvMasterKey,
    FileMasterKey,
    MasterKey,
    master_key_from_settings,
)
from ledger.errors import ConfigurationError, TamperedCiphertext

MATERIAL = bytes(range(100, 132))
MATERIAL_B64 = base64.b64encode(MATERIAL).decode()


def test_generated_file_is_owner_only_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    generated = FileMasterKey.generate(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text())) == 32
    assert FileMasterKey(path).fingerprint == generated.fingerprint
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    first = FileMasterKey.generate(path)
    before = path.read_bytes()
    with pytest.raises(ConfigurationError, match="refusing to overwrite"):
        FileMasterKey.generate(path)
    assert path.read_bytes() == before
    assert FileMasterKey(path).fingerprint == first.fingerprint


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"does not exist.*FileMasterKey.generate"):
        FileMasterKey(tmp_path / "absent.key")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not base64 at all!", "not valid base64"),
        (base64.b64encode(b"short").decode(), "decodes to 5 bytes"),
    ],
)
def test_bad_file_content_is_named_but_not_echoed(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.key"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=message) as failure:
        FileMasterKey(path)
    assert content not in str(failure.value)
    assert failure.value.__cause__ is None


def test_env_key_and_file_key_with_same_material_are_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text(MATERIAL_B64 + "\n")
    assert EnvMasterKey(MATERIAL_B64).fingerprint == FileMasterKey(path).fingerprint
    assert EnvMasterKey(f"  {MATERIAL_B64}\n").fingerprint == AesGcmMasterKey(MATERIAL).fingerprint


def test_bad_env_key_names_the_variable_not_the_value() -> None:
    with pytest.raises(ConfigurationError, match="LEDGER_MASTER_KEY is not valid base64") as e:
        EnvMasterKey("s3cr3t-but-not-base64!")
    assert "s3cr3t" not in str(e.value)


def test_fingerprint_is_short_hex_stable_and_not_the_material() -> None:
    key = AesGcmMasterKey(MATERIAL)
    assert len(key.fingerprint) == 16
    int(key.fingerprint, 16)
    assert key.fingerprint == AesGcmMasterKey(MATERIAL).fingerprint
    assert key.fingerprint != AesGcmMasterKey.random().fingerprint
    assert key.fingerprint not in MATERIAL.hex()


def test_wrap_unwrap_round_trip_bound_to_aad() -> None:
    key = AesGcmMasterKey(MATERIAL)
    secret = os.urandom(32)
    wrapped = key.wrap(secret, b"key-1")
    assert secret not in wrapped
    assert key.unwrap(wrapped, b"key-1") == secret
    with pytest.raises(TamperedCiphertext):
        key.unwrap(wrapped, b"key-2")


def test_another_master_cannot_unwrap() -> None:
    wrapped = AesGcmMasterKey(MATERIAL).wrap(b"x" * 32, b"aad")
    with pytest.raises(TamperedCiphertext):
        AesGcmMasterKey.random().unwrap(wrapped, b"aad")


def test_material_never_shows_in_repr_or_pickle(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text(MATERIAL_B64)
    for key in (AesGcmMasterKey(MATERIAL), EnvMasterKey(MATERIAL_B64), FileMasterKey(path)):
        text = repr(key) + str(key)
        assert MATERIAL_B64 not in text
        assert MATERIAL.hex() not in text
        assert key.fingerprint in text
        assert not hasattr(key, "__dict__")
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(key)


def test_adapters_implement_the_port(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    FileMasterKey.generate(path)
    for key in (AesGcmMasterKey.random(), EnvMasterKey(MATERIAL_B64), FileMasterKey(path)):
        assert isinstance(key, MasterKey)


def test_settings_prefer_the_named_file(tmp_path: Path) -> None:
    path = tmp_path / "named.key"
    expected = FileMasterKey.generate(path)
    settings = Settings(data_dir=tmp_path / "data", master_key_file=path)
    assert master_key_from_settings(settings).fingerprint == expected.fingerprint
    assert not (tmp_path / "data").exists()


def test_settings_named_file_is_not_created_silently(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, master_key_file=tmp_path / "absent.key")
    with pytest.raises(ConfigurationError, match="does not exist"):
        master_key_from_settings(settings)


def test_settings_take_base64_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"LEDGER_MASTER_KEY": MATERIAL_B64, "LEDGER_DATA_DIR": str(tmp_path / "d")}
    )
    key = master_key_from_settings(settings)
    assert key.fingerprint == AesGcmMasterKey(MATERIAL).fingerprint
    assert MATERIAL_B64 not in repr(settings)


def test_settings_with_both_sources_are_contradictory(tmp_path: Path) -> None:
    settings = Settings(master_key_file=tmp_path / "k", master_key_b64=MATERIAL_B64)
    with pytest.raises(ConfigurationError, match="not both") as failure:
        master_key_from_settings(settings)
    assert MATERIAL_B64 not in str(failure.value)


def test_settings_default_creates_a_file_in_the_data_dir_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    settings = Settings(data_dir=data_dir)
    first = master_key_from_settings(settings)
    path = data_dir / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) & 0o077 == 0
    assert master_key_from_settings(settings).fingerprint == first.fingerprint
