"""The checkpoint signing key and the file of verifier keys trusted to have signed.

The signing key is kept apart from the master key: it proves what the log held, the
master key opens what it holds, and whoever may do one need not do the other. Its file
holds one line in the form of Go's signed-note signer keys,

    PRIVATE+KEY+<name>+<8 hex digits of key ID>+<base64(0x01 || 32-byte Ed25519 seed)>

written 0600 and never over an existing file. The same line can come from the
environment (``from_text``).

The trusted-keys file lists verifier keys (``<name>+<hex id>+<base64>``), one a line,
``#`` comments allowed. Rotation adds the new key and keeps the old one, so checkpoints
signed before still verify; a compromised key is *retired*: its line stays, prefixed
``retired``, and a checkpoint signed only by it is refused by name (rather than
silently treated as unknown). The old private key is not kept after a rotation: the
checkpoints it signed are already signed, and a key nobody holds signs no forgery.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from ledger.audit.errors import CheckpointMalformed
from ledger.audit.signed_note import (
    ED25519,
    VerifierKey,
    check_key_name,
    key_id_of,
    split_key,
)
from ledger.errors import ConfigurationError

PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"
RETIRED_PREFIX = "retired "


@dataclass(frozen=True)
class CheckpointSigningKey:
    name: str
    private: Ed25519PrivateKey

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.private.public_key())

    def __repr__(self) -> str:  # never the key itself
        return f"CheckpointSigningKey({self.verifier.label})"

    def to_text(self) -> str:
        seed = self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(bytes([ED25519]) + seed).decode("ascii")
        key_id = key_id_of(self.name, self.private.public_key())
        return f"{PRIVATE_KEY_PREFIX}{self.name}+{key_id:08x}+{encoded}"

    @classmethod
    def from_text(cls, text: str, *, source: str = "the signing key") -> CheckpointSigningKey:
        body = text.strip()
        name, hex_id, encoded = split_key(body.removeprefix(PRIVATE_KEY_PREFIX))
        try:
            if not body.startswith(PRIVATE_KEY_PREFIX):
                raise ValueError
            raw = base64.b64decode(encoded, validate=True)
            if len(raw) != 33 or raw[0] != ED25519:
                raise ValueError
            key = cls(check_key_name(name), Ed25519PrivateKey.from_private_bytes(raw[1:]))
            if len(hex_id) != 8 or int(hex_id, 16) != key.verifier.key_id:
                raise ValueError
        except (ValueError, binascii.Error, CheckpointMalformed):
            raise ConfigurationError(
                f"{source} is not a checkpoint signing key ('PRIVATE+KEY+<name>+<key id>+"
                "<base64>', as `ledger audit keygen` writes it)") from None
        return key

    @classmethod
    def generate(cls, path: Path, name: str) -> CheckpointSigningKey:
        """A new key written to ``path`` (0600, never over an existing file)."""
        key = cls(check_key_name(name), Ed25519PrivateKey.generate())
        _write_new(path, key.to_text())
        return key

    @classmethod
    def load(cls, path: Path) -> CheckpointSigningKey:
        try:
            text = path.read_text("ascii")
        except FileNotFoundError:
            raise ConfigurationError(
                f"no checkpoint signing key at {path} (`ledger audit keygen` makes one)"
            ) from None
        except UnicodeDecodeError:
            text = ""
        return cls.from_text(text, source=str(path))

    @classmethod
    def rotate(cls, path: Path, trusted_path: Path) -> CheckpointSigningKey:
        """Replaces the key at ``path`` by a new one of the same name, after adding both
        verifier keys to the trusted file (a crash in between leaves an unused trusted
        key, never a signing key nobody trusts)."""
        old = cls.load(path)
        new = cls(old.name, Ed25519PrivateKey.generate())
        TrustedKeys.load(trusted_path).trust(old.verifier).trust(new.verifier).save(
            trusted_path)
        staged = path.with_name(f".{path.name}.{new.verifier.key_id:08x}.new")
        _write_new(staged, new.to_text())
        try:
            os.replace(staged, path)
        except OSError:
            staged.unlink(missing_ok=True)
            raise
        _sync_directory(path.parent)
        return new


@dataclass(frozen=True)
class TrustedKeys:
    """Verifier keys whose checkpoints are believed, and retired ones, refused by name."""

    trusted: tuple[VerifierKey, ...] = ()
    retired: tuple[VerifierKey, ...] = ()

    def trust(self, key: VerifierKey) -> TrustedKeys:
        if key in self.retired:
            raise ConfigurationError(f"key {key.label} was retired and is not trusted again")
        if key in self.trusted:
            return self
        return replace(self, trusted=(*self.trusted, key))

    def retire(self, label: str) -> TrustedKeys:
        """Retires the key named ``<name>+<hex key id>`` (its label) or its full encoding."""
        matches = [k for k in self.trusted if label in (k.label, k.encode())]
        if not matches:
            raise ConfigurationError(
                f"no trusted key {'+'.join(label.split('+')[:2])} to retire")
        return TrustedKeys(tuple(k for k in self.trusted if k not in matches),
                           (*self.retired, *matches))

    @classmethod
    def load(cls, path: Path) -> TrustedKeys:
        """A missing file trusts nobody."""
        try:
            lines = path.read_text("utf-8").splitlines()
        except FileNotFoundError:
            return cls()
        trusted: list[VerifierKey] = []
        retired: list[VerifierKey] = []
        for number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            into = retired if text.startswith(RETIRED_PREFIX) else trusted
            try:
                into.append(VerifierKey.parse(text.removeprefix(RETIRED_PREFIX)))
            except CheckpointMalformed as error:
                raise ConfigurationError(f"{path}:{number}: {error}") from None
        return cls(tuple(k for k in trusted if k not in retired), tuple(retired))

    def save(self, path: Path) -> None:
        """Writes the file whole and renames it into place (readers never see half)."""
        text = "".join(
            [f"{k.encode()}\n" for k in self.trusted]
            + [f"{RETIRED_PREFIX}{k.encode()}\n" for k in self.retired])
        staged = path.with_name(f".{path.name}.{os.getpid()}.new")
        staged.unlink(missing_ok=True)
        _write_new(staged, text, mode=0o644)
        os.replace(staged, path)
        _sync_directory(path.parent)


def _write_new(path: Path, text: str, *, mode: int = 0o600) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise ConfigurationError(f"refusing to overwrite {path}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text if text.endswith("\n") or not text else text + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
