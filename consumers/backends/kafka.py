"""The Kafka backend: acts go through the intake topic to `ledger serve`, reads come from
per-shard projection stores, each caught up by seeking its partition."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from uuid import UUID

from consumers.projection_runner import Progress, catch_up, rebuild
from consumers.services.ports import Rebuilt
from ledger.config import KafkaSettings
from ledger.crypto.keys import KeyStore
from ledger.domain.policy import Policy
from ledger.intake.acts import IntakeAct
from ledger.kafka.admin import check_topics, required_topic_specs
from ledger.kafka.intake_client import submit_and_wait
from ledger.kafka.notifications import PartitionNotifications
from ledger.kafka.partitioning import shard_of
from ledger.kafka.recorder import ShardAddress
from ledger.outcomes import ActOutcome
from ledger.persistence.encrypting_mapper import EncryptingMapper
from ledger.persistence.transcoder import ledger_transcoder
from projections.projector import Projector
from projections.reader import LedgerReader, LogProofs
from projections.sharded import ShardedProjectionReads
from projections.store import ProjectionStore


@dataclass(frozen=True)
class ShardProjection:
    shard: int
    source: PartitionNotifications
    store: ProjectionStore


class KafkaBackend:
    name = "kafka"

    def __init__(self, kafka: KafkaSettings, key_store: KeyStore, policy: Policy,
                 open_store: Callable[[int], ProjectionStore], *,
                 log_proofs: LogProofs | None = None) -> None:
        self.kafka = kafka
        self._log_proofs = log_proofs
        self.key_store = key_store
        self.policy = policy
        self._open_store = open_store
        self.mapper = EncryptingMapper(transcoder=ledger_transcoder(), key_store=key_store)
        self.projector = Projector(self.mapper.to_sealed_event, policy)

    def submit(self, acts: Iterable[IntakeAct], *, wait_s: float,
               with_events: bool = False) -> Iterator[ActOutcome]:
        # The writer's answer carries the events anyway; ``with_events`` costs nothing.
        yield from submit_and_wait(self.kafka, [act.document for act in acts], wait_s=wait_s)

    def find_subject(self, kind: str, value: str) -> UUID | None:
        return self.key_store.lookup_identity(kind, value)

    @contextmanager
    def reading(self, progress: Progress | None = None) -> Iterator[LedgerReader]:
        """Every shard caught up first, so a read never misses what was committed since
        `ledger serve`'s last batch (or while it was down); each from its projections'
        position on, so a read costs what they lag behind, not the log's length."""
        with self._shards() as shards:
            for part in shards:
                catch_up(part.source, self.projector, part.store, progress=progress)
            reads = ShardedProjectionReads([part.store for part in shards],
                                           partial(_shard_of, self.kafka.partitions))
            yield LedgerReader(reads, self.policy, self.mapper.open_value,
                               log_proofs=self._log_proofs)

    def rebuild(self, *, batch_size: int,
                progress_for: Callable[[int | None], Progress | None]) -> list[Rebuilt]:
        rebuilt = []
        with self._shards() as shards:
            for part in shards:
                report = rebuild(part.source, self.projector, part.store,
                                 batch_size=batch_size, progress=progress_for(part.shard))
                rebuilt.append(Rebuilt(part.shard, report, part.store.subject_count(),
                                       report.elapsed))
        return rebuilt

    @contextmanager
    def _shards(self) -> Iterator[list[ShardProjection]]:
        check_topics(self.kafka.bootstrap_servers, required_topic_specs(self.kafka))
        with ExitStack() as stack:
            shards = []
            for shard in range(self.kafka.partitions):
                source = PartitionNotifications(ShardAddress(
                    self.kafka.bootstrap_servers, self.kafka.ledger_topic, shard))
                stack.callback(source.close)
                store = self._open_store(shard)
                stack.callback(store.close)
                shards.append(ShardProjection(shard, source, store))
            yield shards

    def close(self) -> None:
        """The key store is closed by whoever opened it (the composition root)."""


def _shard_of(partitions: int, subject_id: UUID) -> int:
    return shard_of(subject_id, partitions)
