"""The ``ShardIndex`` contract: every adapter passes the same tests.

``ShardIndexContract`` holds the tests and asks its subclass only how to open the index
of a shard in a storage by name (the same name reopens the same storage). The
PostgreSQL one needs a real server (fixture ``postgres_dsn`` from
tests/postgres_fixtures.py).
"""

from __future__ import annotations

import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Notification

from ledger.kafka.shard_index import ShardIndex, ShardIndexError
from ledger.kafka.shard_index_postgres import PostgresShardIndex
from ledger.kafka.shard_index_sqlite import SQLiteShardIndex
from tests.postgres_fixtures import InFreshSchemas

TOPIC = "acme.events"
CANARY = b"ciphertext-canary-7f3a"


def note(notification_id: int, originator: UUID | str, version: int,
         topic: str = "ledger.domain:Collected", state: bytes = b"sealed") -> Notification:
    return Notification(id=notification_id, originator_id=originator,
                        originator_version=version, topic=topic, state=state)


class ShardIndexContract(ABC):
    _opened: list[ShardIndex]

    @abstractmethod
    def open_index(self, name: str, topic: str, partition: int) -> ShardIndex:
        """Open (creating if needed) the index of one shard in the storage ``name``."""

    @pytest.fixture(autouse=True)
    def _close_after_test(self) -> Iterator[None]:
        self._opened = []
        yield
        for index in self._opened:
            index.close()

    def index(self, name: str = "main", topic: str = TOPIC, partition: int = 0
              ) -> ShardIndex:
        index = self.open_index(name, topic, partition)
        self._opened.append(index)
        return index

    # -- reading back what was added ---------------------------------------------------

    def test_a_new_index_holds_nothing(self) -> None:
        index = self.index()
        assert (index.topic, index.partition) == (TOPIC, 0)
        assert index.indexed_through() == 0
        assert index.last_notification() is None
        assert index.events(uuid4()) == []
        assert index.notifications(1, 10) == []

    def test_events_come_back_as_added_by_subject_and_version(self) -> None:
        index, ann, bob = self.index(), uuid4(), uuid4()
        added = [note(1, ann, 1, state=b"a1"), note(2, bob, 1, state=b"b1"),
                 note(3, ann, 2, topic="t:Used", state=b"a2")]
        index.add(added, through=5)
        assert index.indexed_through() == 5
        assert [(e.originator_id, e.originator_version, e.topic, e.state)
                for e in index.events(ann)] == [(ann, 1, "ledger.domain:Collected", b"a1"),
                                                (ann, 2, "t:Used", b"a2")]
        assert [e.state for e in index.events(str(bob))] == [b"b1"]
        assert index.last_notification() == added[-1]

    def test_many_subjects_events_come_back_in_one_read(self) -> None:
        index, ann, bob, nobody = self.index(), uuid4(), "not-a-uuid", uuid4()
        index.add([note(1, ann, 1, state=b"a1"), note(2, bob, 1, state=b"b1"),
                   note(3, ann, 2, state=b"a2")], through=4)
        found = index.events_of_many([str(ann), bob, str(nobody), str(ann)])
        assert set(found) == {str(ann), bob}  # one without events is not in the answer
        assert found[str(ann)] == index.events(ann)
        assert found[bob] == index.events(bob)
        assert index.events_of_many([]) == {}

    def test_more_subjects_than_one_query_holds(self) -> None:
        index = self.index()
        subjects = [uuid4() for _ in range(1_201)]
        index.add([note(n, s, 1) for n, s in enumerate(subjects, start=1)], through=1_202)
        found = index.events_of_many([str(s) for s in subjects])
        assert len(found) == 1_201
        assert all(found[str(s)][0].originator_id == s for s in subjects)

    def test_notifications_are_read_by_range_limit_and_topic(self) -> None:
        index, ann = self.index(), uuid4()
        added = [note(i, ann, i, topic=f"t{i % 2}") for i in (1, 2, 4, 5, 7)]
        index.add(added, through=8)
        assert index.notifications(1, 10) == added
        assert [n.id for n in index.notifications(3, 10)] == [4, 5, 7]
        assert [n.id for n in index.notifications(1, 2)] == [1, 2]
        assert [n.id for n in index.notifications(2, 10, stop=5)] == [2, 4, 5]
        assert [n.id for n in index.notifications(1, 10, topics=["t1"])] == [1, 5, 7]
        assert [n.id for n in index.notifications(1, 10, topics=["t0", "t1"])] == [
            1, 2, 4, 5, 7]
        assert index.notifications(8, 10) == []

    def test_originator_ids_keep_their_type(self) -> None:
        index, subject = self.index(), uuid4()
        index.add([note(1, subject, 1), note(2, "policy-register", 1)], through=2)
        assert [n.originator_id for n in index.notifications(1, 10)] == [
            subject, "policy-register"]
        assert index.events("policy-register")[0].originator_id == "policy-register"
        assert index.events(subject)[0].originator_id == subject

    def test_an_empty_add_still_moves_indexed_through(self) -> None:
        # A tail of commit markers or aborted records: nothing to add, but read.
        index = self.index()
        index.add([], through=3)
        assert index.indexed_through() == 3

    # -- add: atomic, idempotent, never backwards ------------------------------------------

    def test_add_is_one_transaction(self) -> None:
        index, ann = self.index(), uuid4()
        index.add([note(1, ann, 1)], through=2)
        broken: Any = None  # a state the storage refuses, after a good one
        with pytest.raises(ShardIndexError) as failed:
            index.add([note(3, ann, 2, state=CANARY), note(4, ann, 3, state=broken)],
                      through=5)
        assert CANARY.decode() not in str(failed.value)
        assert index.indexed_through() == 2
        assert [e.originator_version for e in index.events(ann)] == [1]

    def test_add_is_idempotent_and_never_goes_back(self) -> None:
        index, ann = self.index(), uuid4()
        index.add([note(1, ann, 1), note(2, ann, 2)], through=10)
        # A fenced writer's late add of what its successor indexed already.
        index.add([note(2, ann, 2)], through=3)
        assert index.indexed_through() == 10
        assert [n.id for n in index.notifications(1, 10)] == [1, 2]

    def test_add_refuses_notifications_out_of_order_or_past_through(self) -> None:
        index, ann = self.index(), uuid4()
        with pytest.raises(ShardIndexError):
            index.add([note(2, ann, 2), note(1, ann, 1)], through=5)
        with pytest.raises(ShardIndexError):
            index.add([note(6, ann, 1)], through=5)
        assert index.indexed_through() == 0

    # -- storage ----------------------------------------------------------------------------

    def test_the_index_is_durable_across_reopening(self) -> None:
        first, ann = self.index(), uuid4()
        first.add([note(1, ann, 1)], through=4)
        first.close()
        again = self.index()
        assert again.indexed_through() == 4
        assert [e.originator_version for e in again.events(ann)] == [1]

    def test_another_topics_index_shows_nothing_of_this_one(self) -> None:
        ours, ann = self.index(), uuid4()
        ours.add([note(1, ann, 1)], through=4)
        theirs = self.index(topic="other.events")
        assert theirs.indexed_through() == 0
        assert theirs.events(ann) == []
        assert theirs.last_notification() is None

    def test_drop_forgets_everything_of_the_shard(self) -> None:
        index, ann = self.index(), uuid4()
        index.add([note(1, ann, 1), note(2, ann, 2)], through=9)
        index.drop()
        assert index.indexed_through() == 0
        assert index.events(ann) == []
        assert index.last_notification() is None
        index.add([note(1, ann, 1)], through=2)  # and it is rebuilt from there
        assert index.indexed_through() == 2

    def test_a_closed_index_raises_the_ledgers_error(self) -> None:
        index = self.index()
        index.close()
        with pytest.raises(ShardIndexError):
            index.indexed_through()

    def test_a_thousand_events_in_one_add(self) -> None:
        index = self.index()
        subjects = [uuid4() for _ in range(250)]
        added = [note(n + 1, subjects[n % 250], n // 250 + 1) for n in range(1000)]
        index.add(added, through=1001)
        assert [e.originator_version for e in index.events(subjects[7])] == [1, 2, 3, 4]
        assert index.last_notification() == added[-1]


class TestSQLiteShardIndex(ShardIndexContract):
    @pytest.fixture(autouse=True)
    def _in_tmp_path(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def open_index(self, name: str, topic: str, partition: int) -> ShardIndex:
        return SQLiteShardIndex(self.path(name), topic, partition)

    def path(self, name: str = "main") -> Path:
        return self.tmp_path / "data" / f"{name}.sqlite"

    def test_the_file_is_private_to_its_owner(self) -> None:
        self.index()
        assert stat.S_IMODE(os.stat(self.path()).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(self.path().parent).st_mode) == 0o700

    def test_a_file_holds_one_shard_and_forgets_another_one_found_in_it(self) -> None:
        # A file copied from another topic's data directory is never trusted.
        first, ann = self.index(), uuid4()
        first.add([note(1, ann, 1)], through=2)
        first.close()
        self.index(topic="other.events").close()
        assert self.index().indexed_through() == 0

    def test_an_unopenable_file_is_the_ledgers_error(self) -> None:
        self.path().parent.mkdir(parents=True)
        self.path().mkdir()  # a directory where the file should be
        with pytest.raises(ShardIndexError, match="cannot open"):
            self.index()


class TestPostgresShardIndex(InFreshSchemas, ShardIndexContract):
    def open_index(self, name: str, topic: str, partition: int) -> ShardIndex:
        return PostgresShardIndex(self.dsn, topic, partition, schema=f"{self.schema}_{name}")

    def test_shards_share_the_schema_apart(self) -> None:
        ann = uuid4()
        zero, one = self.index(partition=0), self.index(partition=1)
        zero.add([note(1, ann, 1)], through=2)
        one.add([note(1, ann, 7)], through=5)
        zero.drop()
        assert (zero.indexed_through(), one.indexed_through()) == (0, 5)
        assert [e.originator_version for e in one.events(ann)] == [7]

    def test_an_unreachable_server_is_the_ledgers_error_without_the_dsn(self) -> None:
        secret = "s3cret-pw"  # noqa: S105 - a made-up password, to be kept out
        with pytest.raises(ShardIndexError) as failed:
            PostgresShardIndex(f"postgresql://ledger:{secret}@127.0.0.1:1/none", TOPIC, 0,
                               connect_timeout=1)
        assert secret not in str(failed.value)
