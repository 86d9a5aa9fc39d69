"""Which shard holds a subject: the Java client's default partitioner's choice for its key.

A subject's home shard is where murmur2 (the Java client's and kafka-python's default
partitioner) puts its id. Upstream producers key acts by subject id; an act another
partitioner placed elsewhere (librdkafka's default CRC32: kcat, confluent-kafka) is
forwarded to its home intake partition by the writer that reads it, and readers use the
same function to find a subject's projections.
"""

from __future__ import annotations

from uuid import UUID

from kafka.partitioner.default import murmur2


def subject_key(subject_id: UUID) -> bytes:
    return str(subject_id).encode()


def shard_of(subject_id: UUID, partitions: int) -> int:
    digest: int = murmur2(subject_key(subject_id))
    return (digest & 0x7FFFFFFF) % partitions
