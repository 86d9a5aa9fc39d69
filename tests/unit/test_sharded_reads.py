"""Merging shard stores: the rules the e2e test cannot single out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from projections.errors import ProjectionError
from projections.rows import RopaCount, RopaKey, RopaRow
from projections.sharded import ShardedProjectionReads

T1 = datetime(2025, 1, 1, tzinfo=UTC)
T2 = datetime(2025, 6, 1, tzinfo=UTC)


class RopaOnly:
    """A shard store that only knows its records of processing."""

    def __init__(self, rows: list[RopaRow]) -> None:
        self.rows = rows

    def ropa_rows(self) -> list[RopaRow]:
        return self.rows

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} should not be read")


def test_records_of_processing_add_up_across_shards() -> None:
    contact = RopaKey("contact", "category", "name")
    webinar = RopaKey("webinar-event", "category", "name")
    shards: list[Any] = [
        RopaOnly([RopaRow(contact, RopaCount(2, T1, T1))]),
        RopaOnly([RopaRow(contact, RopaCount(3, T2, T2)),
                  RopaRow(webinar, RopaCount(1, T2, T2))]),
    ]
    merged = ShardedProjectionReads(shards, lambda _: 0).ropa_rows()
    assert merged == [RopaRow(contact, RopaCount(5, T1, T2)),
                      RopaRow(webinar, RopaCount(1, T2, T2))]
    # The shards' own counts are not changed by the merge.
    assert shards[0].rows[0].count == RopaCount(2, T1, T1)


def test_one_subject_is_read_from_its_home_shard_only() -> None:
    class Home(RopaOnly):
        def subject_doc(self, subject_id: UUID) -> bytes | None:
            return b"doc"

    subject = uuid4()
    reads = ShardedProjectionReads([RopaOnly([]), Home([])], lambda s: 1)
    assert reads.subject_doc(subject) == b"doc"


def test_paging_all_shards_by_notification_id_is_refused_with_advice() -> None:
    reads = ShardedProjectionReads([RopaOnly([]), RopaOnly([])], lambda _: 0)
    with pytest.raises(ProjectionError, match="name a subject"):
        reads.audit_rows(after=10)
