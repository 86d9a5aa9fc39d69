"""Topic administration: the ledger's topics, declared as specs and created explicitly.

The ledger never relies on broker auto-creation (DESIGN.md, decision 1): an
auto-created or hand-made topic gets the broker's defaults, and a ledger topic with a
finite retention or compaction would silently delete history. ``ensure_topics``
creates what is missing and refuses, with ``TopicConfigurationMismatch``, any existing
topic that contradicts its spec. It never alters an existing topic: changing the
system of record's settings is a decision for an operator, not a side effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaError, for_code

from ledger.config import KafkaSettings
from ledger.errors import BrokerError, ConfigurationError, TopicConfigurationMismatch

# Rejected acts are kept for upstream operators to see why an act was refused and to
# resubmit it. Their personal values are redacted, yet each record still names a
# subject id and what was attempted; storage limitation (GDPR art. 5(1)(e)) says such
# records must not outlive that purpose. Thirty days covers a monthly review cycle.
REJECTED_RETENTION_MS = 30 * 24 * 3600 * 1000
# Parked acts (a poison act the writer set aside after it failed every try) are open
# incidents: an act that was neither recorded nor refused. Each record holds only the
# act's intake coordinates, its act id and the failure's rule and type, never a value, and
# is kept a year so an incident is still on file after the intake topic has let the act
# itself age out (then upstream must send it again).
PARKED_RETENTION_MS = 365 * 24 * 3600 * 1000
# The intake topic's segment size: a busy partition rolls a segment this big before its
# time is up (settings.intake_segment_ms), so recorded plaintext leaves the disk sooner.
INTAKE_SEGMENT_BYTES = 16 * 1024 * 1024

# Not a topic config: the replica count of each partition, compared like one.
REPLICATION_FACTOR = "replication.factor"
PARTITIONS = "partitions"

_UNKNOWN_TOPIC_OR_PARTITION = 3
_TOPIC_ALREADY_EXISTS = 36
_ADMIN_CLIENT_ID = "personal-data-ledger-admin"


@dataclass(frozen=True)
class TopicSpec:
    """What a topic must look like. ``configs`` are Kafka topic configs, as strings."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigurationError("a topic spec needs a name")
        if self.partitions < 1:
            raise ConfigurationError(f"topic {self.name!r}: partitions must be at least 1")
        if self.replication_factor < 1:
            raise ConfigurationError(f"topic {self.name!r}: replication factor must be at least 1")
        # Read-only copy: a spec is shared, and must not be changed behind a caller's back.
        object.__setattr__(self, "configs", MappingProxyType(dict(self.configs)))


@dataclass(frozen=True)
class ObservedTopic:
    """What the broker reports for an existing topic."""

    name: str
    partitions: int
    replication_factor: int
    # None: the broker did not report that config at all.
    configs: Mapping[str, str | None]


@dataclass(frozen=True)
class TopicDifference:
    """One setting of an existing topic that contradicts its spec."""

    topic: str
    setting: str
    expected: str
    actual: str | None

    def describe(self) -> str:
        actual = "not reported by the broker" if self.actual is None else repr(self.actual)
        return f"{self.setting} is {actual}, expected {self.expected!r}"


@dataclass(frozen=True)
class EnsureTopicsReport:
    """Outcome of ``ensure_topics``: every topic named is in exactly one of the tuples."""

    created: tuple[str, ...]
    already_existed: tuple[str, ...]

    def as_dict(self) -> dict[str, list[str]]:
        return {"created": list(self.created), "already_existed": list(self.already_existed)}


# -- the ledger's topics -----------------------------------------------------------------


def ledger_topic_spec(settings: KafkaSettings) -> TopicSpec:
    """The system of record: kept forever, never compacted, keyed by subject id.

    Records are keyed by subject so each subject's history is ordered within one
    partition: the partition count is part of the contract, since changing it would
    send a subject's later events to another partition.
    """
    # An out-of-sync replica taking over would drop acknowledged events.
    return _shard_topic_spec(settings, settings.ledger_topic, retention_ms=-1,
                             extra={"unclean.leader.election.enable": "false"})


def intake_topic_spec(settings: KafkaSettings) -> TopicSpec:
    """Plaintext acts waiting for the intake writer: short, time-bounded retention.

    One intake partition is one shard with one writer, so its partitions match the
    ledger's. Size-based retention stays off so volume never drops unprocessed acts.
    Recorded acts are cut off by their writer (``ledger.kafka.intake_trim``), and their
    bytes leave the disk with their segment, so segments are kept small and young
    (``segment.ms``, ``segment.bytes``); broker time stamps the records
    (``LogAppendTime``), so neither a roll nor the retention waits on an upstream clock.
    """
    return _shard_topic_spec(settings, settings.intake_topic,
                             retention_ms=settings.intake_retention_ms,
                             extra={"segment.ms": str(settings.intake_segment_ms),
                                    "segment.bytes": str(INTAKE_SEGMENT_BYTES),
                                    "message.timestamp.type": "LogAppendTime"})


def rejected_topic_spec(settings: KafkaSettings) -> TopicSpec:
    """Refused acts with their reasons (personal values redacted): see REJECTED_RETENTION_MS."""
    return _shard_topic_spec(settings, settings.rejected_topic,
                             retention_ms=REJECTED_RETENTION_MS)


def parked_topic_spec(settings: KafkaSettings) -> TopicSpec:
    """Poison acts set aside by their intake coordinates: see PARKED_RETENTION_MS."""
    return _shard_topic_spec(settings, settings.parked_topic,
                             retention_ms=PARKED_RETENTION_MS)


def checkpoints_topic_spec(settings: KafkaSettings) -> TopicSpec:
    """Signed checkpoints of each shard's tree (``ledger.kafka.audit_log``): proof of
    what the log held, kept as long as the ledger itself, never compacted."""
    return _shard_topic_spec(settings, settings.checkpoints_topic, retention_ms=-1,
                             extra={"unclean.leader.election.enable": "false"})


def tree_topic_spec(settings: KafkaSettings) -> TopicSpec:
    """Each shard's tree state, committed with every batch: only the latest record per
    shard matters (a taking-over writer reads it), so compacted, never deleted by age."""
    return TopicSpec(
        name=settings.tree_topic,
        partitions=settings.partitions,
        replication_factor=settings.replication_factor,
        configs={
            "cleanup.policy": "compact",
            "min.insync.replicas": str(settings.min_insync_replicas),
            "unclean.leader.election.enable": "false",
        },
    )


def binding_topic_spec(settings: KafkaSettings) -> TopicSpec:
    """The ledger id the key store is bound to (``ledger.kafka.binding``): one partition
    whose first record names the ledger, kept for ever and never compacted (compaction
    keeps a key's last record, and here the first one must win)."""
    return TopicSpec(
        name=settings.binding_topic,
        partitions=1,
        replication_factor=settings.replication_factor,
        configs={
            "cleanup.policy": "delete",
            "retention.ms": "-1",
            "retention.bytes": "-1",
            "min.insync.replicas": str(settings.min_insync_replicas),
            "unclean.leader.election.enable": "false",
        },
    )


def _shard_topic_spec(settings: KafkaSettings, name: str, *, retention_ms: int,
                     extra: Mapping[str, str] | None = None) -> TopicSpec:
    """A topic of one partition per shard whose records are deleted after ``retention_ms``
    (-1: never), never by size, and never compacted; ``extra`` configs add to that."""
    return TopicSpec(
        name=name,
        partitions=settings.partitions,
        replication_factor=settings.replication_factor,
        configs={
            "cleanup.policy": "delete",
            "retention.ms": str(retention_ms),
            "retention.bytes": "-1",
            "min.insync.replicas": str(settings.min_insync_replicas),
            **(extra or {}),
        },
    )


def required_topic_specs(settings: KafkaSettings) -> tuple[TopicSpec, ...]:
    """Every topic the ledger needs: ledger, intake, rejected, parked, the key store's
    binding, and the verifiable log's checkpoints and tree."""
    return (
        ledger_topic_spec(settings),
        intake_topic_spec(settings),
        rejected_topic_spec(settings),
        parked_topic_spec(settings),
        binding_topic_spec(settings),
        checkpoints_topic_spec(settings),
        tree_topic_spec(settings),
    )


# -- comparing --------------------------------------------------------------------------


def find_differences(spec: TopicSpec, observed: ObservedTopic) -> tuple[TopicDifference, ...]:
    """Every setting in which ``observed`` contradicts ``spec``; empty if it conforms."""
    differences = []
    if observed.partitions != spec.partitions:
        differences.append(
            TopicDifference(spec.name, PARTITIONS, str(spec.partitions), str(observed.partitions))
        )
    if observed.replication_factor != spec.replication_factor:
        differences.append(
            TopicDifference(
                spec.name,
                REPLICATION_FACTOR,
                str(spec.replication_factor),
                str(observed.replication_factor),
            )
        )
    for key, expected in spec.configs.items():
        actual = observed.configs.get(key)
        if actual != expected:
            differences.append(TopicDifference(spec.name, key, expected, actual))
    return tuple(differences)


def mismatch_error(differences: Iterable[TopicDifference]) -> TopicConfigurationMismatch:
    """One error naming every contradicting topic and setting."""
    by_topic: dict[str, list[str]] = {}
    for difference in differences:
        by_topic.setdefault(difference.topic, []).append(difference.describe())
    lines = [f"topic {topic!r}: {'; '.join(found)}" for topic, found in by_topic.items()]
    return TopicConfigurationMismatch(
        "existing Kafka topics contradict what the ledger requires, so it refuses to use "
        "them:\n  "
        + "\n  ".join(lines)
        + "\nThe ledger never alters an existing topic. Alter it (kafka-configs.sh --alter) "
        "if it is safe to, or configure new topic names (LEDGER_*_TOPIC)."
    )


# -- talking to the broker -----------------------------------------------------------------


def ensure_topics(bootstrap_servers: str, specs: Iterable[TopicSpec], *,
                  client_id: str = _ADMIN_CLIENT_ID, timeout_s: float = 30.0,
                  ) -> EnsureTopicsReport:
    """Create the missing topics, then check that every topic matches its spec.

    Idempotent: a second call creates nothing, and a topic created concurrently by
    another process counts as already existing. Raises ``TopicConfigurationMismatch``
    if an existing topic contradicts its spec (newly created ones are checked too),
    and ``BrokerError`` if the broker cannot be reached or refuses an operation.
    """
    wanted = _unique_by_name(specs)
    if not wanted:
        return EnsureTopicsReport(created=(), already_existed=())
    created = _reconcile(bootstrap_servers, wanted, client_id, timeout_s, create=True)
    return EnsureTopicsReport(
        created=tuple(created),
        already_existed=tuple(name for name in wanted if name not in created),
    )


def check_topics(bootstrap_servers: str, specs: Iterable[TopicSpec], *,
                 client_id: str = _ADMIN_CLIENT_ID, timeout_s: float = 30.0) -> None:
    """``ensure_topics`` for commands that only read or send: creates nothing.

    A missing topic is a ``ConfigurationError`` that says how to create it; one that
    contradicts its spec (a partition count other than LEDGER_PARTITIONS, say, which
    would send readers to the wrong shard) is a ``TopicConfigurationMismatch``.
    """
    _reconcile(bootstrap_servers, _unique_by_name(specs), client_id, timeout_s, create=False)


def _reconcile(bootstrap_servers: str, wanted: dict[str, TopicSpec], client_id: str,
               timeout_s: float, *, create: bool) -> list[str]:
    """Create the missing topics of ``wanted`` (or refuse them unless ``create``), then
    refuse any that contradicts its spec; returns the names created here."""
    timeout_ms = max(1, int(timeout_s * 1000))
    with _admin(bootstrap_servers, client_id, timeout_ms) as admin:
        missing = _missing_topics(admin, list(wanted))
        if missing and not create:
            raise ConfigurationError(
                f"topic(s) {', '.join(sorted(missing))} do not exist on {bootstrap_servers}: "
                "create them with `ledger topics ensure`, or check the LEDGER_*_TOPIC "
                "settings")
        created = _create_topics(admin, [wanted[name] for name in missing], timeout_ms)
        if created:
            admin.wait_for_topics(created, timeout_ms=timeout_ms)
        observed = _observe_topics(admin, list(wanted.values()))
    _refuse_differences(wanted, observed)
    return created


@contextmanager
def _admin(bootstrap_servers: str, client_id: str, timeout_ms: int) -> Iterator[Any]:
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    except KafkaError as error:
        raise BrokerError(
            f"cannot reach Kafka at {bootstrap_servers} to manage topics: {error}"
        ) from error
    try:
        yield admin
    except KafkaError as error:
        raise BrokerError(f"Kafka refused a topic administration request: {error}") from error
    finally:
        admin.close()


def _refuse_differences(wanted: dict[str, TopicSpec],
                        observed: dict[str, ObservedTopic]) -> None:
    differences = [
        difference
        for spec in wanted.values()
        for difference in find_differences(spec, observed[spec.name])
    ]
    if differences:
        raise mismatch_error(differences)


def _unique_by_name(specs: Iterable[TopicSpec]) -> dict[str, TopicSpec]:
    wanted: dict[str, TopicSpec] = {}
    for spec in specs:
        if spec.name in wanted and wanted[spec.name] != spec:
            raise ConfigurationError(f"topic {spec.name!r} is specified twice, differently")
        wanted[spec.name] = spec
    return wanted


def _missing_topics(admin: Any, names: list[str]) -> list[str]:
    # The admin client's metadata requests never auto-create topics, even on a broker
    # with auto.create.topics.enable=true, so asking about a missing topic is safe.
    missing = []
    for topic in admin.describe_topics(names):
        code = int(topic["error_code"])
        if code == _UNKNOWN_TOPIC_OR_PARTITION:
            missing.append(str(topic["name"]))
        elif code != 0:
            raise BrokerError(_topic_error(str(topic["name"]), code, "describing"))
    return missing


def _create_topics(admin: Any, specs: list[TopicSpec], timeout_ms: int) -> list[str]:
    """Create ``specs``; return the names created here, not by a concurrent client."""
    if not specs:
        return []
    request = {
        spec.name: {
            "num_partitions": spec.partitions,
            "replication_factor": spec.replication_factor,
            "configs": dict(spec.configs),
        }
        for spec in specs
    }
    # Per-topic results instead of raising on the first error: one topic that already
    # exists must not hide whether the others were created.
    response = admin.create_topics(request, timeout_ms=timeout_ms, raise_errors=False)
    created = []
    for result in response["topics"]:
        name, code = str(result["name"]), int(result["error_code"])
        if code == 0:
            created.append(name)
        elif code != _TOPIC_ALREADY_EXISTS:
            detail = result.get("error_message") or ""
            raise BrokerError(_topic_error(name, code, "creating") + f": {detail}")
    return created


def _observe_topics(admin: Any, specs: list[TopicSpec]) -> dict[str, ObservedTopic]:
    names = [spec.name for spec in specs]
    layouts = {}
    for topic in admin.describe_topics(names):
        name, code = str(topic["name"]), int(topic["error_code"])
        if code != 0:
            raise BrokerError(_topic_error(name, code, "describing"))
        partitions = topic["partitions"]
        # The smallest replica set counts: one under-replicated partition is enough.
        replicas = min((len(p["replica_nodes"]) for p in partitions), default=0)
        layouts[name] = (len(partitions), replicas)
    # config_filter="all" returns effective values, whether set on the topic or
    # inherited from the broker: what matters is what the topic will actually do.
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, spec.name, list(spec.configs)) for spec in specs],
        config_filter="all",
    )
    configs_by_topic = described.get("topic", {})
    observed = {}
    for spec in specs:
        if spec.name not in layouts:
            raise BrokerError(f"the broker did not describe topic {spec.name!r}")
        reported = configs_by_topic.get(spec.name, {})
        partitions, replicas = layouts[spec.name]
        observed[spec.name] = ObservedTopic(
            name=spec.name,
            partitions=partitions,
            replication_factor=replicas,
            configs={key: _config_value(reported.get(key)) for key in spec.configs},
        )
    return observed


def _config_value(entry: Any) -> str | None:
    if entry is None or entry.get("value") is None:
        return None
    return str(entry["value"])


def _topic_error(topic: str, code: int, action: str) -> str:
    return f"{action} topic {topic!r} failed: {for_code(code).__name__} (error code {code})"
