"""The right edge of a Merkle tree: enough to append leaves and give the root, nothing more.

A tree of n leaves is, by RFC 9162's split rule, a row of perfect subtrees whose sizes
are the 1 bits of n, largest first (n = 13 = 8 + 4 + 1). Their roots are the frontier:
popcount(n) <= log2(n) + 1 hashes. Appending a leaf merges equal-sized subtrees like a
binary carry; the root folds the row right to left. A shard's writer keeps one and
commits it with each batch, so whoever takes the shard over resumes the tree exactly
there without replaying the partition.

Stored form (``to_bytes``), chosen to fit the commit of a batch:

    0x01 (format version) || tree size (uint64, big-endian) || the subtree roots,
    left to right, 32 bytes each

that is 9 + 32 * popcount(n) bytes: 233 bytes at 1,000,000 leaves (popcount 7) and at
most 649 below 2**20; 425 bytes at 1,000,000,000 (popcount 13) and at most 969 below
2**30; never more than 2,057 (64 roots). ``to_text`` is that in base64 (at most 2,744
characters), which fits Kafka's offset-commit metadata (4,096 by default).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from ledger.audit.errors import FrontierInvalid
from ledger.audit.merkle import EMPTY_ROOT, HASH_SIZE, node_hash

FORMAT_VERSION = 1
_HEADER = 9
_MAX_SIZE = (1 << 64) - 1


class Frontier:
    """An append-only Merkle tree that keeps only the roots of its right edge."""

    __slots__ = ("_roots", "_size")

    def __init__(self, size: int = 0, roots: Iterable[bytes] = ()) -> None:
        self._size = size
        self._roots = list(roots)
        if not 0 <= size <= _MAX_SIZE or len(self._roots) != size.bit_count():
            raise FrontierInvalid(f"a tree of {size} leaves has {size.bit_count()} "
                                  f"frontier roots, not {len(self._roots)}")
        if any(len(root) != HASH_SIZE for root in self._roots):
            raise FrontierInvalid("a frontier root is not a 32-byte hash")

    @classmethod
    def of(cls, leaf_hashes: Iterable[bytes]) -> Frontier:
        frontier = cls()
        frontier.extend(leaf_hashes)
        return frontier

    @property
    def size(self) -> int:
        return self._size

    @property
    def roots(self) -> tuple[bytes, ...]:
        """The perfect subtrees' roots, largest (leftmost) first."""
        return tuple(self._roots)

    def append(self, leaf: bytes) -> int:
        """Adds a leaf hash; returns its index (the tree size before it)."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        index = self._size
        merged, carry = leaf, index
        while carry & 1:  # each trailing 1 bit: a subtree of this leaf's size to merge
            merged = node_hash(self._roots.pop(), merged)
            carry >>= 1
        self._roots.append(merged)
        self._size = index + 1
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for leaf in leaf_hashes:
            self.append(leaf)

    def root(self) -> bytes:
        """The Merkle Tree Hash of the leaves appended so far."""
        if not self._roots:
            return EMPTY_ROOT
        root = self._roots[-1]
        for left in reversed(self._roots[:-1]):
            root = node_hash(left, root)
        return root

    def copy(self) -> Frontier:
        return Frontier(self._size, self._roots)

    def to_bytes(self) -> bytes:
        return (bytes([FORMAT_VERSION]) + self._size.to_bytes(8, "big")
                + b"".join(self._roots))

    @classmethod
    def from_bytes(cls, data: bytes) -> Frontier:
        if len(data) < _HEADER or data[0] != FORMAT_VERSION:
            raise FrontierInvalid(
                f"a stored frontier starts with format version {FORMAT_VERSION} and a "
                f"size ({len(data)} bytes given)")
        size = int.from_bytes(data[1:_HEADER], "big")
        body = data[_HEADER:]
        if len(body) != HASH_SIZE * size.bit_count():
            raise FrontierInvalid(f"a stored frontier of tree size {size} holds "
                                  f"{size.bit_count()} hashes, not {len(body)} bytes")
        return cls(size, (body[i:i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)))

    def to_text(self) -> str:
        return base64.b64encode(self.to_bytes()).decode("ascii")

    @classmethod
    def from_text(cls, text: str) -> Frontier:
        try:
            return cls.from_bytes(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            raise FrontierInvalid("a stored frontier is not base64") from None

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Frontier) and self._size == other._size
                and self._roots == other._roots)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Frontier(size={self._size}, root={self.root().hex()[:16]}...)"
