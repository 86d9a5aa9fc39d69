"""The in-memory tree gives the same roots and proofs as the RFC's recursion."""

from __future__ import annotations

import random

import pytest

from ledger.audit.merkle import EMPTY_ROOT, verify_consistency, verify_inclusion
from ledger.audit.tree import MerkleTree
from tests.unit.test_merkle import DATA, HASHES, mth, path, subproof


def test_roots_and_every_proof_of_trees_up_to_64_match_the_rfc() -> None:
    assert MerkleTree([]).root() == EMPTY_ROOT
    for n in range(1, 65):
        tree = MerkleTree(HASHES[:n])
        assert tree.root() == mth(DATA[:n]), n
        for m in range(n):
            assert tree.leaf(m) == HASHES[m]
            assert tree.inclusion_proof(m) == path(m, DATA[:n]), (m, n)
        for m in range(n + 1):
            expected = subproof(m, DATA[:n], True) if 0 < m < n else []
            assert tree.consistency_proof(m) == expected, (m, n)


def test_random_proofs_of_trees_up_to_400_verify() -> None:
    rng = random.Random(11)
    for n in rng.sample(range(65, 401), 20):
        tree = MerkleTree(HASHES[:n])
        root = tree.root()
        assert root == mth(DATA[:n])
        for m in rng.sample(range(n), 10):
            assert tree.inclusion_proof(m) == path(m, DATA[:n])
            assert verify_inclusion(m, n, HASHES[m], tree.inclusion_proof(m), root)
        for m in rng.sample(range(1, n), 10):
            assert tree.consistency_proof(m) == subproof(m, DATA[:n], True)
            assert verify_consistency(m, n, mth(DATA[:m]), root, tree.consistency_proof(m))


def test_out_of_range_requests_are_refused() -> None:
    tree = MerkleTree(HASHES[:5])
    with pytest.raises(ValueError, match="outside"):
        tree.inclusion_proof(5)
    with pytest.raises(ValueError, match="outside"):
        tree.consistency_proof(6)
    with pytest.raises(ValueError, match="32 bytes"):
        MerkleTree([b"short"])
