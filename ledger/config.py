"""Settings, read once from the environment into one frozen object.

Nothing connects at import time: adapters receive a ``Settings`` from the composition
root (``consumers.cli``) and open their resources when asked to.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Literal

from ledger.errors import ConfigurationError

Backend = Literal["sqlite", "kafka"]

_PREFIX = "LEDGER_"
DEFAULT_DATA_DIR = Path(".ledger")
# Acts wait on the intake topic only until the intake writer has turned them into
# encrypted events, so plaintext there must not live long: seven days by default.
DEFAULT_INTAKE_RETENTION_MS = 7 * 24 * 3600 * 1000
# Recorded acts are cut off the intake topic right after their batch commits (its log
# start moves past them), but their bytes leave the broker's disk only with the segment
# that holds them, which must first be rolled: the intake topic's segments roll this
# often at the most (its `segment.ms`; an idle writer appends a marker to roll its own).
DEFAULT_INTAKE_SEGMENT_MS = 60_000
# `ledger serve --group`: how long the intake group waits for a member that stopped
# sending heartbeats (killed, hung, cut off) before its shards go to the others. Shorter
# is a faster takeover; the broker's group.min.session.timeout.ms (6 s) is the floor.
DEFAULT_GROUP_SESSION_TIMEOUT_MS = 10_000
# How far into the future an act's occurred_at may lie: clocks of upstream systems drift
# a little, but an act dated ahead would let deadlines and retention run early.
DEFAULT_MAX_CLOCK_SKEW_SECONDS = 300
# A skew longer than the accepted range of moments (1970-2200) would mean nothing.
MAX_CLOCK_SKEW_SECONDS = 230 * 366 * 24 * 3600
# The verifiable log: a shard's writer signs a checkpoint of its tree once this many
# events are unsigned, or once the oldest unsigned one has waited this long (and when it
# closes). An export's proofs lead to the latest checkpoint, so the second bounds how
# long a new act waits before an export can prove it.
DEFAULT_CHECKPOINT_EVERY_EVENTS = 10_000
DEFAULT_CHECKPOINT_EVERY_SECONDS = 10


def derived_topic(ledger_topic: str, suffix: str) -> str:
    """The default name of a topic that belongs to one ledger topic: ``ledger.events``
    gives ``ledger.<suffix>``, any other name ``<name>.<suffix>`` (so two ledgers on one
    cluster never share their tree or checkpoints)."""
    return f"{ledger_topic.removesuffix('.events')}.{suffix}"


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = "localhost:9092"
    ledger_topic: str = "ledger.events"
    intake_topic: str = "ledger.intake"
    rejected_topic: str = "ledger.rejected"
    # Acts that failed the same way every time (a poison act), parked by their intake
    # coordinates so the shard moves on; an operator re-drives them from the intake topic.
    parked_topic: str = "ledger.parked"
    partitions: int = 6
    replication_factor: int = 1
    min_insync_replicas: int = 1
    intake_retention_ms: int = DEFAULT_INTAKE_RETENTION_MS
    intake_segment_ms: int = DEFAULT_INTAKE_SEGMENT_MS
    group_session_timeout_ms: int = DEFAULT_GROUP_SESSION_TIMEOUT_MS
    client_id: str = "personal-data-ledger"
    # The verifiable log (ledger.audit): signed checkpoints of each shard's tree, and the
    # tree's frontier committed with each batch (compacted, one record per shard). Empty:
    # named after the ledger topic (``derived_topic``), also after a ``replace``.
    checkpoints_topic_name: str = ""
    tree_topic_name: str = ""
    # The ledger id the key store is bound to (ledger.kafka.binding); empty: named after
    # the ledger topic, like the verifiable log's topics.
    binding_topic_name: str = ""

    @property
    def checkpoints_topic(self) -> str:
        return self.checkpoints_topic_name or derived_topic(self.ledger_topic, "checkpoints")

    @property
    def tree_topic(self) -> str:
        return self.tree_topic_name or derived_topic(self.ledger_topic, "tree")

    @property
    def binding_topic(self) -> str:
        return self.binding_topic_name or derived_topic(self.ledger_topic, "binding")


@dataclass(frozen=True)
class Settings:
    backend: Backend = "sqlite"
    data_dir: Path = DEFAULT_DATA_DIR
    master_key_file: Path | None = None
    # Base64 of 32 bytes; for deployments that inject secrets as environment variables.
    master_key_b64: str | None = field(default=None, repr=False)
    postgres_dsn: str | None = field(default=None, repr=False)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    max_clock_skew: timedelta = timedelta(seconds=DEFAULT_MAX_CLOCK_SKEW_SECONDS)
    # The privacy office's signing key (private: only where office commands run) and the
    # public keys the ledger trusts for acts that destroy data (see office_signing).
    office_key_file: Path | None = None
    office_public_keys_file: Path | None = None
    # The checkpoint signing key of the verifiable log (apart from the master key: it
    # proves what the log held, it opens nothing), from a file (0600) or the environment,
    # and the verifier keys an audit trusts (ledger.audit.signing_keys).
    audit_key_file: Path | None = None
    audit_key_text: str | None = field(default=None, repr=False)
    audit_public_keys_file: Path | None = None
    checkpoint_every_events: int = DEFAULT_CHECKPOINT_EVERY_EVENTS
    checkpoint_every_seconds: int = DEFAULT_CHECKPOINT_EVERY_SECONDS

    @property
    def event_store_path(self) -> Path:
        return self.data_dir / "events.sqlite"

    @property
    def key_store_path(self) -> Path:
        return self.data_dir / "keys.sqlite"

    @property
    def projection_store_path(self) -> Path:
        return self.data_dir / "projections.sqlite"

    def shard_projection_store_path(self, shard: int) -> Path:
        """On Kafka each shard (partition) has its own projections: ids are offsets,
        so each shard's position and notification ids are its own."""
        return self.data_dir / f"projections-shard-{shard}.sqlite"

    def shard_index_path(self, shard: int) -> Path:
        """A Kafka shard's writer index (``ledger.kafka.shard_index``): one file per
        shard, so writers of several shards in one process never share a write lock."""
        return self.data_dir / f"shard-index-{shard}.sqlite"

    @property
    def office_key_path(self) -> Path:
        return self.office_key_file or self.data_dir / "office.key"

    @property
    def office_public_keys_path(self) -> Path:
        return self.office_public_keys_file or self.data_dir / "office-public-keys"

    @property
    def audit_key_path(self) -> Path:
        return self.audit_key_file or self.data_dir / "audit.key"

    @property
    def audit_public_keys_path(self) -> Path:
        return self.audit_public_keys_file or self.data_dir / "audit-public-keys"

    def with_data_dir(self, data_dir: Path) -> Settings:
        return replace(self, data_dir=data_dir)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``LEDGER_*`` variables; unknown values fail with the variable's name."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(_PREFIX + name)
            return value if value not in (None, "") else None

        backend = get("BACKEND") or "sqlite"
        if backend not in ("sqlite", "kafka"):
            raise ConfigurationError(
                f"{_PREFIX}BACKEND must be 'sqlite' or 'kafka', got {backend!r}"
            )
        kafka_defaults = KafkaSettings()
        kafka = KafkaSettings(
            bootstrap_servers=get("KAFKA_BOOTSTRAP") or kafka_defaults.bootstrap_servers,
            ledger_topic=get("LEDGER_TOPIC") or kafka_defaults.ledger_topic,
            intake_topic=get("INTAKE_TOPIC") or kafka_defaults.intake_topic,
            rejected_topic=get("REJECTED_TOPIC") or kafka_defaults.rejected_topic,
            parked_topic=get("PARKED_TOPIC") or kafka_defaults.parked_topic,
            partitions=_int(get, "PARTITIONS", kafka_defaults.partitions, minimum=1),
            replication_factor=_int(
                get, "REPLICATION_FACTOR", kafka_defaults.replication_factor, minimum=1
            ),
            min_insync_replicas=_int(
                get, "MIN_INSYNC_REPLICAS", kafka_defaults.min_insync_replicas, minimum=1
            ),
            intake_retention_ms=_int(
                get, "INTAKE_RETENTION_MS", kafka_defaults.intake_retention_ms, minimum=1
            ),
            intake_segment_ms=_int(
                get, "INTAKE_SEGMENT_MS", kafka_defaults.intake_segment_ms, minimum=1000
            ),
            group_session_timeout_ms=_int(
                get, "GROUP_SESSION_TIMEOUT_MS", kafka_defaults.group_session_timeout_ms,
                minimum=1000
            ),
            checkpoints_topic_name=get("CHECKPOINTS_TOPIC") or "",
            tree_topic_name=get("TREE_TOPIC") or "",
            binding_topic_name=get("BINDING_TOPIC") or "",
        )
        master_key_file = get("MASTER_KEY_FILE")
        office_key_file, office_public_keys = get("OFFICE_KEY_FILE"), get("OFFICE_PUBLIC_KEYS")
        audit_key_file, audit_public_keys = get("AUDIT_KEY_FILE"), get("AUDIT_PUBLIC_KEYS")
        return cls(
            backend=backend,  # type: ignore[arg-type]  # narrowed by the check above
            data_dir=Path(get("DATA_DIR") or DEFAULT_DATA_DIR),
            master_key_file=Path(master_key_file) if master_key_file else None,
            master_key_b64=get("MASTER_KEY"),
            postgres_dsn=get("POSTGRES_DSN"),
            kafka=kafka,
            max_clock_skew=timedelta(seconds=_int(
                get, "MAX_CLOCK_SKEW_SECONDS", DEFAULT_MAX_CLOCK_SKEW_SECONDS, minimum=0,
                maximum=MAX_CLOCK_SKEW_SECONDS)),
            office_key_file=Path(office_key_file) if office_key_file else None,
            office_public_keys_file=Path(office_public_keys) if office_public_keys else None,
            audit_key_file=Path(audit_key_file) if audit_key_file else None,
            audit_key_text=get("AUDIT_KEY"),
            audit_public_keys_file=Path(audit_public_keys) if audit_public_keys else None,
            checkpoint_every_events=_int(get, "CHECKPOINT_EVERY_EVENTS",
                                         DEFAULT_CHECKPOINT_EVERY_EVENTS, minimum=1),
            checkpoint_every_seconds=_int(get, "CHECKPOINT_EVERY_SECONDS",
                                          DEFAULT_CHECKPOINT_EVERY_SECONDS, minimum=1),
        )


def _int(get: Callable[[str], str | None], name: str, default: int, *, minimum: int,
         maximum: int | None = None) -> int:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{_PREFIX}{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{_PREFIX}{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{_PREFIX}{name} must be at most {maximum}, got {value}")
    return value

