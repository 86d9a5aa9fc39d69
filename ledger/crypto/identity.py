"""Natural identifiers (email, phone) as lookup digests, never in clear.

Subject ids are random UUIDs; finding the subject for an incoming email address goes
through an index of HMAC-SHA256 digests under a random secret kept wrapped beside the
data keys. Without the secret the index cannot be tested against a list of guesses, as
a plain hash could; erasing a subject deletes its digests with its keys.

Values are normalised first, so "  Ann@Example.ORG" and "ann@example.org" meet.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from ledger.crypto.aead import associated_data
from ledger.crypto.keys import check_name

LOOKUP_SECRET_SIZE = 32
_DIGEST_LABEL = "ledger.identity-lookup.v1"
_ASCII_DIGITS = frozenset("0123456789")
_TRUNK_ZERO = re.compile(r"\(\s*0\s*\)")
# What an act's value must look like to be bound (stricter than a look-up's reading):
# one "@" between a local part and a dotted domain, no blanks in them (and no control,
# format or unassigned characters: Unicode category C); a phone number of 3 to 20
# digits, written with spaces, "+" (first), "()", "-", "." or "/".
_EMAIL_FORM = re.compile(r"[^@\s]+@[^@.\s]+(\.[^@.\s]+)+")
_PHONE_CHARACTERS = frozenset("0123456789 ()-./")
PHONE_DIGITS = (3, 20)


def normalise_identity(kind: str, value: str) -> str:
    """The canonical form of ``value`` for ``kind``; ``ValueError`` if nothing is left.

    email: trimmed and case-folded. phone: ASCII digits only, keeping a leading "+"
    (and dropping the "(0)" of "+31 (0)20 ..."); no other rewriting, such as "00" to
    "+", which depends on the country dialled from.
    Any other kind: Unicode-normalised (NFKC) and trimmed, case kept.
    """
    check_name(kind, "identity kind")
    # NFKC first: full-width digits and compatibility characters become their plain form.
    text = unicodedata.normalize("NFKC", value).strip()
    if kind == "email":
        text = text.casefold()
    elif kind == "phone":
        if text.startswith("+"):
            # "+31 (0)20 ...": the bracketed trunk zero is dialled only domestically.
            text = _TRUNK_ZERO.sub("", text)
        digits = "".join(ch for ch in text if ch in _ASCII_DIGITS)
        text = ("+" + digits if text.startswith("+") else digits) if digits else ""
    if not text:
        # Never echo the value: it is personal data.
        raise ValueError(f"identity of kind {kind!r} is empty after normalisation")
    return text


def identity_form_problem(kind: str, value: str) -> str | None:
    """Why ``value`` does not have the form of an identity of ``kind`` (in words that
    name the kind, never the value), or ``None`` when it does; kinds without a known
    form only need something left after normalisation.

    Stricter than ``normalise_identity``, which reads a look-up leniently: an act's
    business phone "n/a" or business email "not an email" is refused, not bound.
    """
    check_name(kind, "identity kind")
    text = unicodedata.normalize("NFKC", value).strip()
    if kind == "email":
        if _EMAIL_FORM.fullmatch(text) and not any(
                unicodedata.category(ch).startswith("C") for ch in text):
            return None
        return "is not an email address (name@domain)"
    if kind == "phone":
        body = text[1:] if text.startswith("+") else text
        digits = sum(ch in _ASCII_DIGITS for ch in body)
        if set(body) <= _PHONE_CHARACTERS and PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]:
            return None
        return (f"is not a phone number ({PHONE_DIGITS[0]} to {PHONE_DIGITS[1]} digits, "
                "spaces, a leading + and ( ) - . / only)")
    return None if text else f"is not a {kind} identity: it is blank"


def identity_digest(secret: bytes, kind: str, value: str) -> bytes:
    """HMAC-SHA256 of the normalised value, bound to its kind."""
    if len(secret) != LOOKUP_SECRET_SIZE:
        raise ValueError(f"the lookup secret must be {LOOKUP_SECRET_SIZE} bytes")
    message = associated_data(_DIGEST_LABEL, kind, normalise_identity(kind, value))
    return hmac.new(secret, message, hashlib.sha256).digest()
