"""Leaf data for the audit tree's tests, and its RFC 9162 leaf hashes."""

from __future__ import annotations

import random
from collections.abc import Iterable

from ledger.audit.merkle import leaf_hash


def leaves(n: int, seed: int = 0) -> list[bytes]:
    """``n`` random leaves of 0 to 39 bytes, the same for the same seed."""
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(0, 40)) for _ in range(n)]


def leaf_hashes(data: Iterable[bytes]) -> list[bytes]:
    return [leaf_hash(d) for d in data]
