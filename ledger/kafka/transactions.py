"""A transactional producer whose every blocking call has a deadline.

kafka-python's ``commit_transaction``, ``abort_transaction`` and
``send_offsets_to_transaction`` wait for the broker with no timeout. A writer that hangs
there holds its shard forever, so each runs in a worker thread with a deadline; on
expiry the producer is unusable and the caller must close it and start a new one (which
``init_transactions`` then fences cleanly).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kafka import KafkaProducer
from kafka.errors import (
    CommitFailedError,
    FencedInstanceIdError,
    IllegalGenerationError,
    InvalidProducerEpochError,
    KafkaError,
    ProducerFencedError,
    UnknownMemberIdError,
)

from ledger.errors import BrokerError

T = TypeVar("T")


class TransactionTimeout(BrokerError, rule="transaction-timeout"):
    """The broker did not answer a transactional call in time; the producer is spent."""


class WriterFenced(BrokerError, rule="writer-fenced"):
    """Another writer took over this shard. A zombie must stop, never take it back."""


# A newer producer of the shard's transactional.id; or, in group mode, offsets sent for
# a member of an old generation of the intake group, or one no longer in it (KIP-447:
# kafka-python reports those as CommitFailedError).
FENCING_ERRORS = (ProducerFencedError, InvalidProducerEpochError, IllegalGenerationError,
                  UnknownMemberIdError, FencedInstanceIdError, CommitFailedError)


def translate(error: BaseException, what: str) -> BrokerError:
    """A kafka-python error as the ledger's own, naming the call, never the data."""
    if isinstance(error, FENCING_ERRORS):
        return WriterFenced(f"{what}: another writer now owns this shard")
    return BrokerError(f"{what} failed: {type(error).__name__}")


def within(deadline_s: float, what: str, action: Callable[[], T]) -> T:
    """``action()``, or ``TransactionTimeout`` if it has not returned after ``deadline_s``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = action()
        except BaseException as error:  # noqa: BLE001 - handed back to the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=run, name=f"kafka-{what}", daemon=True)
    worker.start()
    worker.join(deadline_s)
    if worker.is_alive():
        raise TransactionTimeout(f"{what} did not finish within {deadline_s:.0f} s")
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, KafkaError):
            raise translate(error, what) from error
        raise error
    return outcome["value"]  # type: ignore[no-any-return]


class GuardedTransactions:
    """Begin, send offsets, commit and abort on one transactional producer, with deadlines."""

    def __init__(self, producer: KafkaProducer, deadline_s: float) -> None:
        self.producer = producer
        self.deadline_s = deadline_s

    def init(self) -> None:
        # Registers the transactional.id with the coordinator and fences any older
        # producer that used it (the zombie of a previous writer of this shard).
        within(self.deadline_s, "init_transactions", self.producer.init_transactions)

    def begin(self) -> None:
        try:
            self.producer.begin_transaction()
        except KafkaError as error:
            raise translate(error, "begin_transaction") from error

    def send_offsets(self, offsets: Mapping[Any, Any], group_metadata: Any) -> None:
        within(self.deadline_s, "send_offsets_to_transaction",
               lambda: self.producer.send_offsets_to_transaction(offsets, group_metadata))

    def commit(self) -> None:
        within(self.deadline_s, "commit_transaction", self.producer.commit_transaction)

    def abort(self) -> None:
        within(self.deadline_s, "abort_transaction", self.producer.abort_transaction)
