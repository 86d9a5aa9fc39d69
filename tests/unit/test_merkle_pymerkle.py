"""The audit tree against an independent implementation: pymerkle (test-only dependency).

pymerkle's ``InmemoryTree(algorithm="sha256")`` with its default security mode hashes
leaves as SHA-256(0x00 || data) and nodes as SHA-256(0x01 || left || right) and splits
like RFC 9162, so roots must agree at every size, and its inclusion path (the leaf hash
followed by the siblings, bottom-up) must be ours after the leaf.

Its consistency proofs are *not* RFC 9162's: pymerkle proves consistency with a path
from one node of the new tree up to the new root plus bits saying which hashes fold into
the old root (and, when the old size is a left subtree's size, it takes a longer path
than the RFC). They cannot be compared hash for hash, so the test compares what they
commit to: the old and new roots pymerkle's proof reconstructs equal our roots, and our
RFC proof verifies between those same roots.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from ledger.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from tests.unit.merkle_leaves import leaf_hashes, leaves

pymerkle = pytest.importorskip("pymerkle")

SIZES = sorted({*range(70), *random.Random(7).sample(range(70, 400), 25)})


def _trees() -> list[tuple[list[bytes], Any]]:
    built = []
    for n in SIZES:
        data = leaves(n, seed=n)
        tree = pymerkle.InmemoryTree(algorithm="sha256")
        for entry in data:
            tree.append_entry(entry)
        built.append((data, tree))
    return built


TREES = _trees()
NONEMPTY_TREES = [(data, tree) for data, tree in TREES if data]


def test_pymerkle_is_configured_with_the_rfc_prefixes() -> None:
    tree = pymerkle.InmemoryTree(algorithm="sha256")
    assert (tree.leaf_prefix, tree.node_prefix) == (b"\x00", b"\x01")
    assert tree.get_root() == EMPTY_ROOT
    tree.append_entry(b"x")
    assert tree.get_leaf(1) == leaf_hash(b"x")


def test_roots_agree_at_every_size() -> None:
    for data, tree in TREES:
        assert tree.get_root() == tree_root(leaf_hashes(data)), len(data)
    # and every prefix of the largest tree
    data, tree = TREES[-1]
    hashes = leaf_hashes(data)
    for size in range(len(data) + 1):
        assert tree.get_root(size) == tree_root(hashes[:size])


def test_inclusion_paths_agree_and_cross_verify() -> None:
    rng = random.Random(3)
    for data, tree in NONEMPTY_TREES:
        n, hashes = len(data), leaf_hashes(data)
        root = tree_root(hashes)
        indices = range(n) if n <= 64 else rng.sample(range(n), 20)
        for index in indices:
            theirs = tree.prove_inclusion(index + 1, n)
            ours = inclusion_proof(index, hashes)
            assert theirs.path[0] == hashes[index]
            assert theirs.path[1:] == ours, (index, n)
            # their proof passes our verifier, and ours (as theirs) passes theirs
            assert verify_inclusion(index, n, hashes[index], theirs.path[1:], root)
            pymerkle.verify_inclusion(hashes[index], root, theirs, index=index + 1, size=n)


def test_consistency_proofs_commit_to_the_same_roots() -> None:
    rng = random.Random(4)
    for data, tree in NONEMPTY_TREES:
        n, hashes = len(data), leaf_hashes(data)
        sizes = range(1, n + 1) if n <= 40 else rng.sample(range(1, n + 1), 15)
        for m in sizes:
            theirs = tree.prove_consistency(m, n)
            old_root, new_root = tree_root(hashes[:m]), tree_root(hashes)
            assert theirs.retrieve_prior_state() == old_root, (m, n)
            assert theirs.compute_root() == new_root, (m, n)
            pymerkle.verify_consistency(old_root, new_root, theirs, prior_size=m,
                                        later_size=n)
            assert verify_consistency(m, n, old_root, new_root, consistency_proof(m, hashes))
