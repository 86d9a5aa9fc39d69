"""The event store of the ledger's applications: a subject's events read with their keys.

The library's store turns stored events into domain events one by one, so a reload
of a subject whose values lie under keys a cold cache lacks (a new writer's first
act for it; every act on the embedded backend) read one key per query. This store
hands the mapper all of the subject's events at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import EventStore

from ledger.persistence.encrypting_mapper import EncryptingMapper


class KeyBatchingEventStore(EventStore[UUID]):
    mapper: EncryptingMapper

    def get(self, originator_id: UUID, *, gt: int | None = None, lte: int | None = None,
            desc: bool = False, limit: int | None = None,
            ) -> Iterator[DomainEventProtocol[UUID]]:
        stored: Any = self.recorder.select_events(originator_id=originator_id, gt=gt,
                                                  lte=lte, desc=desc, limit=limit)
        return iter(self.mapper.to_domain_events(stored))
