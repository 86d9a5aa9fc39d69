"""The consumer that reads the ledger's partitions (writers, projectors, the audit log).

It reads committed records only (read_committed: a transaction's records are seen once
it commits, aborted ones never), commits no offsets behind its caller's back, and an
unreachable broker comes out as the ledger's ``BrokerError``, never as kafka-python's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from ledger.errors import BrokerError

# Kafka answers a connection's requests in order, so the ListOffsets call with which a
# reader finds the partition's end waits behind the consumer's prefetch, which the
# broker holds this long when there is nothing new. The default 500 ms made every
# catch-up of an idle reader take half a second.
FETCH_MAX_WAIT_MS = 20
# The settings of a reader that goes through a partition to its end: large fetches, and
# no idle wait before it learns where the end is.
PARTITION_READING: dict[str, Any] = {
    "max_partition_fetch_bytes": 8 * 1024 * 1024, "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
}


def read_committed_consumer(
    bootstrap_servers: str, *, client_id: str, cannot: str,
    partitions: Sequence[TopicPartition] = (), group_id: str | None = None,
    **settings: Any,
) -> KafkaConsumer:
    """A consumer assigned ``partitions`` (when given), with kafka-python ``settings``
    besides. A broker that fails it is ``BrokerError("cannot <cannot>: <error type>")``."""
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers, client_id=client_id, group_id=group_id,
            enable_auto_commit=False, isolation_level="read_committed", **settings,
        )
        if partitions:
            consumer.assign(list(partitions))
    except KafkaError as error:
        raise BrokerError(f"cannot {cannot}: {type(error).__name__}") from error
    return consumer
