"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing and proofs, SHA-256.

Everything here works on *leaf hashes* (``leaf_hash(data)``), not on leaf data: the
log keeps or recomputes leaf hashes, and a DSAR export can recompute one leaf's hash
from its non-secret parts (``ledger.audit.leaves``) without the ciphertext.

- ``tree_root``: the Merkle Tree Hash (MTH) of §2.1.1.
- ``inclusion_proof`` / ``verify_inclusion``: §2.1.3.1 and §2.1.3.2.
- ``consistency_proof`` / ``verify_consistency``: §2.1.4.1 and §2.1.4.2.

Generation is the RFC's recursion over the leaf hashes, costing O(n) hashes per proof
(the sibling subtrees are rehashed); the verifiers are the RFC's iterative algorithms,
O(log n). Proof hashes are listed bottom-up, as the RFC orders them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256() (§2.1.1)


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d): the prefix keeps a leaf from passing as a node."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where the RFC splits."""
    return 1 << ((n - 1).bit_length() - 1)


def tree_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of these leaves (their leaf hashes, in order).

    Folded left to right through a frontier rather than recursed: same result as the
    RFC's definition (the tests compare them), no deep recursion, no list slices.
    """
    return _range_root(leaf_hashes, 0, len(leaf_hashes))


def _range_root(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    if start == end:
        return EMPTY_ROOT
    stack: list[bytes] = []
    for count, index in enumerate(range(start, end)):
        merged, carry = leaf_hashes[index], count
        while carry & 1:  # each trailing 1 bit of the count closes a full subtree
            merged = node_hash(stack.pop(), merged)
            carry >>= 1
        stack.append(merged)
    root = stack.pop()
    while stack:
        root = node_hash(stack.pop(), root)
    return root


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of §2.1.3.1 for leaf ``index`` in a tree of ``len(leaf_hashes)``."""
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    path: list[bytes] = []
    _path(index, leaf_hashes, 0, size, path)
    return path


def _path(index: int, hashes: Sequence[bytes], start: int, end: int,
          out: list[bytes]) -> None:
    # PATH(0, {d0}) = {}; otherwise recurse into the half holding the leaf and append
    # the other half's root after the deeper entries (so the list runs bottom-up).
    if end - start <= 1:
        return
    k = split_point(end - start)
    if index < k:
        _path(index, hashes, start, start + k, out)
        out.append(_range_root(hashes, start + k, end))
    else:
        _path(index - k, hashes, start + k, end, out)
        out.append(_range_root(hashes, start, start + k))


def root_from_inclusion_proof(index: int, size: int, leaf: bytes,
                              proof: Sequence[bytes]) -> bytes | None:
    """The root the proof leads to (§2.1.3.2 steps 1-4), or None if it is malformed."""
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in proof):
        return None
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return None  # a proof longer than the tree is deep
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _rise_past_lone_nodes(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None  # sn != 0: the proof is too short


def _rise_past_lone_nodes(fn: int, sn: int) -> tuple[int, int]:
    """RFC 9162's proof walk: a rightmost node without a sibling rises a level as is."""
    while not fn & 1 and fn != 0:
        fn >>= 1
        sn >>= 1
    return fn, sn


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """§2.1.3.2: does ``proof`` show leaf hash ``leaf`` at ``index`` under ``root``?"""
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    return computed is not None and hmac.compare_digest(computed, root)


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of §2.1.4.1: the tree of ``old_size`` leaves is a prefix of this one.

    Empty when ``old_size`` is 0 or the whole tree (nothing to prove beyond the roots).
    """
    size = len(leaf_hashes)
    if not 0 <= old_size <= size:
        raise ValueError(f"old size {old_size} is outside 0..{size}")
    proof: list[bytes] = []
    if 0 < old_size < size:
        _subproof(old_size, 0, size, True, hashes=leaf_hashes, out=proof)
    return proof


def _subproof(m: int, start: int, end: int, whole: bool, *, hashes: Sequence[bytes],
              out: list[bytes]) -> None:
    # SUBPROOF(m, D[n], b). ``whole`` is the RFC's b: true while the subtree at hand is
    # the old tree itself, whose root the verifier already has.
    n = end - start
    if m == n:
        if not whole:
            out.append(_range_root(hashes, start, end))
        return
    k = split_point(n)
    if m <= k:
        _subproof(m, start, start + k, whole, hashes=hashes, out=out)
        out.append(_range_root(hashes, start + k, end))
    else:
        _subproof(m - k, start + k, end, False, hashes=hashes, out=out)
        out.append(_range_root(hashes, start, start + k))


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """§2.1.4.2: does ``proof`` show the tree (old_size, old_root) is a prefix of
    (new_size, new_root)? Sizes 0 and equal sizes, which the RFC leaves out, take an
    empty proof (an empty tree is a prefix of every tree; equal trees have equal roots).
    """
    if not 0 <= old_size <= new_size or any(len(c) != HASH_SIZE for c in proof):
        return False
    if old_size == 0:
        return not proof and hmac.compare_digest(old_root, EMPTY_ROOT)
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    if not proof:  # step 1
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: a power of two is a whole left subtree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            fn, sn = _rise_past_lone_nodes(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # step 7
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)
