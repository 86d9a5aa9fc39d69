"""Master-key rotation: every data key and the lookup secret rewrapped, the log untouched.

Only the key store is touched, on either backend. A `ledger serve` still holding the
retired master stops at its next batch (``MasterKeyMismatch``) and, restarted, goes on
under the new one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.config import Settings
from ledger.crypto.keys import KeyStore
from ledger.crypto.master_key import FileMasterKey, master_key_from_settings
from ledger.crypto.office_signing import OfficeKey, OfficeKeyring
from ledger.errors import ConfigurationError


@dataclass(frozen=True)
class Rotation:
    rewrapped_keys: int
    old_fingerprint: str
    new_fingerprint: str
    key_file: Path
    moved: bool  # the new key is in a file of its own: point the settings at it

    def as_dict(self) -> dict[str, Any]:
        return {"rewrapped_keys": self.rewrapped_keys,
                "old_fingerprint": self.old_fingerprint,
                "new_fingerprint": self.new_fingerprint, "key_file": str(self.key_file)}


def rotate_master(settings: Settings, key_store: KeyStore,
                  new_key_file: Path | None = None) -> Rotation:
    """Rewraps under the key in ``new_key_file`` (generated if missing), or, without it,
    under a new key that then replaces the configured key file atomically."""
    current = master_key_from_settings(settings)
    target = new_key_file
    replace_current: Path | None = None
    if target is None:
        current_file = settings.master_key_file or (
            None if settings.master_key_b64 else settings.data_dir / "master.key")
        if current_file is None:
            raise ConfigurationError(
                "the master key comes from LEDGER_MASTER_KEY: pass --new-key-file and "
                "then point LEDGER_MASTER_KEY_FILE at it"
            )
        target = current_file.with_name(current_file.name + ".next")
        replace_current = current_file
    new_master = FileMasterKey(target) if target.exists() else FileMasterKey.generate(target)
    count = key_store.rotate_master(new_master)
    if replace_current is not None:
        # After the store commits, the new key becomes the configured file atomically.
        os.replace(target, replace_current)
        target = replace_current
    return Rotation(count, current.fingerprint, new_master.fingerprint, target,
                    moved=new_key_file is not None)


@dataclass(frozen=True)
class OfficeKeyChange:
    key_id: str
    public_line: str
    key_file: Path
    public_keys_file: Path
    retired: str | None  # the key id the new key replaces (still trusted until removed)

    def as_dict(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "public_key": self.public_line.split()[1],
                "key_file": str(self.key_file),
                "public_keys_file": str(self.public_keys_file), "retired": self.retired}


def make_office_key(settings: Settings, *, rotate: bool) -> OfficeKeyChange:
    """A new office signing key; with ``rotate``, it replaces the current one, whose
    public key stays trusted (acts it signed may still be on their way) until its line
    is removed from the public-keys file."""
    path = settings.office_key_path
    retired = None
    if path.exists():
        if not rotate:
            raise ConfigurationError(f"an office key exists at {path}; --rotate replaces it")
        retired = OfficeKey.load(path).key_id
        path.unlink()  # the private half of a retired key signs nothing again
    key = add_office_key(settings)
    return OfficeKeyChange(key.key_id, OfficeKeyring.line_for(key), path,
                           settings.office_public_keys_path, retired)


def add_office_key(settings: Settings) -> OfficeKey:
    """A new office key; its public key joins the trusted ones (the old stay trusted
    until their line is removed from the public-keys file)."""
    key = OfficeKey.generate(settings.office_key_path)
    path = settings.office_public_keys_path
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="ascii") as handle:
        handle.write(OfficeKeyring.line_for(key) + "\n")
    return key
