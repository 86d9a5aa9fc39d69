"""The eventsourcing persistence module for Kafka: ``PERSISTENCE_MODULE=ledger.kafka.factory``.

Like ``eventsourcing.sqlite``, it holds exactly one infrastructure factory, configured
from the application's environment:

- ``KAFKA_BOOTSTRAP_SERVERS``: the brokers;
- ``KAFKA_LEDGER_TOPIC``: the ledger topic (created by ``ledger topics ensure``);
- ``KAFKA_SHARD``: the partition this application writes and reads (default 0);
- ``KAFKA_TRANSACTIONAL_ID``: this shard's writer id; absent for a read-only reader;
- ``KAFKA_TREE_TOPIC``, ``KAFKA_CHECKPOINTS_TOPIC``: where the writer keeps the shard's
  verifiable log (``ledger.kafka.audit_log``). The ledger's composition root always
  sets them for a writer; without them the module is the library's bare recorder.
- ``KAFKA_SHARD_INDEX_PATH`` (a SQLite file) or ``KAFKA_SHARD_INDEX_DSN`` (PostgreSQL):
  the writer's shard index (``ledger.kafka.shard_index``), so a writer that takes the
  shard over reads only the partition's tail. The composition root always sets one for
  a writer; a read-only recorder ignores both (it pages through notifications only).
"""

from __future__ import annotations

from pathlib import Path

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
    TrackingRecorder,
)

from ledger.errors import ConfigurationError
from ledger.kafka.recorder import KafkaAggregateRecorder, KafkaApplicationRecorder, ShardAddress
from ledger.kafka.shard_index import ShardIndex
from ledger.kafka.shard_index_sqlite import SQLiteShardIndex


class KafkaFactory(InfrastructureFactory[TrackingRecorder]):
    BOOTSTRAP_SERVERS = "KAFKA_BOOTSTRAP_SERVERS"
    LEDGER_TOPIC = "KAFKA_LEDGER_TOPIC"
    SHARD = "KAFKA_SHARD"
    TRANSACTIONAL_ID = "KAFKA_TRANSACTIONAL_ID"
    TREE_TOPIC = "KAFKA_TREE_TOPIC"
    CHECKPOINTS_TOPIC = "KAFKA_CHECKPOINTS_TOPIC"
    SHARD_INDEX_PATH = "KAFKA_SHARD_INDEX_PATH"
    SHARD_INDEX_DSN = "KAFKA_SHARD_INDEX_DSN"

    def _address(self) -> ShardAddress:
        bootstrap = self.env.get(self.BOOTSTRAP_SERVERS)
        topic = self.env.get(self.LEDGER_TOPIC)
        if not bootstrap or not topic:
            raise ConfigurationError(
                f"the Kafka persistence module needs {self.BOOTSTRAP_SERVERS} and "
                f"{self.LEDGER_TOPIC}")
        shard = self.env.get(self.SHARD, "0")
        if not shard.isdigit():
            raise ConfigurationError(f"{self.SHARD} must be a partition number, got {shard!r}")
        tree_topic = self.env.get(self.TREE_TOPIC) or None
        checkpoints_topic = self.env.get(self.CHECKPOINTS_TOPIC) or None
        if (tree_topic is None) != (checkpoints_topic is None):
            raise ConfigurationError(f"the verifiable log needs both {self.TREE_TOPIC} and "
                                     f"{self.CHECKPOINTS_TOPIC}")
        return ShardAddress(bootstrap, topic, int(shard),
                            transactional_id=self.env.get(self.TRANSACTIONAL_ID) or None,
                            tree_topic=tree_topic, checkpoints_topic=checkpoints_topic)

    def _shard_index(self, address: ShardAddress) -> ShardIndex | None:
        """The writer's shard index, if one is configured (opened: the recorder owns it)."""
        path = self.env.get(self.SHARD_INDEX_PATH) or None
        dsn = self.env.get(self.SHARD_INDEX_DSN) or None
        if address.transactional_id is None or (path is None and dsn is None):
            return None
        if path is not None and dsn is not None:
            raise ConfigurationError(f"a shard index is either {self.SHARD_INDEX_PATH} or "
                                     f"{self.SHARD_INDEX_DSN}, not both")
        if dsn is not None:
            from ledger.kafka.shard_index_postgres import PostgresShardIndex  # noqa: PLC0415 - optional extra

            return PostgresShardIndex(dsn, address.topic, address.partition)
        assert path is not None  # noqa: S101 - one of the two is set
        return SQLiteShardIndex(Path(path), address.topic, address.partition)

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        if purpose != "events":
            raise ConfigurationError("the Kafka module records events only (no snapshots)")
        address = self._address()
        return KafkaAggregateRecorder(address, self._shard_index(address))

    def application_recorder(self) -> ApplicationRecorder:
        address = self._address()
        return KafkaApplicationRecorder(address, self._shard_index(address))

    def tracking_recorder(
        self, tracking_recorder_class: type[TrackingRecorder] | None = None
    ) -> TrackingRecorder:
        raise ConfigurationError(
            "projections track their position in their own store, not on Kafka")

    def process_recorder(self) -> ProcessRecorder:
        raise ConfigurationError("the ledger runs no process applications on Kafka")
