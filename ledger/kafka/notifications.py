"""One shard's notifications from any position on, read without building an index.

A writer needs its shard's whole (subject, version) index (kept in its shard index,
``ledger.kafka.shard_index``); a projector only needs what comes after the position it
committed. This reader seeks straight to that
offset (notification id = offset + 1), so catching projections up costs what they
lag behind, not the length of the log. read_committed: aborted batches and commit
markers are skipped, which is why ids have gaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Notification
from kafka import TopicPartition
from kafka.errors import KafkaError

from ledger.errors import BrokerError
from ledger.kafka.consumers import PARTITION_READING, read_committed_consumer
from ledger.kafka.recorder import (
    POLL_MS,
    ShardAddress,
    notification_from_record,
)


class PartitionNotifications:
    """``select_notifications`` and ``max_notification_id`` of one shard, seeking."""

    def __init__(self, address: ShardAddress) -> None:
        self.address = address
        self._partition = TopicPartition(address.topic, address.partition)
        self._consumer = read_committed_consumer(
            address.bootstrap_servers, client_id=f"{address.client_id}-notifications",
            cannot=self._cannot, partitions=[self._partition], **PARTITION_READING)

    def max_notification_id(self) -> int | None:
        """An upper bound: the last stable offset, the id of the record before it
        (or of a commit marker, which has none)."""
        end = self._end()
        return end or None

    def select_notifications(
        self, start: int | None, limit: int, stop: int | None = None,
        topics: Sequence[str] = (), *, inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        first_id = 1 if start is None else start if inclusive_of_start else start + 1
        offset = max(first_id - 1, 0)
        found: list[Notification] = []
        try:
            end = self._end()
            # Sequential calls continue where the last one stopped, keeping the prefetch.
            if self._consumer.position(self._partition) != offset:
                self._consumer.seek(self._partition, offset)
            while len(found) < limit and self._consumer.position(self._partition) < end:
                polled = self._consumer.poll(timeout_ms=POLL_MS,
                                             max_records=limit - len(found))
                for record in polled.get(self._partition, []):
                    notification = notification_from_record(record)
                    if stop is not None and notification.id > stop:
                        return found
                    if not topics or notification.topic in topics:
                        found.append(notification)
        except KafkaError as error:
            raise self._broker_error(error) from error
        return found

    def close(self) -> None:
        self._consumer.close()

    def _end(self) -> int:
        try:
            end: int = self._consumer.end_offsets([self._partition])[self._partition]
        except KafkaError as error:
            raise self._broker_error(error) from error
        return end

    @property
    def _cannot(self) -> str:
        return f"read shard {self.address.partition} of {self.address.topic}"

    def _broker_error(self, error: Any) -> BrokerError:
        return BrokerError(f"cannot {self._cannot}: {type(error).__name__}")
