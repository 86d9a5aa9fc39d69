"""The leaf of a stored event: the event as stored, encoded without ambiguity."""

from __future__ import annotations

import base64
import hashlib
import os
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from ledger.audit.leaves import EventLeaf, LeafSummary, event_leaf_hash
from ledger.audit.merkle import leaf_hash
from ledger.crypto.aead import seal

SUBJECT = UUID("0b7c5a2e-51f4-4c55-9a1e-3f7d3b8e6a10")
TOPIC = "ledger.domain.subject:DataSubject.DataCollected"


def test_the_encoding_is_pinned() -> None:
    """A change of encoding changes every root ever signed: it must be deliberate (a new
    leaf format version), so the bytes are pinned here."""
    summary = LeafSummary(7, str(SUBJECT), 3, "t:E", bytes(range(32)))
    assert summary.leaf_data().hex() == (
        "01"  # leaf format version
        "0000000000000007"  # sequence
        "00000024" + str(SUBJECT).encode().hex()  # originator id, length-prefixed
        + "0000000000000003"  # originator version
        "00000003" + b"t:E".hex()  # topic, length-prefixed
        + bytes(range(32)).hex())  # SHA-256 of the stored state
    assert summary.leaf_hash() == hashlib.sha256(b"\x00" + summary.leaf_data()).digest()


def test_moving_bytes_between_fields_changes_the_leaf() -> None:
    digest = bytes(32)
    assert (LeafSummary(1, "ab", 1, "c", digest).leaf_data()
            != LeafSummary(1, "a", 1, "bc", digest).leaf_data())
    assert (LeafSummary(1, "a", 2, "b", digest).leaf_hash()
            != LeafSummary(2, "a", 1, "b", digest).leaf_hash())


def test_the_summary_gives_the_same_leaf_as_the_event_without_its_state() -> None:
    state = b'{"values": {"name": {"key": "k1", "ct": "AAAA"}}, "purpose": "contact"}'
    stored = StoredEvent(originator_id=SUBJECT, originator_version=2, topic=TOPIC,
                         state=state)
    leaf = EventLeaf.of(41, stored)
    summary = leaf.summary()
    assert summary.state_sha256 == hashlib.sha256(state).digest()
    assert summary.leaf_hash() == leaf.leaf_hash() == event_leaf_hash(41, stored)
    assert LeafSummary.from_json(orjson.loads(orjson.dumps(summary.to_json()))) == summary
    assert "state=" not in repr(leaf)  # the stored bytes stay out of reprs
    # a string originator id (eventsourcing allows them) encodes as the same text
    assert EventLeaf.of(41, StoredEvent(str(SUBJECT), 2, TOPIC, state)) == leaf


def test_every_stored_field_counts() -> None:
    stored = StoredEvent(SUBJECT, 2, TOPIC, b"state")
    base = event_leaf_hash(0, stored)
    assert event_leaf_hash(1, stored) != base
    assert event_leaf_hash(0, StoredEvent(UUID(int=1), 2, TOPIC, b"state")) != base
    assert event_leaf_hash(0, StoredEvent(SUBJECT, 3, TOPIC, b"state")) != base
    assert event_leaf_hash(0, StoredEvent(SUBJECT, 2, TOPIC + "X", b"state")) != base
    assert event_leaf_hash(0, StoredEvent(SUBJECT, 2, TOPIC, b"statf")) != base


def test_a_leaf_holds_no_plaintext_and_survives_the_destruction_of_its_key() -> None:
    """Crypto-shredding: the stored state holds a sealed value; the leaf is computed from
    the state as stored, so forgetting the data key cannot change it."""
    plaintext = b"Annemarie van der Berg"
    keys = {"k1": os.urandom(32)}
    sealed = seal(keys["k1"], plaintext, b"aad")
    state = orjson.dumps({"values": {"name": {"key": "k1",
                                              "ct": base64.b64encode(sealed).decode()}}})
    stored = StoredEvent(SUBJECT, 2, TOPIC, state)
    before = EventLeaf.of(5, stored).summary()
    del keys["k1"]  # the erasure: the key is destroyed, the stored event stays
    after = EventLeaf.of(5, stored).summary()
    assert after == before
    data = before.leaf_data()
    assert plaintext not in data
    assert hashlib.sha256(plaintext).digest() not in data
    assert leaf_hash(data) == after.leaf_hash()


@pytest.mark.parametrize("document", [
    {}, {"sequence": "1", "originator_id": "a", "originator_version": 1, "topic": "t",
         "state_sha256": "00" * 32},
    {"sequence": 1, "originator_id": "a", "originator_version": True, "topic": "t",
     "state_sha256": "00" * 32},
    {"sequence": 1, "originator_id": "a", "originator_version": 1, "topic": "t",
     "state_sha256": "00" * 31},
    {"sequence": 1, "originator_id": "a", "originator_version": 1, "topic": "t",
     "state_sha256": "zz" * 32},
])
def test_a_malformed_summary_is_refused(document: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  (each names its own field)
        LeafSummary.from_json(document)


def test_out_of_range_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="sequence"):
        LeafSummary(-1, "a", 1, "t", bytes(32)).leaf_data()
    with pytest.raises(ValueError, match="originator version"):
        LeafSummary(0, "a", 2**64, "t", bytes(32)).leaf_data()
