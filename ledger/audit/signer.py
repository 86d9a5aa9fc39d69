"""When and how a shard's writer signs its tree: the checkpoint cadence and the signer.

A writer signs a checkpoint of its tree once ``every_events`` leaves are unsigned, or
once unsigned leaves have waited ``every_seconds`` since the last checkpoint, and when
it closes (``due(..., closing=True)``: any unsigned leaf). Nothing is signed twice at
one size, and an empty tree is never signed.

Pure: the writer (the embedded recorder, the Kafka shard's recorder) stores what it is
given, in the transaction that commits the leaves the checkpoint covers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ledger.audit.checkpoint import Checkpoint, SignedCheckpoint, sign_checkpoint
from ledger.audit.frontier import Frontier
from ledger.audit.signing_keys import CheckpointSigningKey


@dataclass(frozen=True)
class Cadence:
    every_events: int = 10_000
    every_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.every_events < 1 or self.every_seconds <= 0:
            raise ValueError("a checkpoint cadence is at least one event and a positive time")


@dataclass(frozen=True)
class CheckpointSigner:
    """Signs ``origin``'s tree heads with ``key`` on ``cadence``."""

    key: CheckpointSigningKey
    origin: str
    cadence: Cadence = field(default_factory=Cadence)
    clock: Callable[[], float] = time.time  # seconds since the epoch

    def due(self, size: int, signed_size: int, signed_at: float | None, *,
            closing: bool = False) -> bool:
        """Whether a tree of ``size`` leaves, last signed at ``signed_size`` at
        ``signed_at`` (None: never), is to be signed now."""
        unsigned = size - signed_size
        if size == 0 or unsigned <= 0:
            return False
        if closing or signed_at is None or unsigned >= self.cadence.every_events:
            return True
        return self.clock() - signed_at >= self.cadence.every_seconds

    def sign(self, frontier: Frontier) -> SignedCheckpoint:
        moment = datetime.fromtimestamp(self.clock(), UTC)
        return sign_checkpoint(Checkpoint.at(self.origin, frontier.size, frontier.root(),
                                             moment), self.key)

    def now(self) -> float:
        return self.clock()
