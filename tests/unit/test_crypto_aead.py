"""AES-256-GCM sealing of single values, and the associated data that pins them down."""

from __future__ import annotations

import os
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from ledger.crypto.aead import (
    FORMAT_AES256_GCM_V1,
    KEY_SIZE,
    NONCE_SIZE,
    SEALED_OVERHEAD,
    TAG_SIZE,
    associated_data,
    complete_field_aad,
    event_field_aad,
    seal,
    seal_with,
    unseal,
    unseal_with,
    versioned_event_aad,
    versioned_field_aad,
)
from ledger.errors import LedgerError, TamperedCiphertext

KEY = bytes(range(KEY_SIZE))
SUBJECT = UUID("6f1c4a52-1f7e-4a51-9d35-1b2a4d7e9c01")
OTHER_SUBJECT = UUID("0b9e7d1c-55aa-4c3b-8f00-2d6e1a9b7c42")
EVENT = UUID("3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a")
OTHER_EVENT = UUID("a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d")
PLAINTEXT = b"Ann Example"


def test_seal_then_unseal_returns_the_plaintext() -> None:
    aad = event_field_aad(SUBJECT, EVENT, "name")
    assert unseal(KEY, seal(KEY, PLAINTEXT, aad), aad) == PLAINTEXT


def test_blob_is_format_byte_nonce_ciphertext_and_tag() -> None:
    blob = seal(KEY, PLAINTEXT, b"")
    assert blob[0] == FORMAT_AES256_GCM_V1 == 1
    assert len(blob) == 1 + NONCE_SIZE + len(PLAINTEXT) + TAG_SIZE
    assert PLAINTEXT not in blob


def test_nonces_are_fresh_for_every_seal() -> None:
    blobs = {seal(KEY, PLAINTEXT, b"") for _ in range(50)}
    assert len(blobs) == 50
    assert len({blob[1 : 1 + NONCE_SIZE] for blob in blobs}) == 50


def test_empty_plaintext_round_trips() -> None:
    blob = seal(KEY, b"", b"aad")
    assert len(blob) == SEALED_OVERHEAD
    assert unseal(KEY, blob, b"aad") == b""


@pytest.mark.parametrize("position", [1, 1 + NONCE_SIZE, -TAG_SIZE, -1])
def test_a_flipped_bit_anywhere_fails_authentication(position: int) -> None:
    blob = bytearray(seal(KEY, PLAINTEXT, b"aad"))
    blob[position] ^= 0x01
    with pytest.raises(TamperedCiphertext, match="failed authentication"):
        unseal(KEY, bytes(blob), b"aad")


def test_truncated_blob_fails_with_its_length_not_its_content() -> None:
    blob = seal(KEY, PLAINTEXT, b"aad")
    with pytest.raises(TamperedCiphertext, match="shorter than"):
        unseal(KEY, blob[: SEALED_OVERHEAD - 1], b"aad")
    with pytest.raises(TamperedCiphertext):
        unseal(KEY, blob[:-1], b"aad")


def test_unknown_format_version_is_refused() -> None:
    blob = seal(KEY, PLAINTEXT, b"aad")
    with pytest.raises(TamperedCiphertext, match="unknown format version 2"):
        unseal(KEY, b"\x02" + blob[1:], b"aad")


def test_another_key_fails() -> None:
    blob = seal(KEY, PLAINTEXT, b"aad")
    with pytest.raises(TamperedCiphertext):
        unseal(os.urandom(KEY_SIZE), blob, b"aad")


def test_only_256_bit_keys_are_accepted() -> None:
    with pytest.raises(ValueError, match="32-byte key"):
        seal(KEY[:16], PLAINTEXT, b"")
    with pytest.raises(ValueError, match="32-byte key"):
        unseal(KEY[:24], seal(KEY, PLAINTEXT, b""), b"")


@pytest.mark.parametrize(
    "moved_to",
    [
        event_field_aad(OTHER_SUBJECT, EVENT, "name"),
        event_field_aad(SUBJECT, OTHER_EVENT, "name"),
        event_field_aad(SUBJECT, EVENT, "email"),
    ],
    ids=["other-subject", "other-event", "other-field"],
)
def test_ciphertext_moved_to_another_subject_event_or_field_fails(moved_to: bytes) -> None:
    blob = seal(KEY, PLAINTEXT, event_field_aad(SUBJECT, EVENT, "name"))
    with pytest.raises(TamperedCiphertext):
        unseal(KEY, blob, moved_to)


@pytest.mark.parametrize(
    "moved_to",
    [
        versioned_field_aad(OTHER_SUBJECT, SUBJECT, 3, "name"),
        versioned_field_aad(SUBJECT, OTHER_SUBJECT, 3, "name"),
        versioned_field_aad(SUBJECT, SUBJECT, 4, "name"),
        versioned_field_aad(SUBJECT, SUBJECT, 3, "phone"),
    ],
    ids=["other-subject", "other-aggregate", "other-version", "other-field"],
)
def test_versioned_ciphertext_moved_elsewhere_fails(moved_to: bytes) -> None:
    blob = seal(KEY, PLAINTEXT, versioned_field_aad(SUBJECT, SUBJECT, 3, "name"))
    assert unseal(KEY, blob, versioned_field_aad(SUBJECT, SUBJECT, 3, "name")) == PLAINTEXT
    with pytest.raises(TamperedCiphertext):
        unseal(KEY, blob, moved_to)


@given(version=st.integers(min_value=-(2**63), max_value=2**63 - 1),
       field_name=st.text(max_size=40))
def test_fast_versioned_framing_equals_the_generic_framing(version: int,
                                                           field_name: str) -> None:
    # Values already in the immutable log were sealed with the generic framing.
    generic = associated_data("ledger.field.by-aggregate-version.v1",
                              SUBJECT, OTHER_SUBJECT, version, field_name)
    assert versioned_field_aad(SUBJECT, OTHER_SUBJECT, version, field_name) == generic
    event_aad = versioned_event_aad(SUBJECT, OTHER_SUBJECT, version)
    assert complete_field_aad(event_aad, field_name) == generic


def test_keyed_cipher_variants_interoperate_with_the_key_variants() -> None:
    cipher = AESGCM(KEY)
    aad = versioned_field_aad(SUBJECT, SUBJECT, 3, "name")
    assert unseal(KEY, seal_with(cipher, PLAINTEXT, aad), aad) == PLAINTEXT
    assert unseal_with(cipher, seal(KEY, PLAINTEXT, aad), aad) == PLAINTEXT
    with pytest.raises(TamperedCiphertext):
        unseal_with(AESGCM(bytes(KEY_SIZE)), seal(KEY, PLAINTEXT, aad), aad)


def test_the_two_kinds_of_event_reference_never_collide() -> None:
    assert event_field_aad(SUBJECT, EVENT, "name") != versioned_field_aad(
        SUBJECT, EVENT, 0, "name"
    )


def test_associated_data_is_length_prefixed_not_concatenated() -> None:
    assert associated_data("l", "ab", "c") != associated_data("l", "a", "bc")
    assert associated_data("l", "abc") != associated_data("l", "ab", "c")
    assert associated_data("l", "", "x") != associated_data("l", "x", "")
    assert associated_data("l1", "x") != associated_data("l", "1x")
    assert associated_data("l", 1) != associated_data("l", -1)


def test_associated_data_refuses_bools() -> None:
    with pytest.raises(TypeError):
        associated_data("l", True)


def test_failure_messages_carry_no_value() -> None:
    secret = b"ann@example.org"
    blob = seal(KEY, secret, b"aad")
    with pytest.raises(LedgerError) as failure:
        unseal(KEY, blob, b"other")
    assert "ann" not in str(failure.value)
    assert failure.value.__cause__ is None
    assert failure.value.__suppress_context__


@given(
    plaintext=st.binary(max_size=512),
    field=st.text(max_size=40),
    version=st.integers(min_value=0, max_value=2**62),
)
def test_any_value_round_trips_in_its_own_context(
    plaintext: bytes, field: str, version: int
) -> None:
    subject = uuid4()
    aad = versioned_field_aad(subject, subject, version, field)
    assert unseal(KEY, seal(KEY, plaintext, aad), aad) == plaintext


@given(
    a=st.lists(st.text(max_size=8), min_size=1, max_size=4),
    b=st.lists(st.text(max_size=8), min_size=1, max_size=4),
)
def test_distinct_parts_give_distinct_associated_data(a: list[str], b: list[str]) -> None:
    if a != b:
        assert associated_data("label", *a) != associated_data("label", *b)
