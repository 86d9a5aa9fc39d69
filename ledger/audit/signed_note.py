"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 signatures.

A note is text ending in a newline, a blank line, then one signature line per key:

    — <key name> <base64(key ID (uint32, big-endian) || Ed25519 signature of the text)>

    key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]

A verifier key is written ``<name>+<8 hex digits of the key ID>+<base64(0x01 ||
public key)>``, the form Go's golang.org/x/mod/sumdb/note reads, so an auditor can check
a checkpoint with that tooling too. Signatures of keys the verifier does not know are
ignored (that is how rotation and cosigning work); one that a known key does not verify
rejects the whole note; a note no known key verifies is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.audit.errors import CheckpointMalformed, CheckpointRefused

ED25519 = 0x01  # the signature type byte of Ed25519 in the signed-note spec
SIGNATURE_LINE_START = "\u2014 "  # em dash, space
MAX_NOTE_BYTES = 64 * 1024  # a checkpoint is a few hundred bytes
MAX_SIGNATURES = 100  # the spec asks verifiers to accept at least 16
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # control characters other than newline
_BAD_NAME = re.compile(r"[\s+]")


def check_key_name(name: str) -> str:
    """A key name is non-empty, without spaces or plus signs (the spec's rule)."""
    if not name or _BAD_NAME.search(name) or _CONTROL.search(name):
        raise CheckpointMalformed(f"key name {name!r} is empty or holds a space or '+'")
    return name


def split_key(text: str) -> tuple[str, str, str]:
    """``name+hex id+base64`` in its three parts (empty ones when missing)."""
    name, _, rest = text.partition("+")
    hex_id, _, encoded = rest.partition("+")
    return name, hex_id, encoded


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_of(name: str, public: Ed25519PublicKey) -> int:
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519])
                            + raw_public(public)).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        encoded = base64.b64encode(self.key_id.to_bytes(4, "big") + self.signature)
        return f"{SIGNATURE_LINE_START}{self.name} {encoded.decode('ascii')}\n"


@dataclass(frozen=True, eq=False)  # equal by encoding: see __eq__
class VerifierKey:
    """A public key under its name: what verifies a note's signature."""

    name: str
    public: Ed25519PublicKey

    @property
    def key_id(self) -> int:
        return key_id_of(self.name, self.public)

    @property
    def label(self) -> str:
        """How messages name the key: ``name+hex key id`` (no key material)."""
        return f"{self.name}+{self.key_id:08x}"

    def encode(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + raw_public(self.public)).decode()
        return f"{self.label}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        name, hex_id, encoded = split_key(text.strip())
        try:
            raw = base64.b64decode(encoded, validate=True)
            if len(raw) != 33 or raw[0] != ED25519 or len(hex_id) != 8:
                raise ValueError
            key = cls(check_key_name(name), Ed25519PublicKey.from_public_bytes(raw[1:]))
            claimed = int(hex_id, 16)
        except (ValueError, binascii.Error):
            raise CheckpointMalformed(
                "a verifier key reads '<name>+<8 hex digits>+<base64 of 0x01 and a "
                f"32-byte Ed25519 key>' (given one named {name!r})") from None
        if key.key_id != claimed:
            raise CheckpointMalformed(f"verifier key {key.label}: its key id is written "
                                      f"as {hex_id}, which is not the key's")
        return key

    def verifies(self, text: bytes, signature: bytes) -> bool:
        try:
            self.public.verify(signature, text)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifierKey) and self.encode() == other.encode()

    def __hash__(self) -> int:
        return hash(self.encode())


def sign_note(text: str, name: str, private: Ed25519PrivateKey) -> NoteSignature:
    check_note_text(text)
    key_id = key_id_of(check_key_name(name), private.public_key())
    return NoteSignature(name, key_id, private.sign(text.encode("utf-8")))


def check_note_text(text: str) -> None:
    if not text.endswith("\n") or _CONTROL.search(text):
        raise CheckpointMalformed("a note's text ends in a newline and holds no control "
                                  "characters other than newlines")


@dataclass(frozen=True)
class SignedNote:
    text: str
    signatures: tuple[NoteSignature, ...]

    def encode(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    @classmethod
    def parse(cls, note: str) -> SignedNote:
        """Splits a note at its last blank line; checks its form, not its signatures."""
        if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
            raise CheckpointMalformed(f"a signed note is at most {MAX_NOTE_BYTES} bytes")
        if _CONTROL.search(note):
            raise CheckpointMalformed("a signed note holds a control character")
        split = note.rfind("\n\n")
        if split < 0 or not note.endswith("\n"):
            raise CheckpointMalformed("a signed note is text, a blank line and signature "
                                      "lines, each ending in a newline")
        text, lines = note[:split + 1], note[split + 2:].splitlines()
        if not lines or len(lines) > MAX_SIGNATURES:
            raise CheckpointMalformed(f"a signed note has 1 to {MAX_SIGNATURES} signature "
                                      f"lines, not {len(lines)}")
        return cls(text, tuple(_parse_signature(line) for line in lines))


def _parse_signature(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_LINE_START) or line.count(" ") != 2:
        raise CheckpointMalformed("a signature line reads '\u2014 <key name> <base64>'")
    name, encoded = line[len(SIGNATURE_LINE_START):].split(" ")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise CheckpointMalformed(f"the signature of key {name!r} is not base64") from None
    if len(raw) < 5:
        raise CheckpointMalformed(f"the signature of key {name!r} is too short")
    return NoteSignature(check_key_name(name), int.from_bytes(raw[:4], "big"), raw[4:])


def open_note(note: SignedNote, trusted: Iterable[VerifierKey],
              retired: Iterable[VerifierKey] = (), *, what: str = "note") -> list[VerifierKey]:
    """The trusted keys whose signatures on ``note`` verify (at least one), or refusal.

    A signature is matched to a key by name *and* key id; others are ignored. A retired
    key's signature counts for nothing, and a note signed by nothing else is refused
    naming it.
    """
    known = {(k.name, k.key_id): k for k in trusted}
    withdrawn = {(k.name, k.key_id): k for k in retired}
    text = note.text.encode("utf-8")
    verified: list[VerifierKey] = []
    seen_retired: list[str] = []
    for signature in note.signatures:
        ident = (signature.name, signature.key_id)
        if ident in withdrawn:
            seen_retired.append(withdrawn[ident].label)
        elif ident in known:
            key = known[ident]
            if not key.verifies(text, signature.signature):
                raise CheckpointRefused(f"{what}: the signature of key {key.label} does "
                                        "not verify (altered after signing, or forged)")
            verified.append(key)
    if verified:
        return verified
    if seen_retired:
        raise CheckpointRefused(f"{what}: signed only by retired key(s) "
                                f"{', '.join(seen_retired)}")
    named = ", ".join(f"{s.name}+{s.key_id:08x}" for s in note.signatures)
    raise CheckpointRefused(f"{what}: no trusted key signed it (signed by {named})")
