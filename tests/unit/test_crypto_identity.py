"""Normalising natural identifiers and hashing them for the lookup index."""

from __future__ import annotations

import os

import pytest

from ledger.crypto.identity import identity_digest, normalise_identity

SECRET = bytes(32)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("ann@example.org", "ann@example.org"),
        ("  Ann@Example.ORG\n", "ann@example.org"),
        ("STRASSE@EXAMPLE.DE", "strasse@example.de"),
        ("Straße@example.de", "strasse@example.de"),  # casefold, not lower
        ("\uff41\uff4e\uff4e@example.org", "ann@example.org"),  # full-width "ann" (NFKC)
    ],
)
def test_email_is_trimmed_and_case_folded(raw: str, normalised: str) -> None:
    assert normalise_identity("email", raw) == normalised


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("+31 (0)20 123-4567", "+31201234567"),
        ("(020) 123-4567", "0201234567"),
        ("+31 20 123 45 67", "+31201234567"),
        ("020-1234567", "0201234567"),
        (" +31.6.12345678 ", "+31612345678"),
        ("\uff0b\uff13\uff11 \uff16\uff11", "+3161"),  # full-width "+31 61" (NFKC)
        ("tel 06 1234", "061234"),
    ],
)
def test_phone_keeps_digits_and_a_leading_plus(raw: str, normalised: str) -> None:
    assert normalise_identity("phone", raw) == normalised


def test_other_kinds_are_trimmed_but_keep_case() -> None:
    assert normalise_identity("linkedin", "  in/AnnExample ") == "in/AnnExample"


@pytest.mark.parametrize(("kind", "raw"), [("email", "   "), ("phone", "+ - ()"), ("x", "")])
def test_nothing_left_after_normalising_is_refused_without_echo(kind: str, raw: str) -> None:
    with pytest.raises(ValueError, match="empty after normalisation"):
        normalise_identity(kind, raw)


@pytest.mark.parametrize("kind", ["", "Email", "e mail", "a" * 65, "ann@example.org"])
def test_kind_must_be_a_short_identifier(kind: str) -> None:
    with pytest.raises(ValueError, match="identity kind") as failure:
        normalise_identity(kind, "x")
    assert "example.org" not in str(failure.value)


def test_digest_is_the_same_for_equivalent_values() -> None:
    assert identity_digest(SECRET, "email", " Ann@Example.org") == identity_digest(
        SECRET, "email", "ann@example.org"
    )


def test_digest_depends_on_kind_secret_and_value() -> None:
    base = identity_digest(SECRET, "email", "123")
    assert base != identity_digest(SECRET, "phone", "123")
    assert base != identity_digest(os.urandom(32), "email", "123")
    assert base != identity_digest(SECRET, "email", "1234")
    assert len(base) == 32
    assert b"123" not in base


def test_digest_needs_a_full_size_secret() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        identity_digest(b"short", "email", "ann@example.org")
