"""How the key stores wrap data keys and the lookup secret under the master key.

The associated data binds a wrapped key to its key id, subject and scope: someone able
to write to the key table cannot make one subject's rows decrypt with another's key.
Both store adapters use these functions, so their stored bytes are interchangeable.
"""

from __future__ import annotations

import os
from uuid import UUID, uuid4

from ledger.crypto.aead import KEY_SIZE, associated_data
from ledger.crypto.identity import LOOKUP_SECRET_SIZE
from ledger.crypto.keys import DataKey
from ledger.crypto.master_key import MasterKey
from ledger.errors import KeyStoreError, MasterKeyMismatch, TamperedCiphertext

SCHEMA_VERSION = "1"
META_SCHEMA_VERSION = "schema_version"
META_MASTER_FINGERPRINT = "master_fingerprint"
META_LOOKUP_SECRET = "lookup_secret"  # noqa: S105 (the name of a meta row)
_LOOKUP_SECRET_AAD = associated_data("ledger.key-store.lookup-secret.v1")


def new_data_key(subject_id: UUID, scope: str) -> DataKey:
    """A fresh random key: never derived, so destroying it is final."""
    return DataKey(uuid4(), subject_id, scope, os.urandom(KEY_SIZE))


def new_lookup_secret() -> bytes:
    return os.urandom(LOOKUP_SECRET_SIZE)


def data_key_aad(key_id: UUID, subject_id: UUID, scope: str) -> bytes:
    return associated_data("ledger.key-store.data-key.v1", key_id, subject_id, scope)


def wrap_data_key(master: MasterKey, key: DataKey) -> bytes:
    return master.wrap(key.material, data_key_aad(key.key_id, key.subject_id, key.scope))


def unwrap_data_key(
    master: MasterKey,
    *,
    key_id: UUID,
    subject_id: UUID,
    scope: str,
    wrapped: bytes,
    wrapped_under: str,
) -> DataKey:
    """The data key in a stored row; ``MasterKeyMismatch`` or ``KeyStoreError`` if not."""
    check_master(master, wrapped_under, f"data key {key_id}")
    try:
        material = master.unwrap(wrapped, data_key_aad(key_id, subject_id, scope))
    except TamperedCiphertext:
        raise KeyStoreError(
            f"stored data key {key_id} failed authentication: the row was altered or "
            "moved to another key id, subject or scope"
        ) from None
    return DataKey(key_id, subject_id, scope, material)


def wrap_lookup_secret(master: MasterKey, secret: bytes) -> bytes:
    return master.wrap(secret, _LOOKUP_SECRET_AAD)


def unwrap_lookup_secret(master: MasterKey, wrapped: bytes) -> bytes:
    try:
        return master.unwrap(wrapped, _LOOKUP_SECRET_AAD)
    except TamperedCiphertext:
        raise KeyStoreError("the stored identity-lookup secret failed authentication") from None


def check_master(master: MasterKey, wrapped_under: str, what: str) -> None:
    """``MasterKeyMismatch`` unless ``master`` is the one ``what`` is wrapped under."""
    if wrapped_under != master.fingerprint:
        raise MasterKeyMismatch(
            f"{what} is wrapped under master key {wrapped_under}, but master key "
            f"{master.fingerprint} was given; open the store with the master key it uses "
            "(after a rotation, the new one)"
        )
