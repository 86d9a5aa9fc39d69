"""RFC 9162 Merkle hashing and proofs, held against the RFC's own definitions.

The reference functions below are written straight from RFC 9162 §2.1 (recursion on
lists of leaf *data*, slicing as the RFC does), independently of ``ledger.audit.merkle``
(iterative, on leaf hashes, index ranges):

    MTH({}) = SHA-256()
    MTH({d(0)}) = SHA-256(0x00 || d(0))
    MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
      where k is the largest power of two smaller than n (i.e., k < n <= 2k)

    PATH(0, {d(0)}) = {}
    PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])       for m < k
    PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])   for m >= k

    PROOF(m, D[n]) = SUBPROOF(m, D[n], true)
    SUBPROOF(m, D[m], true) = {}
    SUBPROOF(m, D[m], false) = {MTH(D[m])}
    SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])          for m <= k
    SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  for m > k
"""

from __future__ import annotations

import hashlib
import random

import pytest

from ledger.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from tests.unit.merkle_leaves import leaf_hashes, leaves


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(data: list[bytes]) -> bytes:
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + mth(data[:k]) + mth(data[k:])).digest()


def path(m: int, data: list[bytes]) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, data[:k]), mth(data[k:])]
    return [*path(m - k, data[k:]), mth(data[:k])]


def subproof(m: int, data: list[bytes], b: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if b else [mth(data)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, data[:k], b), mth(data[k:])]
    return [*subproof(m - k, data[k:], False), mth(data[:k])]


DATA = leaves(400, seed=9162)
HASHES = leaf_hashes(DATA)


def test_the_reference_recursion_gives_the_known_empty_root() -> None:
    assert mth([]) == EMPTY_ROOT == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def test_roots_match_the_rfc_definition_on_every_size_up_to_300() -> None:
    for n in range(301):
        assert tree_root(HASHES[:n]) == mth(DATA[:n]), n


def test_inclusion_proofs_match_the_rfc_for_every_leaf_of_trees_up_to_64() -> None:
    for n in range(1, 65):
        root = mth(DATA[:n])
        for m in range(n):
            proof = inclusion_proof(m, HASHES[:n])
            assert proof == path(m, DATA[:n]), (m, n)
            assert verify_inclusion(m, n, HASHES[m], proof, root), (m, n)


def test_inclusion_proofs_on_random_leaves_of_trees_up_to_400() -> None:
    rng = random.Random(1)
    for _ in range(300):
        n = rng.randrange(1, 401)
        m = rng.randrange(n)
        proof = inclusion_proof(m, HASHES[:n])
        assert proof == path(m, DATA[:n])
        assert verify_inclusion(m, n, HASHES[m], proof, mth(DATA[:n]))


def test_consistency_proofs_match_the_rfc_for_every_pair_up_to_64() -> None:
    for n in range(65):
        new_root = mth(DATA[:n])
        for m in range(n + 1):
            proof = consistency_proof(m, HASHES[:n])
            expected = subproof(m, DATA[:n], True) if 0 < m < n else []
            assert proof == expected, (m, n)
            assert verify_consistency(m, n, mth(DATA[:m]), new_root, proof), (m, n)


def test_consistency_proofs_on_random_pairs_up_to_400() -> None:
    rng = random.Random(2)
    for _ in range(300):
        n = rng.randrange(1, 401)
        m = rng.randrange(1, n + 1)
        proof = consistency_proof(m, HASHES[:n])
        assert proof == (subproof(m, DATA[:n], True) if m < n else [])
        assert verify_consistency(m, n, mth(DATA[:m]), mth(DATA[:n]), proof)


# Published vectors of the RFC 6962/9162 tree (identical hashing) from
# transparency-dev/merkle (proof/verify_test.go, testonly/constants.go), itself taken
# over from certificate-transparency: a second implementation's answers.
VECTOR_LEAVES = [bytes.fromhex(x) for x in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
VECTOR_ROOTS = [bytes.fromhex(x) for x in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
_H = {
    "96a2": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f08": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "bc1a": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca85": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37e": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "fac5": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "6e34": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "0ebc": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "b086": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
}


def _hashes(*short: str) -> list[bytes]:
    return [bytes.fromhex(_H[s]) for s in short]


def test_published_roots() -> None:
    hashes = leaf_hashes(VECTOR_LEAVES)
    assert [tree_root(hashes[:n]) for n in range(9)] == VECTOR_ROOTS


@pytest.mark.parametrize(("leaf_number", "size", "expected"), [
    (1, 1, []), (1, 8, ["96a2", "5f08", "6b47"]), (6, 8, ["bc1a", "ca85", "d37e"]),
    (3, 3, ["fac5"]), (2, 5, ["6e34", "5f08", "bc1a"]),
])
def test_published_inclusion_proofs(leaf_number: int, size: int, expected: list[str]) -> None:
    hashes = leaf_hashes(VECTOR_LEAVES[:size])
    index = leaf_number - 1  # the vectors count leaves from 1
    assert inclusion_proof(index, hashes) == _hashes(*expected)
    assert verify_inclusion(index, size, hashes[index], _hashes(*expected),
                            VECTOR_ROOTS[size])


@pytest.mark.parametrize(("old", "new", "expected"), [
    (1, 1, []), (1, 8, ["96a2", "5f08", "6b47"]), (6, 8, ["0ebc", "ca85", "d37e"]),
    (2, 5, ["5f08", "bc1a"]), (6, 7, ["0ebc", "b086", "d37e"]),
])
def test_published_consistency_proofs(old: int, new: int, expected: list[str]) -> None:
    hashes = leaf_hashes(VECTOR_LEAVES[:new])
    assert consistency_proof(old, hashes) == _hashes(*expected)
    assert verify_consistency(old, new, VECTOR_ROOTS[old], VECTOR_ROOTS[new],
                              _hashes(*expected))


def _flip(value: bytes, bit: int = 0) -> bytes:
    return bytes([value[0] ^ (1 << bit)]) + value[1:]


def test_an_altered_inclusion_proof_or_claim_never_verifies() -> None:
    """(A proof may also fit a *larger* size with the same root: the RFC's verifier
    trusts the size as given, which is why only a signed checkpoint, binding size and
    root together, supplies them.)"""
    for n in (1, 2, 3, 5, 8, 13, 64, 100):
        root = tree_root(HASHES[:n])
        for m in range(n):
            proof = inclusion_proof(m, HASHES[:n])
            assert not verify_inclusion(m, n, _flip(HASHES[m]), proof, root)
            assert not verify_inclusion(m, n, HASHES[m], proof, _flip(root))
            for i in range(len(proof)):
                altered = [*proof[:i], _flip(proof[i]), *proof[i + 1:]]
                assert not verify_inclusion(m, n, HASHES[m], altered, root)
            assert not verify_inclusion(m, n, HASHES[m], [*proof, HASHES[0]], root)
            if proof:
                assert not verify_inclusion(m, n, HASHES[m], proof[:-1], root)
            if n > 1:  # the same leaf claimed at another index
                other = (m + 1) % n
                assert not verify_inclusion(other, n, HASHES[m], proof, root)
    assert not verify_inclusion(0, 0, HASHES[0], [], EMPTY_ROOT)
    assert not verify_inclusion(3, 3, HASHES[3], [], EMPTY_ROOT)
    assert not verify_inclusion(-1, 3, HASHES[0], [], EMPTY_ROOT)
    assert not verify_inclusion(0, 2, HASHES[0], [b"short"], tree_root(HASHES[:2]))


def test_an_altered_consistency_proof_or_root_never_verifies() -> None:
    for n in range(2, 40):
        new_root = tree_root(HASHES[:n])
        for m in range(1, n):
            old_root = tree_root(HASHES[:m])
            proof = consistency_proof(m, HASHES[:n])
            assert not verify_consistency(m, n, _flip(old_root), new_root, proof)
            assert not verify_consistency(m, n, old_root, _flip(new_root), proof)
            for i in range(len(proof)):
                altered = [*proof[:i], _flip(proof[i], 7), *proof[i + 1:]]
                assert not verify_consistency(m, n, old_root, new_root, altered)
            assert not verify_consistency(m, n, old_root, new_root, proof[:-1])
            assert not verify_consistency(m, n, old_root, new_root, [*proof, HASHES[0]])
            assert not verify_consistency(m, n, old_root, new_root, [])
            assert not verify_consistency(n, m, new_root, old_root, proof)


def test_consistency_at_the_edges() -> None:
    root5 = tree_root(HASHES[:5])
    assert verify_consistency(0, 5, EMPTY_ROOT, root5, [])
    assert not verify_consistency(0, 5, root5, root5, [])  # a size-0 tree has one root
    assert not verify_consistency(0, 5, EMPTY_ROOT, root5, [HASHES[0]])
    assert verify_consistency(5, 5, root5, root5, [])
    assert not verify_consistency(5, 5, root5, _flip(root5), [])
    assert not verify_consistency(5, 5, root5, root5, [root5])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])


def test_a_fork_fails_consistency() -> None:
    """A log rewritten from leaf 10 on cannot prove it extends its size-20 checkpoint."""
    rewritten = HASHES[:10] + leaf_hashes(b"forged %d" % i for i in range(10, 30))
    old_root = tree_root(HASHES[:20])
    forged_proof = consistency_proof(20, rewritten)
    assert not verify_consistency(20, 30, old_root, tree_root(rewritten), forged_proof)
    # positive control: the honest log does extend it
    assert verify_consistency(20, 30, old_root, tree_root(HASHES[:30]),
                              consistency_proof(20, HASHES[:30]))


def test_proof_generation_refuses_indices_outside_the_tree() -> None:
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(3, HASHES[:3])
    with pytest.raises(ValueError, match="outside"):
        consistency_proof(4, HASHES[:3])
