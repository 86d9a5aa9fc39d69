"""What a stored event contributes to its shard's Merkle tree: the leaf encoding.

A leaf is the event *as stored*: its originator (subject) id, version, topic and the
SHA-256 of its stored state, the bytes that hold the sealed values (key id, nonce,
ciphertext) and the cleartext metadata. Never plaintext, never a digest of plaintext:
an erasure destroys keys and leaves stored events as they are, so every leaf, and every
root signed over them, stays the same before and after it.

The state enters through its digest so that the leaf's hash can be recomputed from the
non-secret parts alone (``LeafSummary``): a DSAR export carries the summary and an
inclusion proof, and an auditor checks it with neither the ciphertext nor any key.

Leaf data (``LeafSummary.leaf_data``), every integer big-endian:

    0x01                                    leaf format version
    uint64  sequence                        the leaf index in its shard's tree
    uint32  length || UTF-8 originator id   str(UUID) for the ledger's aggregates
    uint64  originator version
    uint32  length || UTF-8 topic           the event class's topic
    32 bytes SHA-256(stored state)

Fixed widths and length prefixes make the encoding unambiguous (no two different
summaries give the same bytes). The sequence is the event's per-shard position counted
from 0 without gaps, unlike Kafka offsets, which commit markers skip; carrying it in the
leaf lets a verifier name a missing, inserted or reordered event by its sequence.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.audit.merkle import HASH_SIZE, leaf_hash

LEAF_FORMAT_VERSION = 1
_UINT64_MAX = (1 << 64) - 1
_UINT32_MAX = (1 << 32) - 1


_HEAD = struct.Struct(">BQI")  # format version, sequence, originator id length
_MIDDLE = struct.Struct(">QI")  # originator version, topic length


def encode_leaf(sequence: int, originator_id: str, originator_version: int, topic: str,
                state_sha256: bytes) -> bytes:
    """The leaf data (the layout above). One function, not a dataclass round trip: the
    writer calls it once per event."""
    for name, value in (("sequence", sequence), ("originator version", originator_version)):
        if not 0 <= value <= _UINT64_MAX:
            raise ValueError(f"a leaf's {name} must be 0..2**64-1, not {value}")
    originator, kind = originator_id.encode("utf-8"), topic.encode("utf-8")
    if max(len(originator), len(kind)) > _UINT32_MAX:
        raise ValueError("a leaf field is longer than 2**32 - 1 bytes")
    return b"".join((_HEAD.pack(LEAF_FORMAT_VERSION, sequence, len(originator)), originator,
                     _MIDDLE.pack(originator_version, len(kind)), kind, state_sha256))


@dataclass(frozen=True)
class LeafSummary:
    """The non-secret parts of a leaf: metadata and the digest of the stored state."""

    sequence: int
    originator_id: str
    originator_version: int
    topic: str
    state_sha256: bytes

    def __post_init__(self) -> None:
        if len(self.state_sha256) != HASH_SIZE:
            raise ValueError("state_sha256 is a 32-byte SHA-256 digest")

    def leaf_data(self) -> bytes:
        return encode_leaf(self.sequence, self.originator_id, self.originator_version,
                           self.topic, self.state_sha256)

    def leaf_hash(self) -> bytes:
        return leaf_hash(self.leaf_data())

    def to_json(self) -> dict[str, Any]:
        """The summary as a DSAR export carries it (the digest in hex)."""
        return {"sequence": self.sequence, "originator_id": self.originator_id,
                "originator_version": self.originator_version, "topic": self.topic,
                "state_sha256": self.state_sha256.hex()}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> LeafSummary:
        """Raises ``ValueError`` naming the field that is missing or of the wrong type."""
        def typed(name: str, kind: type) -> Any:
            value = document.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"leaf field {name!r} must be a {kind.__name__}")
            return value

        return cls(sequence=typed("sequence", int),
                   originator_id=typed("originator_id", str),
                   originator_version=typed("originator_version", int),
                   topic=typed("topic", str),
                   state_sha256=bytes.fromhex(typed("state_sha256", str)))


@dataclass(frozen=True)
class EventLeaf:
    """A stored event at its place in its shard's log (state bytes: ciphertext and
    cleartext metadata, as the event store holds them)."""

    sequence: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes = field(repr=False)

    @classmethod
    def of(cls, sequence: int, stored: StoredEvent) -> EventLeaf:
        originator = stored.originator_id
        return cls(sequence=sequence,
                   originator_id=str(originator) if isinstance(originator, UUID)
                   else originator,
                   originator_version=stored.originator_version,
                   topic=stored.topic, state=stored.state)

    def summary(self) -> LeafSummary:
        return LeafSummary(self.sequence, self.originator_id, self.originator_version,
                           self.topic, hashlib.sha256(self.state).digest())

    def leaf_hash(self) -> bytes:
        return leaf_hash(encode_leaf(self.sequence, self.originator_id,
                                     self.originator_version, self.topic,
                                     hashlib.sha256(self.state).digest()))


def event_leaf_hash(sequence: int, stored: StoredEvent) -> bytes:
    """The leaf hash of ``stored`` at ``sequence`` in its shard: what the writer appends
    (``EventLeaf.of(sequence, stored).leaf_hash()``, without the object: once per event)."""
    originator = stored.originator_id
    return leaf_hash(encode_leaf(sequence,
                                 str(originator) if isinstance(originator, UUID) else originator,
                                 stored.originator_version, stored.topic,
                                 hashlib.sha256(stored.state).digest()))
