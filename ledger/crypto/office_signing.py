"""The privacy office's signature on acts that destroy data or lift a protection.

A Kafka consumer cannot see who produced a record, so "only the privacy office may
shred" cannot rest on who sent an act: the act itself carries an Ed25519 signature of
the office's key over its canonical form, and whoever records it (the embedded
application, a shard's writer) checks it against the trusted public keys. Unsigned or
badly signed office acts are refused (``office-signature-required``,
``office-signature-invalid``).

The private key signs on the office's machine (`ledger erase`, `ledger retention
enforce`, `ledger record --office`); the ledger's hosts need only the public keys.
Keys are named by a key id (a digest of the public key), so a key can be rotated (a
new one added to the trusted file) and a compromised one retired (its line removed).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from ledger.errors import ConfigurationError, PolicyViolation

# Acts that destroy data or lift a protection: accepted only when the office signed them.
OFFICE_ACT_TYPES = frozenset({
    "erasure-carried-out", "retention-expired", "legal-hold-released", "restriction-lifted",
})
SIGNATURE_FIELD = "office_signature"
SIGNATURE_REQUIRED_RULE = "office-signature-required"
SIGNATURE_INVALID_RULE = "office-signature-invalid"
_KEY_ID_HEX = 16


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: the act without its signature, keys sorted."""
    unsigned = {k: v for k, v in document.items() if k != SIGNATURE_FIELD}
    return orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:_KEY_ID_HEX]


@dataclass(frozen=True)
class OfficeKey:
    """The office's private signing key (kept apart from the master key)."""

    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public)

    def sign(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """``document`` with the office's signature added (any earlier one replaced)."""
        signature = base64.urlsafe_b64encode(self.private.sign(canonical(document)))
        return {**document, SIGNATURE_FIELD: f"{self.key_id}.{signature.decode().rstrip('=')}"}

    def __repr__(self) -> str:
        return f"OfficeKey(key_id={self.key_id})"

    @classmethod
    def generate(cls, path: Path) -> OfficeKey:
        """A new key written to ``path`` (0600, never over an existing file)."""
        key = cls(Ed25519PrivateKey.generate())
        raw = key.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ConfigurationError(
                f"refusing to overwrite the office key file {path}") from None
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(base64.b64encode(raw) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        return key

    @classmethod
    def load(cls, path: Path) -> OfficeKey:
        try:
            raw = base64.b64decode(path.read_bytes().strip(), validate=True)
            return cls(Ed25519PrivateKey.from_private_bytes(raw))
        except FileNotFoundError:
            raise ConfigurationError(
                f"no office key at {path}: the privacy office's commands sign with it "
                "(`ledger keys office-keygen` makes one; LEDGER_OFFICE_KEY_FILE names it)"
            ) from None
        except ValueError:
            raise ConfigurationError(f"{path} does not hold an office key (base64 of "
                                     "32 bytes)") from None


class OfficeKeyring:
    """The trusted public keys of the office; checks an act's signature."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey], path: Path | None = None) -> None:
        self.keys = dict(keys)
        self.path = path  # read again when an act names a key not known yet (a rotation)

    @classmethod
    def load(cls, path: Path) -> OfficeKeyring:
        """One ``KEY_ID BASE64`` line per trusted key; a missing file trusts nobody."""
        return cls(cls._read(path), path)

    @staticmethod
    def _read(path: Path) -> dict[str, Ed25519PublicKey]:
        keys: dict[str, Ed25519PublicKey] = {}
        if not path.exists():
            return keys
        for number, line in enumerate(path.read_text("ascii").splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            try:
                key_id, encoded = line.split()
                public = Ed25519PublicKey.from_public_bytes(
                    base64.b64decode(encoded, validate=True))
            except ValueError:
                raise ConfigurationError(
                    f"{path}:{number}: expected 'KEY_ID BASE64-PUBLIC-KEY'") from None
            if key_id_of(public) != key_id:
                raise ConfigurationError(f"{path}:{number}: key id does not match the key")
            keys[key_id] = public
        return keys

    @staticmethod
    def line_for(key: OfficeKey) -> str:
        return OfficeKeyring.line_for_public(key.key_id, key.public)

    @staticmethod
    def line_for_public(key_id: str, public: Ed25519PublicKey) -> str:
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return f"{key_id} {base64.b64encode(raw).decode()}"

    def verify(self, act_type: str, act_id: str, document: Mapping[str, Any]) -> None:
        """Refuses an office act that is not signed by a trusted key; others pass."""
        if act_type not in OFFICE_ACT_TYPES:
            return
        signature = document.get(SIGNATURE_FIELD)
        if not isinstance(signature, str):
            raise PolicyViolation(
                SIGNATURE_REQUIRED_RULE,
                f"act {act_id} ({act_type}) destroys data or lifts a protection: only the "
                "privacy office may send it, signed with its key")
        key_id, _, encoded = signature.partition(".")
        if key_id not in self.keys and self.path is not None:
            self.keys = self._read(self.path)  # a key added since (rotation, first use)
        public = self.keys.get(key_id)
        if public is None:
            raise PolicyViolation(SIGNATURE_INVALID_RULE,
                                  f"act {act_id} is signed by key {key_id[:16]!r}, which "
                                  "is not a trusted office key")
        try:
            public.verify(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)),
                          canonical(document))
        except (InvalidSignature, ValueError):
            raise PolicyViolation(SIGNATURE_INVALID_RULE,
                                  f"act {act_id}: the office signature does not match the "
                                  "act (altered after signing, or forged)") from None
