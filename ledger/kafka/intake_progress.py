"""How far the shard writers have got through acts a client sent: the one way to tell a
re-delivery the writer dropped from an act it has not reached yet.

A writer answers every act it takes in with records (its events, or a rejection, or the
act parked) except an exact re-delivery of a recorded act, which it drops: recording it
again would lie about the log, and a rejection it is not. So a client that waits for
answers learns of a re-delivery only by its silence, which is no proof by itself: the
writer may be down or behind. Two facts make the silence one:

1. the writer committed its intake offsets past the act (``INTAKE_GROUP``): the batch
   transaction that consumed it is committed;
2. the client has read every answer partition up to the high watermark it had after (1):
   that transaction's records lie below it, and read_committed reading cannot pass them
   before they are decided.

An act consumed without an answer below that mark was dropped as a re-delivery.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError

from ledger.errors import BrokerError

# The consumer group under which every shard writer commits the intake offsets it
# consumed, in its batch transactions (static shards and `serve --group` alike).
INTAKE_GROUP = "personal-data-ledger-intake"


class WriterProgress:
    """The writers' committed intake offsets and the answer partitions' high watermarks,
    read with one admin client (opened lazily, closed by ``close``)."""

    def __init__(self, bootstrap_servers: str, *, client_id: str = "personal-data-ledger-client",
                 timeout_ms: int = 10_000) -> None:
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._timeout_ms = timeout_ms
        self._admin: Any = None

    def consumed(self, sent: Mapping[str, tuple[TopicPartition, int]]) -> set[str]:
        """The acts (by id) whose intake record, at ``sent[act]``, a writer has consumed
        in a committed transaction; none while the group's coordinator is not ready
        (a new cluster's offsets topic is still being made): the caller asks again."""
        if not sent:
            return set()
        partitions = sorted({tp for tp, _ in sent.values()})
        try:
            committed = self._client().list_group_offsets(
                {INTAKE_GROUP: partitions}).get(INTAKE_GROUP, {})
        except KafkaError as error:
            if error.retriable:
                return set()
            raise BrokerError("cannot read the intake writers' committed offsets: "
                              f"{type(error).__name__}") from error
        done = set()
        for act_id, (tp, offset) in sent.items():
            mark = committed.get(tp)
            if mark is not None and mark.offset is not None and mark.offset > offset:
                done.add(act_id)
        return done

    def high_watermarks(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Each partition's end, open transactions included (read_uncommitted)."""
        wanted = dict.fromkeys(partitions, OffsetSpec.LATEST)
        try:
            ends = self._client().list_partition_offsets(wanted)
        except KafkaError as error:
            raise BrokerError(f"cannot read the ends of {len(wanted)} partition(s): "
                              f"{type(error).__name__}") from error
        return {tp: int(found.offset) for tp, found in ends.items()}

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def _client(self) -> Any:
        if self._admin is None:
            try:
                self._admin = KafkaAdminClient(
                    bootstrap_servers=self._bootstrap, client_id=self._client_id,
                    request_timeout_ms=self._timeout_ms,
                    bootstrap_timeout_ms=self._timeout_ms)
            except KafkaError as error:
                raise BrokerError(f"cannot reach Kafka at {self._bootstrap}: "
                                  f"{type(error).__name__}") from error
        return self._admin
