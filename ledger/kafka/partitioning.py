"""Which shard holds a subject: the default partitioner's choice for its key.

Upstream producers key acts by subject id and kafka-python's default partitioner
(murmur2, like the Java client's) places them; the intake writer refuses an act that
arrived elsewhere, and readers use the same function to find a subject's projections.
"""

from __future__ import annotations

from uuid import UUID

from kafka.partitioner.default import murmur2


def subject_key(subject_id: UUID) -> bytes:
    return str(subject_id).encode()


def shard_of(subject_id: UUID, partitions: int) -> int:
    digest: int = murmur2(subject_key(subject_id))
    return (digest & 0x7FFFFFFF) % partitions
