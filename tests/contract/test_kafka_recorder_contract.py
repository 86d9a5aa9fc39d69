"""eventsourcing's own recorder contract, run against the Kafka recorder on a real broker.

Each test gets a fresh single-partition topic. Only what assumes notification ids
1, 2, 3 is overridden: on Kafka the id is offset + 1, and each transaction's commit
marker takes an offset, so ids rise with gaps. The contract runs twice: with the
writer's events in memory, and in a shard index (``ledger.kafka.shard_index``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
)

from ledger.kafka.admin import TopicSpec, ensure_topics
from ledger.kafka.recorder import (
    KafkaAggregateRecorder,
    KafkaApplicationRecorder,
    ShardAddress,
)
from ledger.kafka.shard_index_sqlite import SQLiteShardIndex

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


class KafkaRecorderFixture:
    bootstrap: str
    recorders: list[KafkaApplicationRecorder]

    @pytest.fixture(autouse=True)
    def _broker(self, kafka_bootstrap: str) -> Iterator[None]:
        self.bootstrap = kafka_bootstrap
        self.recorders = []
        yield
        for recorder in self.recorders:
            recorder.close()

    recorder_class: type[KafkaApplicationRecorder] = KafkaApplicationRecorder

    def create_recorder(self) -> KafkaApplicationRecorder:
        topic = f"contract-{uuid.uuid4().hex}"
        ensure_topics(self.bootstrap, [TopicSpec(topic, partitions=1, replication_factor=1)])
        recorder = self.open_recorder(
            ShardAddress(self.bootstrap, topic, 0, transactional_id=f"{topic}-writer"))
        self.recorders.append(recorder)
        return recorder

    def open_recorder(self, address: ShardAddress) -> KafkaApplicationRecorder:
        return self.recorder_class(address)


class InShardIndex(KafkaRecorderFixture):
    """The writer's events in a SQLite shard index instead of memory."""

    @pytest.fixture(autouse=True)
    def _index_dir(self, tmp_path: Path) -> None:
        self.index_dir = tmp_path

    def open_recorder(self, address: ShardAddress) -> KafkaApplicationRecorder:
        index = SQLiteShardIndex(self.index_dir / f"{address.topic}.sqlite", address.topic,
                                 address.partition)
        return self.recorder_class(address, index)


class TestKafkaAggregateRecorder(KafkaRecorderFixture, AggregateRecorderTestCase):
    recorder_class = KafkaAggregateRecorder


class TestKafkaApplicationRecorder(KafkaRecorderFixture, ApplicationRecorderTestCase):
    EXPECT_CONTIGUOUS_NOTIFICATION_IDS = False

    def test_insert_select(self) -> None:
        """The library's test, with ids read as offset + 1 (gaps at commit markers)."""
        recorder = self.create_recorder()
        assert recorder.select_notifications(start=None, limit=3) == []
        assert recorder.max_notification_id() is None
        first, second = uuid.uuid4(), uuid.uuid4()
        events = [StoredEvent(first, 1, "topic1", b"state1"),
                  StoredEvent(first, 2, "topic2", b"state2")]
        id1, id2 = recorder.insert_events(events) or []
        assert (id1, id2) == (1, 2)  # one transaction: consecutive offsets
        [id3] = recorder.insert_events([StoredEvent(second, 1, "topic3", b"state3")]) or []
        assert id3 > id2 + 1, "the first commit marker takes an offset"
        with pytest.raises(IntegrityError):
            recorder.insert_events([StoredEvent(second, 1, "topic3", b"state3")])

        everything = recorder.select_notifications(start=None, limit=10)
        assert [(n.id, n.originator_id, n.topic, n.state) for n in everything] == [
            (id1, first, "topic1", b"state1"), (id2, first, "topic2", b"state2"),
            (id3, second, "topic3", b"state3")]
        assert [n.id for n in recorder.select_notifications(start=id2, limit=10)] == [
            id2, id3]
        assert [n.id for n in recorder.select_notifications(
            start=id2, limit=10, inclusive_of_start=False)] == [id3]
        assert [n.id for n in recorder.select_notifications(start=None, limit=2)] == [
            id1, id2]
        assert [n.id for n in recorder.select_notifications(
            start=None, limit=10, stop=id2)] == [id1, id2]
        assert [n.id for n in recorder.select_notifications(
            start=None, limit=10, topics=["topic1", "topic3"])] == [id1, id3]
        assert recorder.max_notification_id() == id3
        assert [e.originator_version for e in recorder.select_events(first)] == [1, 2]


class TestKafkaAggregateRecorderIndexed(InShardIndex, TestKafkaAggregateRecorder):
    pass


class TestKafkaApplicationRecorderIndexed(InShardIndex, TestKafkaApplicationRecorder):
    pass
