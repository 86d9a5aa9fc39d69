"""Transactions, headers and read_committed, end to end on a real broker with kafka-python.

The ledger's shard writer relies on exactly this: records sent in an aborted
transaction are written to the log but never reach a read_committed consumer, and
headers (event type, policy version...) travel with each record.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka import KafkaProducer

from ledger.kafka.admin import TopicSpec, ensure_topics
from tests.kafka_ledger import read_to_end

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# kafka-python's commit_transaction and abort_transaction return None and wait for the
# broker with no timeout at all; the test must fail, not hang, if the broker never answers.
TRANSACTION_END_TIMEOUT_S = 30.0

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]

COMMITTED_FIRST: list[Record] = [
    (b"subject-a", b"collected email", [("event-type", b"Collected"), ("policy", b"v1")]),
    (b"subject-b", b"consent given", [("event-type", b"ConsentGiven"), ("policy", b"v1")]),
]
ABORTED: list[Record] = [
    (b"subject-a", b"never happened", [("event-type", b"Shared"), ("policy", b"v1")]),
    (b"subject-c", b"never happened", [("event-type", b"Collected"), ("policy", b"v1")]),
]
COMMITTED_AFTER_ABORT: list[Record] = [
    (b"subject-a", b"erased", [("event-type", b"Erased"), ("policy", b"v2")]),
]


def finish_within(timeout_s: float, action: Callable[[], Any]) -> None:
    """Run ``action`` and fail the test if it has not returned after ``timeout_s``."""
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            action()
        except BaseException as error:  # noqa: BLE001  # handed back to the test thread
            outcome["error"] = error

    worker = threading.Thread(target=run, name="transaction-end", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        pytest.fail(f"{getattr(action, '__name__', action)} did not return in {timeout_s} s")
    if "error" in outcome:
        raise outcome["error"]


@pytest.fixture
def topic(kafka_bootstrap: str, topic_name: Callable[[str], str]) -> str:
    # One partition: the log order is then the order the assertions compare against.
    spec = TopicSpec(topic_name("roundtrip"), partitions=1, replication_factor=1)
    ensure_topics(kafka_bootstrap, [spec])
    return spec.name


@pytest.fixture
def producer(kafka_bootstrap: str) -> Iterator[KafkaProducer]:
    client = KafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        transactional_id=f"roundtrip-{uuid.uuid4().hex}",
        max_block_ms=30_000,
    )
    client.init_transactions()
    yield client
    client.close(timeout=10)


def send_all(producer: KafkaProducer, topic: str, records: list[Record]) -> None:
    for key, value, headers in records:
        producer.send(topic, key=key, value=value, headers=headers)
    # Flushed before the transaction ends, so even the aborted records are really in
    # the log: otherwise read_committed would have nothing to hide.
    producer.flush(timeout=30)


def read_all(bootstrap: str, topic: str, isolation_level: str) -> list[Record]:
    """Every record a consumer with ``isolation_level`` sees, up to the end it reports."""
    return [(r.key, r.value, list(r.headers))
            for r in read_to_end(bootstrap, topic, [0], isolation_level=isolation_level,
                                 within_s=30)]


def test_read_committed_sees_committed_records_with_headers_and_never_aborted_ones(
    kafka_bootstrap: str,
    topic: str,
    producer: KafkaProducer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    producer.begin_transaction()
    send_all(producer, topic, COMMITTED_FIRST)
    finish_within(TRANSACTION_END_TIMEOUT_S, producer.commit_transaction)

    producer.begin_transaction()
    send_all(producer, topic, ABORTED)
    finish_within(TRANSACTION_END_TIMEOUT_S, producer.abort_transaction)

    producer.begin_transaction()
    send_all(producer, topic, COMMITTED_AFTER_ABORT)
    finish_within(TRANSACTION_END_TIMEOUT_S, producer.commit_transaction)

    committed = read_all(kafka_bootstrap, topic, "read_committed")
    everything = read_all(kafka_bootstrap, topic, "read_uncommitted")

    assert committed == COMMITTED_FIRST + COMMITTED_AFTER_ABORT
    # The aborted records did reach the log: read_committed filtered them out.
    assert everything == COMMITTED_FIRST + ABORTED + COMMITTED_AFTER_ABORT
    read_back = [
        (key.decode(), dict(headers)["event-type"].decode()) for key, _, headers in committed
    ]
    with capsys.disabled():
        print(
            f"\n[kafka round trip] {kafka_bootstrap} topic {topic}: wrote "
            f"{len(COMMITTED_FIRST) + len(COMMITTED_AFTER_ABORT)} committed and "
            f"{len(ABORTED)} aborted records; read_committed read back {read_back}"
        )
