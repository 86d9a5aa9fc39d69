"""Reading a shard from a position on must give exactly what the indexed recorder gives.

The reference is the Kafka recorder (itself held to eventsourcing's recorder
contract). The log has gaps on purpose: commit markers, and a batch that was aborted,
whose records a read_committed reader must never see.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import Notification, StoredEvent

from ledger.kafka.admin import TopicSpec, ensure_topics
from ledger.kafka.notifications import PartitionNotifications
from ledger.kafka.recorder import KafkaApplicationRecorder, ShardAddress

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOPICS = ("app:Created", "app:Updated")


@pytest.fixture(scope="module")
def shard(kafka_bootstrap: str) -> Iterator[tuple[KafkaApplicationRecorder, ShardAddress]]:
    topic = f"notifications-{uuid.uuid4().hex}"
    ensure_topics(kafka_bootstrap, [TopicSpec(topic, partitions=1, replication_factor=1)])
    writer = KafkaApplicationRecorder(
        ShardAddress(kafka_bootstrap, topic, 0, transactional_id=f"{topic}-writer"))
    subjects = [uuid.uuid4() for _ in range(7)]
    for round_no in range(1, 4):
        events = [StoredEvent(s, round_no, TOPICS[round_no > 1], f"{s}-{round_no}".encode())
                  for s in subjects]
        if round_no == 2:
            writer.begin_batch()  # an aborted batch leaves offsets no reader may see
            writer.insert_events(events[:3])
            writer.abort_batch()
        writer.insert_events(events[:4])
        writer.insert_events(events[4:])
    reader = KafkaApplicationRecorder(ShardAddress(kafka_bootstrap, topic, 0))
    yield reader, ShardAddress(kafka_bootstrap, topic, 0)
    reader.close()
    writer.close()


def ids(notifications: list[Notification]) -> list[int]:
    return [n.id for n in notifications]


@pytest.mark.parametrize("query", [
    (None, 1000, None, (), True),
    (1, 5, None, (), True),
    (3, 4, None, (), False),
    (9, 6, 20, (), True),
    (1, 1000, None, ("app:Updated",), True),
    (10**6, 10, None, (), True),
])
def test_a_seeking_read_equals_the_indexed_read(
    shard: tuple[KafkaApplicationRecorder, ShardAddress],
    query: tuple[int | None, int, int | None, tuple[str, ...], bool],
) -> None:
    start, limit, stop, topics, inclusive = query
    indexed, address = shard
    expected = list(indexed.select_notifications(start, limit, stop, topics,
                                                 inclusive_of_start=inclusive))
    seeking = PartitionNotifications(address)
    try:
        found = list(seeking.select_notifications(start, limit, stop, topics,
                                                  inclusive_of_start=inclusive))
    finally:
        seeking.close()
    assert found == expected
    assert start == 10**6 or found, "the case reads something"


def test_paging_through_in_small_batches_reads_every_notification_once(
    shard: tuple[KafkaApplicationRecorder, ShardAddress],
) -> None:
    indexed, address = shard
    everything = list(indexed.select_notifications(None, 1000))
    assert len(everything) == 21  # 3 rounds x 7 subjects; the aborted 3 are not there
    seeking = PartitionNotifications(address)
    try:
        paged: list[Notification] = []
        position = 0
        while page := list(seeking.select_notifications(position + 1, 4)):
            paged += page
            position = page[-1].id
        assert ids(paged) == ids(everything)
        assert (seeking.max_notification_id() or 0) >= everything[-1].id
    finally:
        seeking.close()
