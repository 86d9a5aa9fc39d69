"""What the intake writer does with an error, and how it counts an act's failures.

Only a refusal that would be the same on a retry is rejected; a fault of the
infrastructure never counts against an act; any other failure does, and the counts
live in the committed intake offset's metadata (see tests/integration/
test_intake_faults.py for the writer on a real broker).
"""

from __future__ import annotations

import pytest

from consumers.intake_writer import Failure, FailureCounts
from ledger.errors import (
    BrokerError,
    ConfigurationError,
    ConflictingWrite,
    InvalidAct,
    InvalidValue,
    KeyStoreError,
    PolicyViolation,
    TamperedCiphertext,
    UnknownSubject,
)
from ledger.kafka.transactions import WriterFenced
from ledger.refusals import is_infrastructure_fault, is_refusal

REFUSALS = [
    PolicyViolation("consent-required", "x"),
    PolicyViolation("occurred-in-future", "x"),
    PolicyViolation("office-signature-required", "x"),
    InvalidAct("x"),
    InvalidValue("x", field="values.business-phone"),
    UnknownSubject("x"),
]
INFRASTRUCTURE = [
    KeyStoreError("gone"), BrokerError("gone"), WriterFenced("x"), ConfigurationError("x"),
]
ACT_FAILURES = [ConflictingWrite("x"), TamperedCiphertext("x"), RuntimeError("x"),
                KeyError("x")]


@pytest.mark.parametrize("error", REFUSALS, ids=lambda e: type(e).__name__)
def test_a_verdict_on_the_act_is_a_refusal(error: Exception) -> None:
    assert is_refusal(error)
    assert not is_infrastructure_fault(error)


@pytest.mark.parametrize("error", INFRASTRUCTURE, ids=lambda e: type(e).__name__)
def test_a_fault_of_the_infrastructure_is_neither_refusal_nor_counted(error: Exception) -> None:
    assert not is_refusal(error)
    assert is_infrastructure_fault(error)


@pytest.mark.parametrize("error", ACT_FAILURES, ids=lambda e: type(e).__name__)
def test_any_other_failure_is_counted_against_the_act(error: Exception) -> None:
    assert not is_refusal(error)
    assert not is_infrastructure_fault(error)


def test_the_counts_go_through_the_offset_metadata_unchanged() -> None:
    counts = FailureCounts().counted(7, RuntimeError("jan@example.nl")).counted(
        7, RuntimeError("again")).counted(9, ConflictingWrite("x"))
    metadata = counts.metadata()

    assert FailureCounts.from_metadata(metadata) == counts
    assert counts.of(7) == Failure(7, 2, "internal-error", "RuntimeError")
    assert counts.of(9) == Failure(9, 1, "conflicting-write", "ConflictingWrite")
    assert "jan@example.nl" not in metadata  # the type, never the message


def test_a_commit_keeps_only_the_counts_of_acts_after_it() -> None:
    counts = FailureCounts().counted(3, RuntimeError()).counted(8, RuntimeError())

    assert counts.beyond(4).of(3) is None
    assert counts.beyond(4).of(8) == Failure(8, 1, "internal-error", "RuntimeError")
    assert counts.beyond(9).metadata() == ""


@pytest.mark.parametrize("metadata", [None, "", "not json", "[]", '{"failing": 3}',
                                      '{"failing": [{"offset": "x"}]}'])
def test_metadata_that_is_not_ours_counts_nothing(metadata: str | None) -> None:
    assert FailureCounts.from_metadata(metadata) == FailureCounts()


def test_the_counts_stay_bounded_and_keep_the_acts_closest_to_parking() -> None:
    counts = FailureCounts().counted(0, RuntimeError()).counted(0, RuntimeError())
    for offset in range(1, 3 * FailureCounts.LIMIT):
        counts = counts.counted(offset, RuntimeError())

    assert len(counts.by_offset) == FailureCounts.LIMIT
    assert counts.of(0) == Failure(0, 2, "internal-error", "RuntimeError")
    assert counts.of(3 * FailureCounts.LIMIT - 1) is not None  # the one just counted
    assert len(counts.metadata()) < 4096  # the broker's default offset.metadata.max.bytes
