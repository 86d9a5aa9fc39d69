"""The composition root: the one place settings become adapters and an application."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Protocol
from uuid import UUID

from consumers.projector import Progress, catch_up, open_projection_store
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.crypto.key_cache import CachingKeyStore
from ledger.crypto.key_store_sqlite import SQLiteKeyStore
from ledger.crypto.keys import KeyStore
from ledger.crypto.master_key import master_key_from_settings
from ledger.domain.policy import Policy
from ledger.errors import ConfigurationError
from ledger.kafka.admin import check_topics, required_topic_specs
from ledger.kafka.notifications import PartitionNotifications
from ledger.kafka.partitioning import shard_of
from ledger.kafka.recorder import ShardAddress
from ledger.persistence.encrypting_mapper import EncryptingMapper
from ledger.persistence.transcoder import ledger_transcoder
from ledger.policy import load_policy, seed_policy_text
from projections.projector import Projector
from projections.reader import LedgerReader
from projections.sharded import ShardedProjectionReads
from projections.store import ProjectionStore

SYSTEM_ACTOR = "ledger"
KEY_CACHE_MAX_AGE_SECONDS = 30.0


def event_store_env(settings: Settings) -> dict[str, str]:
    if settings.backend == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.event_store_path),
            # Every act is committed before it is acknowledged; losing one is not an option.
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    raise ConfigurationError(
        "with LEDGER_BACKEND=kafka, acts go through the intake topic and `ledger serve`; "
        "this command works on the embedded store (LEDGER_BACKEND=sqlite)"
    )


def kafka_env(settings: Settings, shard: int, *, writer: bool) -> dict[str, str]:
    """The Kafka persistence module's settings for one shard of the ledger topic."""
    env = {
        "PERSISTENCE_MODULE": "ledger.kafka.factory",
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "KAFKA_LEDGER_TOPIC": settings.kafka.ledger_topic,
        "KAFKA_SHARD": str(shard),
    }
    if writer:
        # The id names the shard, not the process: a restarted or duplicate writer of
        # the same shard fences the one before it.
        env["KAFKA_TRANSACTIONAL_ID"] = f"{settings.kafka.ledger_topic}-writer-{shard}"
    return env


def open_shard(settings: Settings, key_store: KeyStore, shard: int, *, writer: bool
               ) -> LedgerApplication:
    return LedgerApplication(load_policy(), env=kafka_env(settings, shard, writer=writer),
                             key_store=key_store)


def open_key_store(settings: Settings) -> KeyStore:
    master = master_key_from_settings(settings)
    if settings.postgres_dsn:
        from ledger.crypto.key_store_postgres import PostgresKeyStore  # noqa: PLC0415 - optional extra

        inner: KeyStore = PostgresKeyStore(settings.postgres_dsn, master)
    else:
        inner = SQLiteKeyStore(settings.key_store_path, master)
    # Bounded in age as well as size: another process (`ledger erase`, the retention
    # enforcer) may shred a key, and a stale cached key must not outlive that for long.
    return CachingKeyStore(inner, max_age=KEY_CACHE_MAX_AGE_SECONDS)


@contextmanager
def open_ledger(settings: Settings) -> Iterator[LedgerApplication]:
    """The application on the configured backend, with the seed policy published."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key_store = open_key_store(settings)
    try:
        app = LedgerApplication(load_policy(), env=event_store_env(settings),
                                key_store=key_store)
        try:
            app.publish_policy(app.policy, seed_policy_text(), SYSTEM_ACTOR,
                               datetime.now(UTC))
            yield app
        finally:
            app.close()
    finally:
        key_store.close()


@dataclass(frozen=True)
class ShardProjection:
    shard: int
    source: PartitionNotifications
    store: ProjectionStore


@dataclass(frozen=True)
class KafkaProjections:
    """Every shard's projection store and the seeking reader of its partition."""

    shards: list[ShardProjection]
    projector: Projector
    mapper: EncryptingMapper
    policy: Policy
    key_store: KeyStore


@contextmanager
def open_kafka_projections(settings: Settings) -> Iterator[KafkaProjections]:
    """What projecting a Kafka ledger needs, per shard; the topics are checked first."""
    check_topics(settings.kafka.bootstrap_servers, required_topic_specs(settings.kafka))
    policy = load_policy()
    with ExitStack() as stack:
        key_store = open_key_store(settings)
        stack.callback(key_store.close)
        mapper = EncryptingMapper(transcoder=ledger_transcoder(), key_store=key_store)
        shards = []
        for shard in range(settings.kafka.partitions):
            source = PartitionNotifications(
                ShardAddress(settings.kafka.bootstrap_servers, settings.kafka.ledger_topic,
                             shard))
            stack.callback(source.close)
            store = open_projection_store(settings, shard)
            stack.callback(store.close)
            shards.append(ShardProjection(shard, source, store))
        yield KafkaProjections(shards, Projector(mapper.to_sealed_event, policy), mapper,
                               policy, key_store)


@contextmanager
def open_kafka_reading(
    settings: Settings, progress: Progress | None = None,
) -> Iterator[tuple[SubjectFinder, LedgerReader]]:
    """A reader over every shard's projections, each caught up with its partition.

    ``ledger serve`` keeps the projections current; catching up here as well means a
    read never misses what was committed since its last batch (or while it was down).
    Each shard is read from its projections' position on, not rebuilt: a read costs
    what the projections lag behind, whatever the length of the log.
    """
    with open_kafka_projections(settings) as parts:
        for part in parts.shards:
            catch_up(part.source, parts.projector, part.store, progress=progress)
        reads = ShardedProjectionReads([part.store for part in parts.shards],
                                       partial(_shard_of, settings.kafka.partitions))
        yield (KeyStoreFinder(parts.key_store),
               LedgerReader(reads, parts.policy, parts.mapper.open_value))


class SubjectFinder(Protocol):
    """What finds a subject by email or phone: the application, or the key store."""

    def find_subject(self, kind: str, value: str) -> UUID | None: ...


class KeyStoreFinder:
    """Finds subjects by email or phone through the key store's keyed index alone."""

    def __init__(self, key_store: KeyStore) -> None:
        self.key_store = key_store

    def find_subject(self, kind: str, value: str) -> UUID | None:
        return self.key_store.lookup_identity(kind, value)


def _shard_of(partitions: int, subject_id: UUID) -> int:
    return shard_of(subject_id, partitions)
