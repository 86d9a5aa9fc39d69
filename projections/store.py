"""The projection store port: rows and a position, written together or not at all.

Adapters: ``projections.sqlite_store`` (the embedded default) and
``projections.postgres_store``, on a shared base (``projections.sql_store``);
``tests/contract/test_projection_store_contract.py`` holds them to the same behaviour.
A store holds no plaintext personal value: subject documents and value rows carry
sealed envelopes, the reader opens them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Protocol
from uuid import UUID

from projections.rows import (
    AuditRow,
    Changes,
    DisclosureRow,
    RequestRow,
    RopaRow,
    ScheduleRow,
    ValueRow,
)

# Bump when the tables change: a store opened with another version is emptied and
# rebuilt from the log (projections are derived data; the log is the record).
# 2: the record of processing counts policy revisions and the processor's controllers.
# 3: scopes per fiscal year and purpose (subject documents of schema 2), transfers in
#    the disclosures and the record, forwarded requests (``requests.forwarded_to``).
STORE_SCHEMA = 3

# Every table, in the order a snapshot lists them.
TABLES = ("subjects", "audit", "value_log", "disclosures", "retention_schedule",
          "requests", "ropa")


class ProjectionTransaction(Protocol):
    """One batch: the position is checked when it begins and written with the rows."""

    def load_docs(self, subject_ids: Collection[UUID]) -> Mapping[UUID, bytes]:
        """The stored documents of those subjects that have one."""

    def write(self, changes: Changes) -> None:
        """Stages every row of ``changes`` and moves the position to its position."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class ProjectionReads(Protocol):
    """What readers need: one store, or several shards' stores read as one."""

    def position(self) -> int:
        """The last notification id projected; 0 before the first."""

    def subject_doc(self, subject_id: UUID) -> bytes | None: ...

    def subject_count(self) -> int: ...

    def audit_rows(
        self, *, subject_id: UUID | None = None, occurred_until: datetime | None = None,
        recorded_until: datetime | None = None, after: int = 0, limit: int | None = None,
    ) -> list[AuditRow]:
        """Acts in log order; for one subject or all (policy publications included)."""

    def value_rows(self, subject_id: UUID) -> list[ValueRow]: ...

    def disclosure_rows(
        self, *, recipient: str | None = None, subject_id: UUID | None = None
    ) -> list[DisclosureRow]:
        """Ordered by recipient, subject, notification id."""

    def schedule_rows(
        self, *, until: datetime | None = None, subject_id: UUID | None = None,
        include_untriggered: bool = True,
    ) -> list[ScheduleRow]:
        """Ordered by due date (untriggered last), subject, scope."""

    def request_rows(
        self, *, open_only: bool = True, subject_id: UUID | None = None
    ) -> list[RequestRow]:
        """Ordered by due date, subject, seq."""

    def ropa_rows(self) -> list[RopaRow]: ...

    def close(self) -> None: ...


class ProjectionStore(ProjectionReads, Protocol):
    def begin(self, expected_position: int) -> ProjectionTransaction:
        """A write transaction; ``PositionMoved`` if the position is no longer
        ``expected_position`` (another projector went first)."""

    def reset(self) -> None:
        """Empties every projection and sets the position to 0, in one transaction."""

    def snapshot(self) -> dict[str, list[tuple[object, ...]]]:
        """Every row of every table, in a canonical order: to compare two stores."""
