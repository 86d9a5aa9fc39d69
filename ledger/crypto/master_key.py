"""The master key: wraps data keys at rest, never derives them.

Data keys are random so that deleting one destroys it; a key derived from the master
could be derived again after its "deletion". The master key only encrypts data keys
(and the identity-lookup secret) where they are stored, so a stolen database alone
reveals nothing, and rotating the master rewraps keys without touching any event.

``MasterKey`` is the port (a KMS adapter can implement it later); the adapters here hold
32 bytes in process memory, read from a file or from an environment variable.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
from pathlib import Path
from typing import NoReturn, Protocol, runtime_checkable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.config import Settings
from ledger.crypto.aead import KEY_SIZE, associated_data, seal_with, unseal_with
from ledger.errors import ConfigurationError

MASTER_KEY_FILE_NAME = "master.key"
_FINGERPRINT_LABEL = b"ledger.master-key.fingerprint.v1\x00"
_WRAP_LABEL = "ledger.master-key.wrap.v1"


@runtime_checkable
class MasterKey(Protocol):
    """Encrypts key material for storage. Never hands out its own material."""

    @property
    def fingerprint(self) -> str:
        """A stable, non-secret id of this master key, safe to store and to print."""
        ...

    def wrap(self, material: bytes, aad: bytes) -> bytes:
        """Encrypt ``material`` bound to ``aad`` (what the material belongs to)."""
        ...

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        """The material inside ``wrapped``; ``TamperedCiphertext`` if it does not verify."""
        ...


class AesGcmMasterKey:
    """A master key held in memory: 32 bytes, wrapping with AES-256-GCM."""

    __slots__ = ("_cipher", "_fingerprint", "_material")

    def __init__(self, material: bytes) -> None:
        if len(material) != KEY_SIZE:
            raise ConfigurationError(
                f"a master key must be {KEY_SIZE} bytes, got {len(material)}; "
                "generate one with FileMasterKey.generate(path)"
            )
        self._material = bytes(material)
        # Domain-separated so the fingerprint is never an input any other use hashes.
        digest = hashlib.sha256(_FINGERPRINT_LABEL + self._material).hexdigest()
        self._fingerprint = digest[:16]
        self._cipher = AESGCM(self._material)  # keyed once: a replay unwraps many keys

    @classmethod
    def random(cls) -> AesGcmMasterKey:
        """A fresh random master key that lives only in this process (tests, tools)."""
        return cls(os.urandom(KEY_SIZE))

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def wrap(self, material: bytes, aad: bytes) -> bytes:
        return seal_with(self._cipher, material, associated_data(_WRAP_LABEL, aad))

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        return unseal_with(self._cipher, wrapped, associated_data(_WRAP_LABEL, aad))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(fingerprint={self._fingerprint!r})"

    def __reduce__(self) -> NoReturn:
        # Pickling would copy the material into queues, caches and crash dumps.
        raise TypeError(f"{type(self).__name__} cannot be pickled")


class EnvMasterKey(AesGcmMasterKey):
    """A master key given as base64 text, e.g. from ``LEDGER_MASTER_KEY``."""

    __slots__ = ()

    def __init__(self, key_b64: str, *, source: str = "LEDGER_MASTER_KEY") -> None:
        super().__init__(_decode(key_b64, source))


class FileMasterKey(AesGcmMasterKey):
    """A master key read from a file holding the base64 of 32 random bytes."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise ConfigurationError(
                f"master key file {self.path} does not exist; create it with "
                "FileMasterKey.generate(path), or restore it from your key backup"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"master key file {self.path} cannot be read ({type(exc).__name__}); "
                "check its permissions and that it holds base64 text"
            ) from None
        super().__init__(_decode(text, f"master key file {self.path}"))

    @classmethod
    def generate(cls, path: Path) -> FileMasterKey:
        """Create ``path`` (mode 0600) holding a new random key; never overwrites a file.

        The key is written to a temporary file first and then linked into place, so a
        concurrent reader sees either no file or a complete one.
        """
        path = Path(path)
        encoded = base64.b64encode(os.urandom(KEY_SIZE)) + b"\n"
        if path.exists():
            raise ConfigurationError(
                f"refusing to overwrite the existing master key file {path}: data keys "
                "wrapped by it would become unreadable"
            )
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(encoded)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise ConfigurationError(
                    f"refusing to overwrite the existing master key file {path}: it was "
                    "created concurrently"
                ) from None
            except OSError:
                # Some file systems cannot hard-link; O_EXCL still refuses to overwrite.
                _write_exclusively(path, encoded)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        return cls(path)


def _write_exclusively(path: Path, encoded: bytes) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigurationError(
            f"refusing to overwrite the existing master key file {path}"
        ) from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(encoded)
        handle.flush()
        os.fsync(handle.fileno())


def master_key_from_settings(settings: Settings, *,
                             ledger_elsewhere: str | None = None) -> MasterKey:
    """The master key the settings name: a file, base64 text, or a default file.

    Setting both a file and base64 text is refused: silently preferring one would
    surface later as a confusing master-key mismatch. ``ledger_elsewhere`` names an
    existing store of the ledger outside the data directory (the Kafka ledger topic):
    like the stores in it, it keeps a missing default master key from being generated.
    """
    if settings.master_key_file is not None and settings.master_key_b64 is not None:
        raise ConfigurationError(
            "set either LEDGER_MASTER_KEY_FILE or LEDGER_MASTER_KEY, not both"
        )
    if settings.master_key_file is not None:
        return FileMasterKey(settings.master_key_file)
    if settings.master_key_b64 is not None:
        return EnvMasterKey(settings.master_key_b64)
    return _default_file_master_key(settings.data_dir / MASTER_KEY_FILE_NAME,
                                    stores=(settings.key_store_path, settings.event_store_path),
                                    elsewhere=ledger_elsewhere)


def _default_file_master_key(path: Path, stores: tuple[Path, ...] = (),
                             elsewhere: str | None = None) -> MasterKey:
    """The default master key file, generated for a new ledger only: next to existing
    stores a missing master key is lost, and a new one would wrap nothing they hold."""
    if path.exists():
        return FileMasterKey(path)
    existing = [str(store) for store in stores if store.exists()]
    if elsewhere is not None:
        existing.append(elsewhere)
    if existing and path.exists():  # another process's first use made both meanwhile
        return FileMasterKey(path)
    if existing:
        raise ConfigurationError(
            f"master key file {path} is missing, but the ledger's stores exist "
            f"({', '.join(existing)}): restore the master key from your key backup "
            "(or set LEDGER_MASTER_KEY_FILE / LEDGER_MASTER_KEY to where it is); a new "
            "one is never generated next to existing stores"
        )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        return FileMasterKey.generate(path)
    except ConfigurationError:
        if path.exists():  # another process created it first: use theirs
            return FileMasterKey(path)
        raise


def _decode(text: str, source: str) -> bytes:
    try:
        material = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"{source} is not valid base64; it must hold the base64 of {KEY_SIZE} random bytes"
        ) from None
    if len(material) != KEY_SIZE:
        raise ConfigurationError(
            f"{source} decodes to {len(material)} bytes; a master key is {KEY_SIZE} bytes"
        )
    return material
