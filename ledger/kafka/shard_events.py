"""What a shard's recorder knows of the shard's committed events, and where its reading
of the partition resumes.

``InMemoryEvents``: every committed event, read from offset 0 into memory; for readers
(whose projections only ever page through notifications) and a writer given no index.

``IndexedEvents``: a writer's, kept in a ``ShardIndex`` (``ledger.kafka.shard_index``).
The writer reads only the partition's tail past ``indexed_through``, asks the index for
a subject's events when eventsourcing loads the subject (and for its version check),
and keeps the last few thousand subjects' events in an LRU, since the intake writer
loads a subject once per act. The index is a cache and Kafka the truth: before its
first read, ``resume`` compares the index with the partition (``indexed_through`` past
the partition's end, or the last indexed event not the partition's record at that
offset) and drops it to rebuild from offset 0 when they differ.

Events learned from a commit of the writer's own that the index then fails to take are
kept in memory and added with the next ones: the commit on Kafka stands (and carried
the intake offsets), so it must never be reported as failed, and a successor reads them
from the tail anyway.
"""

from __future__ import annotations

import bisect
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from eventsourcing.persistence import Notification, StoredEvent

from ledger.kafka.shard_index import ShardIndex, ShardIndexError

_log = logging.getLogger(__name__)

DEFAULT_CACHED_SUBJECTS = 10_000
_VERIFY_POLL_MS = 200
_VERIFY_ATTEMPTS = 50  # polls for the one record a check reads (a fetch, usually one)


class KnownEvents(Protocol):
    def resume(self, consumer: Any, partition: Any, end: int) -> int:
        """Seeks ``consumer`` to where reading ``partition`` (whose last stable offset is
        ``end``) must go on from; returns how many records finding that out read."""

    def learn(self, notifications: Sequence[Notification], through: int, *,
              committed: bool = False) -> None:
        """Committed notifications read from the partition up to offset ``through``
        (exclusive), or ``committed`` by this writer just now."""

    def events_of(self, key: str) -> Sequence[StoredEvent]:
        """A subject's committed events (not to be changed by the caller)."""

    def prefetch(self, keys: Sequence[str]) -> None:
        """A hint: these subjects' events are about to be asked for (an intake batch)."""

    def select_notifications(self, first: int, limit: int, stop: int | None,
                             topics: Sequence[str]) -> list[Notification]: ...

    def max_notification_id(self) -> int | None: ...

    def close(self) -> None: ...


def stored_event(notification: Notification) -> StoredEvent:
    return StoredEvent(originator_id=notification.originator_id,
                       originator_version=notification.originator_version,
                       topic=notification.topic, state=notification.state)


class InMemoryEvents:
    """Every committed event of the partition, in memory."""

    def __init__(self) -> None:
        self._events: dict[str, list[StoredEvent]] = {}
        self._notifications: list[Notification] = []

    def resume(self, consumer: Any, partition: Any, end: int) -> int:
        consumer.seek_to_beginning(partition)
        return 0

    def learn(self, notifications: Sequence[Notification], through: int, *,
              committed: bool = False) -> None:
        for notification in notifications:
            if self._notifications and notification.id <= self._notifications[-1].id:
                continue  # the writer learned its own commit before the consumer saw it
            self._notifications.append(notification)
            self._events.setdefault(str(notification.originator_id), []).append(
                stored_event(notification))

    def events_of(self, key: str) -> Sequence[StoredEvent]:
        return self._events.get(key, ())

    def prefetch(self, keys: Sequence[str]) -> None:
        pass  # all in memory already

    def select_notifications(self, first: int, limit: int, stop: int | None,
                             topics: Sequence[str]) -> list[Notification]:
        return _page(self._notifications, first, limit, stop, topics)

    def max_notification_id(self) -> int | None:
        return self._notifications[-1].id if self._notifications else None

    def close(self) -> None:
        pass


class IndexedEvents:
    """A writer's committed events in its shard index, the recent subjects' cached."""

    def __init__(self, index: ShardIndex, *,
                 cached_subjects: int = DEFAULT_CACHED_SUBJECTS,
                 record_of: Callable[[Any], Notification]) -> None:
        self.index = index
        self.dropped = ""  # why resume dropped the index ("": it did not)
        self._record_of = record_of
        self._cached_subjects = cached_subjects
        self._cache: OrderedDict[str, list[StoredEvent]] = OrderedDict()
        # Committed by this writer, not yet taken by the index (it failed): by offset.
        self._unindexed: list[Notification] = []
        self._through = 0
        self._max_id: int | None = None

    def resume(self, consumer: Any, partition: Any, end: int) -> int:
        through = self.index.indexed_through()
        last = self.index.last_notification()
        read = 0
        if through > end:
            self.dropped = f"indexed through offset {through}, past the partition's end {end}"
        elif last is not None:
            found, read = _record_at(consumer, partition, last.id - 1, end, self._record_of)
            if found != last:
                self.dropped = (f"its last event (offset {last.id - 1}) is not the "
                                "partition's record there")
        if self.dropped:
            _log.warning("%r dropped, rebuilt from offset 0: %s", self.index, self.dropped)
            self.index.drop()
            through, last = 0, None
        self._through, self._max_id = through, last.id if last is not None else None
        self._cache.clear()
        if through:
            consumer.seek(partition, through)
        else:
            consumer.seek_to_beginning(partition)
        return read

    def learn(self, notifications: Sequence[Notification], through: int, *,
              committed: bool = False) -> None:
        fresh = [n for n in notifications if n.id > self._through]  # offset >= through
        if not fresh and through <= self._through:
            return
        adding = self._unindexed + fresh
        try:
            self.index.add(adding, through)
        except ShardIndexError:
            if not committed:
                raise  # a claim fails before anything is committed: nothing to keep
            _log.warning("%r failed to take a commit; its events wait in memory",
                         self.index, exc_info=True)
            self._unindexed = adding
        else:
            self._unindexed = []
        self._through = max(self._through, through)
        for notification in fresh:
            cached = self._cache.get(str(notification.originator_id))
            if cached is not None:
                cached.append(stored_event(notification))
        if fresh:
            self._max_id = fresh[-1].id

    def events_of(self, key: str) -> Sequence[StoredEvent]:
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        events = self.index.events(key)
        self._remember(key, events)
        return self._cache[key]

    def prefetch(self, keys: Sequence[str]) -> None:
        """Reads the batch's subjects not cached in one query, not one per act: most
        acts of a new subject's batch would each ask the index for nothing."""
        missing = [key for key in dict.fromkeys(keys) if key not in self._cache]
        if not missing:
            return
        found = self.index.events_of_many(missing[-self._cached_subjects:])
        for key in missing[-self._cached_subjects:]:
            self._remember(key, found.get(key, []))

    def _remember(self, key: str, indexed: list[StoredEvent]) -> None:
        """Caches a subject's indexed events, with those of commits the index has not
        taken yet (it failed), the least recently used subject going beyond the bound."""
        indexed += [stored_event(n) for n in self._unindexed if str(n.originator_id) == key]
        self._cache[key] = indexed
        self._cache.move_to_end(key)
        if len(self._cache) > self._cached_subjects:
            self._cache.popitem(last=False)

    def select_notifications(self, first: int, limit: int, stop: int | None,
                             topics: Sequence[str]) -> list[Notification]:
        found = self.index.notifications(first, limit, stop, topics)
        if len(found) < limit and self._unindexed:
            found += _page(self._unindexed, first, limit - len(found), stop, topics)
        return found

    def max_notification_id(self) -> int | None:
        return self._max_id

    def close(self) -> None:
        self.index.close()


def _page(notifications: Sequence[Notification], first: int, limit: int,
          stop: int | None, topics: Sequence[str]) -> list[Notification]:
    """``select_notifications`` on a list in id order."""
    found = []
    for notification in notifications[bisect.bisect_left(notifications, first,
                                                         key=lambda n: n.id):]:
        if stop is not None and notification.id > stop:
            break
        if topics and notification.topic not in topics:
            continue
        found.append(notification)
        if len(found) >= limit:
            break
    return found


def _record_at(consumer: Any, partition: Any, offset: int, end: int,
               record_of: Callable[[Any], Notification]) -> tuple[Notification | None, int]:
    """The committed record at ``offset`` as a notification (None: there is none, e.g.
    the partition starts later now), and how many records reading it took."""
    consumer.seek(partition, offset)
    for _ in range(_VERIFY_ATTEMPTS):
        if consumer.position(partition) >= end:
            break
        records = consumer.poll(timeout_ms=_VERIFY_POLL_MS, max_records=1).get(partition, [])
        if records:
            record = records[0]
            return (record_of(record) if record.offset == offset else None), 1
    return None, 0
