"""One read view over the projections of several shards.

On Kafka every shard (partition) is projected into a store of its own: a shard's
notification ids are its offsets, so positions and ids mean nothing across shards.
A subject lives on exactly one shard, so what is about one subject is read from its
shard's store alone; registers and listings over everyone are merged here, in the
order one store would give them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from projections.errors import ProjectionError
from projections.rows import (
    AuditRow,
    DisclosureRow,
    RequestRow,
    RopaCount,
    RopaKey,
    RopaRow,
    ScheduleRow,
    ValueRow,
)
from projections.store import ProjectionReads, ProjectionStore

Row = TypeVar("Row")


class ShardedProjectionReads:
    """The read side of ``ProjectionStore`` over ``stores[shard]``."""

    def __init__(self, stores: Sequence[ProjectionStore],
                 shard_of: Callable[[UUID], int]) -> None:
        if not stores:
            raise ValueError("at least one shard store is needed")
        self.stores = list(stores)
        self._shard_of = shard_of

    def _home(self, subject_id: UUID) -> ProjectionStore:
        return self.stores[self._shard_of(subject_id)]

    def _one_or_merged(self, subject_id: UUID | None,
                       read: Callable[[ProjectionStore, UUID | None], list[Row]],
                       key: Callable[[Row], Any]) -> list[Row]:
        """``read`` of the subject's home store, or of every store (``subject_id`` None)
        merged by ``key``, the order each store gives its rows in."""
        if subject_id is not None:
            return read(self._home(subject_id), subject_id)
        return _merge((read(store, None) for store in self.stores), key=key)

    def positions(self) -> list[int]:
        return [store.position() for store in self.stores]

    def position(self) -> int:
        """Events projected over all shards (each shard's position is its own offset)."""
        return sum(self.positions())

    def subject_doc(self, subject_id: UUID) -> bytes | None:
        return self._home(subject_id).subject_doc(subject_id)

    def subject_count(self) -> int:
        return sum(store.subject_count() for store in self.stores)

    def value_rows(self, subject_id: UUID) -> list[ValueRow]:
        return self._home(subject_id).value_rows(subject_id)

    def audit_rows(
        self, *, subject_id: UUID | None = None, occurred_until: datetime | None = None,
        recorded_until: datetime | None = None, after: int = 0, limit: int | None = None,
    ) -> list[AuditRow]:
        if subject_id is None and after:
            raise ProjectionError(
                "paging the whole audit trail by notification id needs one log; on Kafka "
                "each shard has its own ids: name a subject, or use --limit")
        rows = self._one_or_merged(
            subject_id,
            lambda store, subject: store.audit_rows(
                subject_id=subject, occurred_until=occurred_until,
                recorded_until=recorded_until, after=after, limit=limit),
            # No log order spans shards; the order they were recorded in is the next best.
            key=lambda r: (r.recorded_at, r.notification_id))
        return rows[:limit] if limit is not None else rows

    def disclosure_rows(
        self, *, recipient: str | None = None, subject_id: UUID | None = None
    ) -> list[DisclosureRow]:
        return self._one_or_merged(
            subject_id,
            lambda store, subject: store.disclosure_rows(recipient=recipient,
                                                         subject_id=subject),
            key=lambda r: (r.recipient, r.subject_id.bytes, r.notification_id))

    def schedule_rows(
        self, *, until: datetime | None = None, subject_id: UUID | None = None,
        include_untriggered: bool = True,
    ) -> list[ScheduleRow]:
        return self._one_or_merged(
            subject_id,
            lambda store, subject: store.schedule_rows(
                until=until, subject_id=subject, include_untriggered=include_untriggered),
            key=lambda r: (r.due_at is None, r.due_at.timestamp() if r.due_at else 0.0,
                           r.subject_id.bytes, r.scope))

    def request_rows(
        self, *, open_only: bool = True, subject_id: UUID | None = None
    ) -> list[RequestRow]:
        return self._one_or_merged(
            subject_id,
            lambda store, subject: store.request_rows(open_only=open_only, subject_id=subject),
            key=lambda r: (r.due_at, r.subject_id.bytes, r.seq))

    def ropa_rows(self) -> list[RopaRow]:
        totals: dict[RopaKey, RopaCount] = {}
        for store in self.stores:
            for row in store.ropa_rows():
                if row.key in totals:
                    totals[row.key].add(row.count)
                else:
                    totals[row.key] = RopaCount(row.count.acts, row.count.first_at,
                                                row.count.last_at)
        return [RopaRow(key, totals[key]) for key in sorted(totals)]

    def close(self) -> None:
        for store in self.stores:
            store.close()


def _merge(sorted_lists: Iterable[list[Row]], *, key: Callable[[Row], Any]) -> list[Row]:
    return list(heapq.merge(*sorted_lists, key=key))


def _conforms_to_port(reads: ShardedProjectionReads) -> ProjectionReads:
    # Never called: makes mypy prove the facade offers everything a reader uses.
    return reads
