"""Data keys, their stored (wrapped) form, the erasure fence, and the ``KeyStore`` port.

One random 256-bit data key is active per (subject, retention scope). Shredding deletes
the key: every value sealed under it becomes unreadable wherever the ciphertext went.
Each destroyed key id is written to the erasure fence in the same transaction, and the
fence refuses to let a destroyed key be imported back (from a backup, say).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.crypto.aead import KEY_SIZE
from ledger.crypto.master_key import MasterKey

# Scope names and identity kinds are stored and printed in clear, so they are kept to
# short identifiers: anything personal passed by mistake is refused rather than stored.
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True)
class KeyOfScope:
    """Which data key a record is about: its id, and the subject and retention scope it
    is the key of (the three a wrapped key's material is bound to, ``data_key_aad``)."""

    key_id: UUID
    subject_id: UUID
    scope: str


@dataclass(frozen=True)
class DataKey(KeyOfScope):
    material: bytes = field(repr=False)
    # Keyed once: a replay opens every value of a subject with the same key. It lives
    # exactly as long as the key does, so a shred that evicts the key evicts it too.
    cipher: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.material) != KEY_SIZE:
            raise ValueError(f"a data key must be {KEY_SIZE} bytes, got {len(self.material)}")
        object.__setattr__(self, "cipher", AESGCM(self.material))


@dataclass(frozen=True)
class WrappedKey(KeyOfScope):
    """A data key as stored and exported: its material encrypted under a master key."""

    wrapped: bytes = field(repr=False)
    master_fingerprint: str
    created_at: datetime


@dataclass(frozen=True)
class DestroyedKey(KeyOfScope):
    """An erasure-fence record: proof that ``key_id`` was destroyed, and when."""

    destroyed_at: datetime


class KeyStore(Protocol):
    """Where data keys live and die. Every method is safe to call from many threads."""

    @property
    def master_fingerprint(self) -> str:
        """The fingerprint of the master key the store's keys are wrapped under now."""
        ...

    def data_key(self, subject_id: UUID, scope: str) -> DataKey:
        """The active key for (subject, scope), created (random) if there is none.

        After a shred a new key with a new id is created: a new collection for the same
        person is readable, what was erased stays erased.
        """
        ...

    def active_keys(self, subject_ids: Collection[UUID]) -> list[DataKey]:
        """The active keys of these subjects (any scope), in one read: for a batch that
        is about to use them."""
        ...

    def create_data_key(self, subject_id: UUID, scope: str) -> DataKey:
        """``data_key`` for a (subject, scope) the caller just saw without an active key
        (``active_keys``): a new key, without looking first. If another writer created
        one in between, that one."""
        ...

    def key_by_id(self, key_id: UUID) -> DataKey | None:
        """The key, or None when it was shredded or never existed: callers read "erased"."""
        ...

    def keys_by_id(self, key_ids: Collection[UUID]) -> list[DataKey]:
        """``key_by_id`` of many keys in one read (a replay about to open their values):
        those found, in no particular order; shredded or unknown ids are left out."""
        ...

    def shred(self, subject_id: UUID, scopes: Collection[str] | None = None) -> list[UUID]:
        """Destroy the subject's keys in ``scopes`` (every scope when None); fence their ids.

        Identity-lookup entries bound with one of ``scopes`` go too; with ``scopes=None``
        every entry of the subject does. Returns the ids destroyed by this call, so
        repeating a shred returns [].
        """
        ...

    def destroyed_keys(self, subject_id: UUID) -> list[DestroyedKey]:
        """The subject's fence records, oldest first: what became unreadable, and when."""
        ...

    def is_fenced(self, key_id: UUID) -> bool:
        """Whether ``key_id`` was destroyed."""
        ...

    def export_wrapped(self) -> Iterator[WrappedKey]:
        """Every live key, wrapped: the backup of the store (with ``export_fence``)."""
        ...

    def import_wrapped(self, record: WrappedKey) -> None:
        """Restore one key from a backup. ``KeyDestroyed`` if its id is fenced;
        ``MasterKeyMismatch`` if it is wrapped under another master key. Idempotent."""
        ...

    def export_fence(self) -> Iterator[DestroyedKey]:
        """Every fence record, so a restored store keeps refusing destroyed keys."""
        ...

    def import_fence(self, record: DestroyedKey) -> None:
        """Add a fence record (from a backup or replayed erasure events); destroys the key
        with that id if the store still holds it. Idempotent."""
        ...

    def rotate_master(self, new_master: MasterKey) -> int:
        """Rewrap every data key and the lookup secret under ``new_master`` in one
        transaction; the store uses ``new_master`` from then on. Returns the key count."""
        ...

    def bind_identity(
        self, kind: str, value: str, subject_id: UUID, *, scope: str | None = None
    ) -> None:
        """Map a natural identifier (``kind`` "email", "phone", ...) to ``subject_id``.

        Only a keyed hash of the normalised value is stored. ``scope`` is the retention
        scope the value itself lives in: shredding that scope erases the entry too
        (None: only erasing the whole subject does). Binding the same value to the same
        subject again only updates its scope; to another subject it is a ``KeyStoreError``.
        """
        ...

    def lookup_identity(self, kind: str, value: str) -> UUID | None:
        """The subject bound to this identifier, or None."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """Many writes, one durable commit at the end (the intake writer's batch).

        Commit happens when the block ends without error; an error rolls every write of
        the block back. Callers commit the batch before anything refers to its keys.
        """
        ...

    def close(self) -> None: ...


def check_name(name: str, what: str) -> str:
    """``name`` if it is a short lowercase identifier; ``ValueError`` otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        # The offending text is not echoed: it may be a personal value passed by mistake.
        raise ValueError(
            f"{what} must be 1-64 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_scopes(scopes: Collection[str] | None) -> list[str] | None:
    """Validated scopes for ``shred``; a bare string is refused (it would iterate chars)."""
    if scopes is None:
        return None
    if isinstance(scopes, str):
        raise TypeError("scopes must be a collection of scope names, not one string")
    return sorted({check_name(scope, "scope") for scope in scopes})
