"""AES-256-GCM sealing of one personal value, bound to where it belongs.

A sealed blob is ``format (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)``.
The format byte lets a later scheme coexist with blobs already in the immutable log.
Nonces are random: keys are per subject and scope, so no key comes anywhere near the
2**32 messages where random 96-bit nonces would start to risk a collision.

The associated data is authenticated but not stored: ``unseal`` succeeds only when the
caller rebuilds exactly the context the value was sealed in (subject, event, field), so
ciphertext copied to another subject, event or field fails instead of being misread.
"""

from __future__ import annotations

import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.errors import TamperedCiphertext

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
FORMAT_AES256_GCM_V1 = 0x01
SEALED_OVERHEAD = 1 + NONCE_SIZE + TAG_SIZE

_LENGTH_BYTES = 4
_INT_BYTES = 8

AssociatedPart = bytes | str | int | UUID


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext`` under a 256-bit ``key``, bound to ``aad``."""
    _check_key(key)
    return seal_with(AESGCM(key), plaintext, aad)


def seal_with(cipher: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    """``seal`` with a cipher already keyed (one per data key, not one per value)."""
    nonce = os.urandom(NONCE_SIZE)
    return _FORMAT_PREFIX + nonce + cipher.encrypt(nonce, plaintext, aad)


def unseal(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """The plaintext of a sealed ``blob``; ``TamperedCiphertext`` if it does not authenticate.

    Wrong key, altered bytes and a different ``aad`` are indistinguishable by design.
    """
    _check_key(key)
    return unseal_with(AESGCM(key), blob, aad)


def unseal_with(cipher: AESGCM, blob: bytes, aad: bytes) -> bytes:
    """``unseal`` with a cipher already keyed."""
    if len(blob) < SEALED_OVERHEAD:
        raise TamperedCiphertext(
            f"sealed value is {len(blob)} bytes, shorter than the {SEALED_OVERHEAD}-byte minimum"
        )
    if blob[0] != FORMAT_AES256_GCM_V1:
        raise TamperedCiphertext(f"sealed value has unknown format version {blob[0]}")
    try:
        return cipher.decrypt(blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :], aad)
    except InvalidTag:
        raise TamperedCiphertext(
            "sealed value failed authentication: altered, sealed under another key, "
            "or moved to another subject, event or field"
        ) from None


def associated_data(label: str, *parts: AssociatedPart) -> bytes:
    """Frame ``label`` and ``parts`` so that distinct inputs never give equal bytes.

    Every part is length-prefixed, so ("ab", "c") and ("a", "bc") differ, and the label
    separates one use of associated data from another. Within one label each position
    must always hold the same kind of part; ints are 64-bit signed, UUIDs their 16 bytes.
    """
    return _frame(label.encode("utf-8")) + b"".join(_frame(_encode(part)) for part in parts)


def event_field_aad(subject_id: UUID, event_id: UUID, field_name: str) -> bytes:
    """Associated data for a value in field ``field_name`` of the event ``event_id``."""
    return associated_data("ledger.field.by-event-id.v1", subject_id, event_id, field_name)


def versioned_field_aad(
    subject_id: UUID, aggregate_id: UUID, version: int, field_name: str
) -> bytes:
    """Associated data for a value in an event named by its aggregate id and version."""
    return versioned_event_aad(subject_id, aggregate_id, version) + _frame(
        field_name.encode("utf-8"))


def versioned_event_aad(subject_id: UUID, aggregate_id: UUID, version: int) -> bytes:
    """The part of ``versioned_field_aad`` all fields of one event share.

    Framed once per event, then completed per field with ``complete_field_aad``: the
    bytes equal ``versioned_field_aad``'s, which the tests check.
    """
    if isinstance(version, bool):
        raise TypeError("associated data parts cannot be bool")
    return b"".join((_VERSIONED_LABEL, _UUID_LENGTH, subject_id.bytes, _UUID_LENGTH,
                     aggregate_id.bytes, _INT_LENGTH,
                     version.to_bytes(_INT_BYTES, "big", signed=True)))


def complete_field_aad(event_aad: bytes, field_name: str) -> bytes:
    return event_aad + _frame(field_name.encode("utf-8"))


def _frame(part: bytes) -> bytes:
    return len(part).to_bytes(_LENGTH_BYTES, "big") + part


def _encode(part: AssociatedPart) -> bytes:
    # bool is an int subclass; a flag silently framed as 0/1 would be a bug at the caller.
    if isinstance(part, bool):
        raise TypeError("associated data parts cannot be bool")
    if isinstance(part, bytes):
        return part
    if isinstance(part, str):
        return part.encode("utf-8")
    if isinstance(part, UUID):
        return part.bytes
    return part.to_bytes(_INT_BYTES, "big", signed=True)


_FORMAT_PREFIX = bytes((FORMAT_AES256_GCM_V1,))
_VERSIONED_LABEL = _frame(b"ledger.field.by-aggregate-version.v1")
_UUID_LENGTH = (16).to_bytes(_LENGTH_BYTES, "big")
_INT_LENGTH = _INT_BYTES.to_bytes(_LENGTH_BYTES, "big")


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        # AESGCM would accept 16 or 24 bytes too; the design asks for AES-256 only.
        raise ValueError(f"AES-256-GCM needs a {KEY_SIZE}-byte key, got {len(key)} bytes")
