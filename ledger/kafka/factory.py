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
"""

from __future__ import annotations

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
    TrackingRecorder,
)

from ledger.errors import ConfigurationError
from ledger.kafka.recorder import KafkaAggregateRecorder, KafkaApplicationRecorder, ShardAddress


class KafkaFactory(InfrastructureFactory[TrackingRecorder]):
    BOOTSTRAP_SERVERS = "KAFKA_BOOTSTRAP_SERVERS"
    LEDGER_TOPIC = "KAFKA_LEDGER_TOPIC"
    SHARD = "KAFKA_SHARD"
    TRANSACTIONAL_ID = "KAFKA_TRANSACTIONAL_ID"
    TREE_TOPIC = "KAFKA_TREE_TOPIC"
    CHECKPOINTS_TOPIC = "KAFKA_CHECKPOINTS_TOPIC"

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

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        if purpose != "events":
            raise ConfigurationError("the Kafka module records events only (no snapshots)")
        return KafkaAggregateRecorder(self._address())

    def application_recorder(self) -> ApplicationRecorder:
        return KafkaApplicationRecorder(self._address())

    def tracking_recorder(
        self, tracking_recorder_class: type[TrackingRecorder] | None = None
    ) -> TrackingRecorder:
        raise ConfigurationError(
            "projections track their position in their own store, not on Kafka")

    def process_recorder(self) -> ProcessRecorder:
        raise ConfigurationError("the ledger runs no process applications on Kafka")
