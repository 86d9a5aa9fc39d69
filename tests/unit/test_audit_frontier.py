"""The frontier: the tree's right edge, appended to leaf by leaf and committed with a batch."""

from __future__ import annotations

import random

import pytest

from ledger.audit.errors import FrontierInvalid
from ledger.audit.frontier import Frontier
from ledger.audit.merkle import EMPTY_ROOT, leaf_hash, tree_root
from tests.unit.test_merkle import DATA, HASHES, mth


def test_the_root_matches_the_rfc_definition_at_every_size_up_to_300() -> None:
    frontier = Frontier()
    assert frontier.root() == EMPTY_ROOT
    for n in range(1, 301):
        assert frontier.append(HASHES[n - 1]) == n - 1
        assert frontier.size == n
        assert frontier.root() == mth(DATA[:n]), n
        assert len(frontier.roots) == n.bit_count()


def test_a_frontier_resumed_from_its_bytes_continues_the_same_tree() -> None:
    """What a taking-over writer does: restore the committed frontier and go on."""
    rng = random.Random(5)
    for _ in range(50):
        cut = rng.randrange(0, 300)
        first = Frontier.of(HASHES[:cut])
        resumed = Frontier.from_bytes(first.to_bytes())
        assert resumed == first
        resumed.extend(HASHES[cut:400])
        assert resumed.root() == tree_root(HASHES[:400])
        assert Frontier.from_text(first.to_text()) == first


@pytest.mark.parametrize(("size", "length"), [
    (0, 9), (1, 41), (2, 41), (3, 73), (1_000_000, 233), (2**20 - 1, 649),
    (1_000_000_000, 425), (2**30 - 1, 969), (2**64 - 1, 2057),
])
def test_the_stored_form_is_9_bytes_plus_32_per_one_bit_of_the_size(size: int,
                                                                     length: int) -> None:
    frontier = Frontier(size, [leaf_hash(b"%d" % i) for i in range(size.bit_count())])
    stored = frontier.to_bytes()
    assert len(stored) == length
    assert Frontier.from_bytes(stored) == frontier
    assert len(frontier.to_text()) <= 2744  # under the 4096 of Kafka offset metadata


@pytest.mark.parametrize("stored", [
    b"", b"\x02" + bytes(8), b"\x01" + (1).to_bytes(8, "big"),  # size 1 needs a root
    b"\x01" + (2).to_bytes(8, "big") + bytes(64),  # size 2 has one root, not two
    b"\x01" + bytes(8) + bytes(3),
])
def test_a_corrupt_stored_frontier_is_refused(stored: bytes) -> None:
    with pytest.raises(FrontierInvalid):
        Frontier.from_bytes(stored)


def test_malformed_frontiers_are_refused() -> None:
    with pytest.raises(FrontierInvalid):
        Frontier.from_text("not base64!")
    with pytest.raises(FrontierInvalid):
        Frontier(3, [bytes(32)])
    with pytest.raises(FrontierInvalid):
        Frontier(1, [b"short"])
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier().append(b"short")


def test_copies_are_independent() -> None:
    frontier = Frontier.of(HASHES[:5])
    copy = frontier.copy()
    copy.append(HASHES[5])
    assert frontier.size == 5
    assert copy.root() == tree_root(HASHES[:6])
