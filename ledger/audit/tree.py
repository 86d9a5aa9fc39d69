"""A whole Merkle tree in memory, for making many proofs against one tree size.

``merkle.inclusion_proof`` rehashes the sibling subtrees for each proof (O(n)); a DSAR
export needs a proof per event of the subject, all against one checkpoint, so this
builds every level once (O(n) hashes) and answers each proof in O(log n).

The RFC 9162 tree is the level-by-level tree in which a level's odd last node is
carried up unchanged: every range the RFC's recursion splits off starts at a multiple
of a power of two at least its width and either is a perfect subtree or ends at the
tree's end, so its root is one stored node. Levels are packed 32-byte hashes (one
``bytes`` per level): 64 MB for 1M leaves, about twice the leaf hashes.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.audit.merkle import EMPTY_ROOT, HASH_SIZE, node_hash, split_point


class MerkleTree:
    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        if any(len(h) != HASH_SIZE for h in leaf_hashes):
            raise ValueError("leaf hashes are 32 bytes")
        self.size = len(leaf_hashes)
        level = b"".join(leaf_hashes)
        self._levels = [level]
        while len(level) > HASH_SIZE:
            count = len(level) // HASH_SIZE
            parents = [node_hash(level[i * HASH_SIZE:(i + 1) * HASH_SIZE],
                                 level[(i + 1) * HASH_SIZE:(i + 2) * HASH_SIZE])
                       for i in range(0, count - 1, 2)]
            if count % 2:  # the odd last node rises as is
                parents.append(level[(count - 1) * HASH_SIZE:])
            level = b"".join(parents)
            self._levels.append(level)

    def _node(self, height: int, index: int) -> bytes:
        return self._levels[height][index * HASH_SIZE:(index + 1) * HASH_SIZE]

    def _range_root(self, start: int, end: int) -> bytes:
        """Root of leaves [start, end), a range the RFC's recursion produces."""
        height = (end - start - 1).bit_length()
        return self._node(height, start >> height)

    def root(self) -> bytes:
        return self._node(len(self._levels) - 1, 0) if self.size else EMPTY_ROOT

    def leaf(self, index: int) -> bytes:
        return self._node(0, index)

    def inclusion_proof(self, index: int) -> list[bytes]:
        """RFC 9162 PATH(index, D[size]): the sibling at each level that has one."""
        if not 0 <= index < self.size:
            raise ValueError(f"leaf index {index} is outside a tree of size {self.size}")
        proof = []
        for height in range(len(self._levels) - 1):
            sibling = index ^ 1
            if sibling * HASH_SIZE < len(self._levels[height]):
                proof.append(self._node(height, sibling))
            index >>= 1
        return proof

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """RFC 9162 PROOF(old_size, D[size]), as ``merkle.consistency_proof`` gives it."""
        if not 0 <= old_size <= self.size:
            raise ValueError(f"old size {old_size} is outside 0..{self.size}")
        if old_size in (0, self.size):
            return []
        proof: list[bytes] = []
        # SUBPROOF's recursion, iterated: each step appends after the deeper entries,
        # so collect top-down and reverse.
        start, end, m, whole = 0, self.size, old_size, True
        while m != end - start:
            k = split_point(end - start)
            if m <= k:
                proof.append(self._range_root(start + k, end))
                end = start + k
            else:
                proof.append(self._range_root(start, start + k))
                start, m, whole = start + k, m - k, False
        if not whole:
            proof.append(self._range_root(start, end))
        proof.reverse()
        return proof
