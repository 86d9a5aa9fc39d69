"""Fast takeover on a real broker: a writer with a shard index reads only the tail.

A writer records acts and closes; the next writer of the shard, given the index, reads
only what lies past it (``records_read``), and the versions it records continue the
shard's, each (subject, version) exactly once on the ledger topic. An index that is
gone, another topic's, ahead of the partition or not matching its records is not
trusted: the writer rebuilds it from offset 0 and still records correctly. A commit
the index failed to take stands, and its events stay visible to the writer.
"""

from __future__ import annotations

import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError, Notification, StoredEvent
from eventsourcing.utils import Environment

from consumers.composition import kafka_env
from ledger.config import KafkaSettings, Settings
from ledger.errors import ConfigurationError
from ledger.kafka.admin import ensure_topics, required_topic_specs
from ledger.kafka.audit_log import read_partition
from ledger.kafka.factory import KafkaFactory
from ledger.kafka.recorder import KafkaApplicationRecorder, ShardAddress
from ledger.kafka.shard_index import ShardIndex, ShardIndexError
from ledger.kafka.shard_index_postgres import PostgresShardIndex
from ledger.kafka.shard_index_sqlite import SQLiteShardIndex

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

OpenIndex = Callable[[str], ShardIndex]


class Shard:
    """One ledger topic of one partition, with its tree topics, and its writers."""

    def __init__(self, bootstrap: str, data: Path) -> None:
        tag = uuid.uuid4().hex[:10]
        self.kafka = KafkaSettings(bootstrap_servers=bootstrap, ledger_topic=f"ix-{tag}.events",
                                   partitions=1)
        ensure_topics(bootstrap, required_topic_specs(self.kafka))
        self.address = ShardAddress(bootstrap, self.kafka.ledger_topic, 0,
                                    transactional_id=f"{self.kafka.ledger_topic}-writer-0",
                                    tree_topic=self.kafka.tree_topic,
                                    checkpoints_topic=self.kafka.checkpoints_topic)
        self.index_path = data / f"{tag}-index.sqlite"

    def writer(self, index: ShardIndex | None) -> KafkaApplicationRecorder:
        recorder = KafkaApplicationRecorder(self.address, index)
        recorder.claim()
        return recorder

    def sqlite_index(self, path: Path | None = None) -> SQLiteShardIndex:
        return SQLiteShardIndex(path or self.index_path, self.address.topic, 0)

    def records(self) -> list[Any]:
        return list(read_partition(self.address.bootstrap_servers, self.address.topic, 0))


@pytest.fixture
def shard(kafka_bootstrap: str, tmp_path: Path) -> Shard:
    return Shard(kafka_bootstrap, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def open_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenIndex]:
    """Each adapter: SQLite in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield lambda topic: SQLiteShardIndex(tmp_path / "takeover-index.sqlite", topic, 0)
        return
    dsn = request.getfixturevalue("postgres_dsn")
    schema = request.getfixturevalue("postgres_schema")
    yield lambda topic: PostgresShardIndex(dsn, topic, 0, schema=schema)


def acts(subjects: Sequence[UUID], version: int) -> list[StoredEvent]:
    return [StoredEvent(originator_id=s, originator_version=version, topic="t:Act",
                        state=f"sealed-{s}-{version}".encode()) for s in subjects]


def record_versions(recorder: KafkaApplicationRecorder, subjects: Sequence[UUID],
                    versions: range) -> None:
    for version in versions:  # a transaction per version: commit markers in between
        recorder.insert_events(acts(subjects, version))


def assert_each_version_once(shard: Shard, subjects: Sequence[UUID], last: int) -> None:
    on_topic = [(r.key.decode(), dict(r.headers)["originator-version"]) for r in shard.records()]
    assert max(Counter(on_topic).values()) == 1, "a (subject, version) twice"
    for subject in subjects:
        versions = [int(v) for key, v in on_topic if key == str(subject)]
        assert versions == list(range(1, last + 1))


def test_a_takeover_reads_only_the_tail_and_versions_go_on(
        shard: Shard, open_index: OpenIndex) -> None:
    subjects = [uuid.uuid4() for _ in range(5)]
    first = shard.writer(open_index(shard.address.topic))
    assert first.records_read == 0  # a new shard: nothing to read
    record_versions(first, subjects, range(1, 5))
    first.close()

    second = shard.writer(open_index(shard.address.topic))
    try:
        # The check of the last indexed record; the commit markers after it yield none.
        assert second.records_read == 1
        assert [e.originator_version for e in second.select_events(subjects[0])] == [
            1, 2, 3, 4]
        with pytest.raises(IntegrityError):
            second.insert_events(acts(subjects[:1], 4))
        record_versions(second, subjects, range(5, 7))
        assert second.max_notification_id() == shard.records()[-1].offset + 1
        page = second.select_notifications(None, 100, topics=["t:Act"])
        assert [(n.originator_id, n.originator_version) for n in page[-5:]] == [
            (s, 6) for s in subjects]
    finally:
        second.close()
    assert_each_version_once(shard, subjects, 6)

    # Without an index a writer reads the whole partition, as before.
    whole = shard.writer(None)
    try:
        assert whole.records_read == len(shard.records()) == 30
    finally:
        whole.close()


def test_a_deleted_index_is_rebuilt_from_offset_zero(shard: Shard) -> None:
    subjects = [uuid.uuid4() for _ in range(3)]
    first = shard.writer(shard.sqlite_index())
    record_versions(first, subjects, range(1, 4))
    first.close()
    for path in shard.index_path.parent.glob(shard.index_path.name + "*"):
        path.unlink()

    second = shard.writer(shard.sqlite_index())
    try:
        assert second.records_read == 9
        record_versions(second, subjects, range(4, 5))
    finally:
        second.close()
    third = shard.writer(shard.sqlite_index())  # rebuilt: a takeover is fast again
    try:
        assert third.records_read == 1
    finally:
        third.close()
    assert_each_version_once(shard, subjects, 4)


def test_another_topics_index_is_not_trusted(shard: Shard, kafka_bootstrap: str,
                                             tmp_path: Path) -> None:
    other = Shard(kafka_bootstrap, tmp_path)
    theirs = [uuid.uuid4() for _ in range(4)]
    writer = other.writer(other.sqlite_index())
    record_versions(writer, theirs, range(1, 3))
    writer.close()
    ours = [uuid.uuid4() for _ in range(2)]
    writer = shard.writer(shard.sqlite_index())
    record_versions(writer, ours, range(1, 4))
    writer.close()

    copied = tmp_path / "copied-index.sqlite"
    shutil.copy(other.index_path, copied)  # the other topic's, at our writer's place
    taker = shard.writer(shard.sqlite_index(copied))
    try:
        assert taker.records_read == 6  # all of ours, from offset 0
        assert taker.select_events(theirs[0]) == []
        record_versions(taker, ours, range(4, 5))
    finally:
        taker.close()
    assert_each_version_once(shard, ours, 4)


@pytest.mark.parametrize("tamper", ["ahead", "other-records"])
def test_an_index_that_does_not_match_the_partition_is_rebuilt(
        shard: Shard, tamper: str) -> None:
    subjects = [uuid.uuid4() for _ in range(2)]
    first = shard.writer(shard.sqlite_index())
    record_versions(first, subjects, range(1, 3))
    first.close()

    index = shard.sqlite_index()
    if tamper == "ahead":  # e.g. the topic deleted and made again, shorter
        index.add([], through=10**9)
    else:  # the same offsets, other records: a topic of the same name made again
        last = index.last_notification()
        assert last is not None
        index.drop()
        index.add([Notification(id=last.id, originator_id=last.originator_id,
                                originator_version=last.originator_version,
                                topic=last.topic, state=b"not what Kafka holds")],
                  through=last.id)
    index.close()

    taker = shard.writer(shard.sqlite_index())
    try:
        assert taker.records_read >= 4  # everything again
        assert [e.state for e in taker.select_events(subjects[1])] == [
            f"sealed-{subjects[1]}-{v}".encode() for v in (1, 2)]
        record_versions(taker, subjects, range(3, 4))
    finally:
        taker.close()
    assert_each_version_once(shard, subjects, 3)


class FailingOnce:
    """An index whose next ``add`` fails (a full disk, a lost connection)."""

    def __init__(self, inner: ShardIndex) -> None:
        self.inner = inner
        self.fail_next = False

    def add(self, notifications: Sequence[Notification], through: int) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ShardIndexError("simulated failure")
        self.inner.add(notifications, through)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_commit_the_index_failed_to_take_stands(shard: Shard) -> None:
    subjects = [uuid.uuid4() for _ in range(2)]
    index = FailingOnce(shard.sqlite_index())
    writer = KafkaApplicationRecorder(shard.address, index)  # type: ignore[arg-type]
    writer.claim()
    record_versions(writer, subjects, range(1, 2))
    index.fail_next = True
    ids = writer.insert_events(acts(subjects, 2))  # committed on Kafka: no error
    assert ids
    assert [e.originator_version for e in writer.select_events(subjects[0])] == [1, 2]
    with pytest.raises(IntegrityError):
        writer.insert_events(acts(subjects[:1], 2))
    assert [n.id for n in writer.select_notifications(ids[0], 10)] == ids
    writer.close()  # its version 2 never reached the index

    taker = shard.writer(shard.sqlite_index())
    try:
        assert taker.records_read == 3  # the check, and the tail the index missed
        record_versions(taker, subjects, range(3, 4))
    finally:
        taker.close()
    assert_each_version_once(shard, subjects, 3)


def test_the_composition_root_gives_every_writer_an_index(tmp_path: Path) -> None:
    settings = Settings(backend="kafka", data_dir=tmp_path)
    writer = kafka_env(settings, 3, writer=True)
    assert writer["KAFKA_SHARD_INDEX_PATH"] == str(tmp_path / "shard-index-3.sqlite")
    assert "KAFKA_SHARD_INDEX_PATH" not in kafka_env(settings, 3, writer=False)
    shared = kafka_env(Settings(backend="kafka", data_dir=tmp_path,
                                postgres_dsn="postgresql://db/ledger"), 3, writer=True)
    assert shared["KAFKA_SHARD_INDEX_DSN"] == "postgresql://db/ledger"
    assert "KAFKA_SHARD_INDEX_PATH" not in shared


def test_the_persistence_module_opens_the_writers_index_only(shard: Shard) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": shard.address.bootstrap_servers,
           "KAFKA_LEDGER_TOPIC": shard.address.topic,
           "KAFKA_SHARD_INDEX_PATH": str(shard.index_path)}
    reader = KafkaFactory(Environment(env=env)).application_recorder()
    assert isinstance(reader, KafkaApplicationRecorder)
    reader.close()
    assert not shard.index_path.exists()  # a reader pages through notifications only
    writer = KafkaFactory(Environment(env={
        **env, "KAFKA_TRANSACTIONAL_ID": shard.address.transactional_id or ""})
    ).application_recorder()
    assert isinstance(writer, KafkaApplicationRecorder)
    try:
        writer.insert_events(acts([uuid.uuid4()], 1))  # claims the shard on first use
        assert writer.records_read == 0
    finally:
        writer.close()
    assert SQLiteShardIndex(shard.index_path, shard.address.topic, 0).indexed_through() > 0
    with pytest.raises(ConfigurationError, match="not both"):
        KafkaFactory(Environment(env={**env, "KAFKA_TRANSACTIONAL_ID": "w",
                                      "KAFKA_SHARD_INDEX_DSN": "postgresql://db/x"})
                     ).application_recorder()
