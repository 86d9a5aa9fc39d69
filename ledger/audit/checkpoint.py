"""Signed checkpoints of a shard's tree, in the C2SP tlog-checkpoint format.

A checkpoint (https://c2sp.org/tlog-checkpoint) is a signed note whose text is

    <origin>
    <tree size, decimal, no leading zeros>
    <base64 root hash>
    [extension lines]

The origin names the ledger and the shard (``personal-data-ledger/<ledger>/shard-<n>``),
so a checkpoint of one shard can never pass for another's. The one extension line this
ledger writes is ``timestamp <RFC 3339 UTC time>``: when the writer signed it.

The signing key's name is the ledger's (``personal-data-ledger/<ledger>``), not the
shard's origin the spec suggests: one key signs every shard of a ledger, and an auditor
then needs one verifier key per key generation rather than one per shard.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.audit.errors import CheckpointMalformed, CheckpointRefused
from ledger.audit.merkle import HASH_SIZE
from ledger.audit.signed_note import SignedNote, check_key_name, open_note, sign_note
from ledger.audit.signing_keys import CheckpointSigningKey, TrustedKeys

ORIGIN_PREFIX = "personal-data-ledger"
TIMESTAMP_EXTENSION = "timestamp "
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


def ledger_key_name(ledger: str) -> str:
    """The name of a ledger's checkpoint signing key (and of its verifier keys)."""
    return check_key_name(f"{ORIGIN_PREFIX}/{ledger}")


def shard_origin(ledger: str, shard: int) -> str:
    """The origin line of a shard's checkpoints."""
    return check_key_name(f"{ORIGIN_PREFIX}/{ledger}/shard-{shard}")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the tree of ``size`` leaves of the log ``origin`` has ``root``."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointMalformed("a checkpoint's origin is one non-empty line")
        if not 0 <= self.size < 1 << 64 or len(self.root) != HASH_SIZE:
            raise CheckpointMalformed(f"{self.origin}: a checkpoint has a size of 0..2**64-1 "
                                      "and a 32-byte root hash")
        if any(not line or "\n" in line for line in self.extensions):
            raise CheckpointMalformed(f"{self.origin}: extension lines are non-empty lines")

    @classmethod
    def at(cls, origin: str, size: int, root: bytes, signed_at: datetime) -> Checkpoint:
        """A checkpoint stamped with when it was made (to the second, in UTC)."""
        moment = signed_at.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)
        return cls(origin, size, root, (TIMESTAMP_EXTENSION + moment,))

    @property
    def timestamp(self) -> datetime | None:
        for line in self.extensions:
            if line.startswith(TIMESTAMP_EXTENSION):
                try:
                    moment = datetime.strptime(line[len(TIMESTAMP_EXTENSION):],
                                               _TIMESTAMP_FORMAT)
                except ValueError:
                    return None
                return moment.replace(tzinfo=UTC)
        return None

    def text(self) -> str:
        lines = (self.origin, str(self.size), base64.b64encode(self.root).decode("ascii"),
                 *self.extensions)
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse_text(cls, text: str) -> Checkpoint:
        if not text.endswith("\n"):
            raise CheckpointMalformed("a checkpoint's text ends in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or any(not line for line in lines):
            raise CheckpointMalformed("a checkpoint's text is at least three non-empty "
                                      "lines: origin, tree size, root hash")
        origin, size, root, *extensions = lines
        if not _SIZE.fullmatch(size):
            raise CheckpointMalformed(f"{origin}: the tree size {size[:24]!r} is not a "
                                      "decimal number without leading zeros")
        try:
            root_hash = base64.b64decode(root, validate=True)
        except binascii.Error:
            raise CheckpointMalformed(f"{origin}: the root hash is not base64") from None
        return cls(origin, int(size), root_hash, tuple(extensions))

    def describe(self) -> str:
        """For messages: origin, size and the first hex digits of the root."""
        return f"{self.origin} at size {self.size} (root {self.root.hex()[:16]})"


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: SignedNote

    def encode(self) -> str:
        return self.note.encode()

    @classmethod
    def parse(cls, note_text: str) -> SignedCheckpoint:
        """Parses a signed checkpoint; its signatures are checked by ``verify``."""
        note = SignedNote.parse(note_text)
        return cls(Checkpoint.parse_text(note.text), note)

    def verify(self, keys: TrustedKeys, *, origin: str | None = None) -> Checkpoint:
        """The checkpoint, once a trusted key's signature verifies and (when given) its
        origin is the expected one; ``CheckpointRefused`` otherwise."""
        open_note(self.note, keys.trusted, keys.retired, what=self.checkpoint.describe())
        if origin is not None and self.checkpoint.origin != origin:
            raise CheckpointRefused(f"a checkpoint of {self.checkpoint.origin} was given "
                                    f"for {origin}")
        return self.checkpoint


def sign_checkpoint(checkpoint: Checkpoint, key: CheckpointSigningKey) -> SignedCheckpoint:
    text = checkpoint.text()
    return SignedCheckpoint(checkpoint,
                            SignedNote(text, (sign_note(text, key.name, key.private),)))


def open_checkpoint(note_text: str, keys: TrustedKeys, *,
                    origin: str | None = None) -> Checkpoint:
    """Parse and verify in one step: what an auditor runs on a checkpoint file."""
    return SignedCheckpoint.parse(note_text).verify(keys, origin=origin)
