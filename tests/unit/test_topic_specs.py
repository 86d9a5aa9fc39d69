"""The topic specs built from settings, and how an observed topic is compared (no broker)."""

from __future__ import annotations

import pytest

from ledger.config import DEFAULT_INTAKE_RETENTION_MS, KafkaSettings, Settings
from ledger.errors import ConfigurationError, TopicConfigurationMismatch
from ledger.kafka.admin import (
    PARKED_RETENTION_MS,
    REJECTED_RETENTION_MS,
    ObservedTopic,
    TopicSpec,
    binding_topic_spec,
    find_differences,
    intake_topic_spec,
    ledger_topic_spec,
    mismatch_error,
    parked_topic_spec,
    rejected_topic_spec,
    required_topic_specs,
)

PRODUCTION_LIKE = KafkaSettings(
    ledger_topic="acme.ledger",
    intake_topic="acme.intake",
    rejected_topic="acme.rejected",
    parked_topic="acme.parked",
    partitions=12,
    replication_factor=3,
    min_insync_replicas=2,
    intake_retention_ms=3_600_000,
)


def observed_as_specified(spec: TopicSpec) -> ObservedTopic:
    return ObservedTopic(
        name=spec.name,
        partitions=spec.partitions,
        replication_factor=spec.replication_factor,
        configs=dict(spec.configs),
    )


def test_ledger_topic_keeps_everything_forever() -> None:
    spec = ledger_topic_spec(PRODUCTION_LIKE)

    assert spec.name == "acme.ledger"
    assert spec.partitions == 12
    assert spec.replication_factor == 3
    assert spec.configs["cleanup.policy"] == "delete"
    assert spec.configs["retention.ms"] == "-1"
    assert spec.configs["retention.bytes"] == "-1"
    assert spec.configs["min.insync.replicas"] == "2"
    assert spec.configs["unclean.leader.election.enable"] == "false"


def test_intake_topic_is_deleted_after_the_configured_retention() -> None:
    spec = intake_topic_spec(PRODUCTION_LIKE)

    assert spec.name == "acme.intake"
    assert spec.partitions == 12
    assert spec.configs["cleanup.policy"] == "delete"
    assert spec.configs["retention.ms"] == "3600000"
    assert spec.configs["retention.bytes"] == "-1"


def test_intake_retention_defaults_to_seven_days() -> None:
    spec = intake_topic_spec(KafkaSettings())

    assert spec.configs["retention.ms"] == str(DEFAULT_INTAKE_RETENTION_MS)
    assert DEFAULT_INTAKE_RETENTION_MS == 7 * 24 * 3600 * 1000

def test_intake_segments_are_small_young_and_stamped_by_the_broker() -> None:
    spec = intake_topic_spec(KafkaSettings())

    # A recorded act's bytes leave the disk with its segment: rolled within a minute.
    assert spec.configs["segment.ms"] == "60000"
    assert spec.configs["segment.bytes"] == str(16 * 1024 * 1024)
    assert spec.configs["message.timestamp.type"] == "LogAppendTime"
    shorter = intake_topic_spec(KafkaSettings(intake_segment_ms=3000))
    assert shorter.configs["segment.ms"] == "3000"



def test_rejected_topic_has_a_finite_retention_of_thirty_days() -> None:
    spec = rejected_topic_spec(PRODUCTION_LIKE)

    assert spec.name == "acme.rejected"
    assert spec.configs["cleanup.policy"] == "delete"
    assert spec.configs["retention.ms"] == str(30 * 24 * 3600 * 1000)
    assert int(spec.configs["retention.ms"]) == REJECTED_RETENTION_MS > 0


def test_parked_topic_is_sharded_like_the_others_and_kept_a_year() -> None:
    spec = parked_topic_spec(PRODUCTION_LIKE)

    assert spec.name == "acme.parked"
    assert spec.partitions == 12
    assert spec.configs["cleanup.policy"] == "delete"
    assert spec.configs["retention.ms"] == str(365 * 24 * 3600 * 1000)
    assert int(spec.configs["retention.ms"]) == PARKED_RETENTION_MS
    assert PARKED_RETENTION_MS > REJECTED_RETENTION_MS
    assert spec.configs["retention.bytes"] == "-1"


def test_parked_topic_is_named_from_the_environment() -> None:
    assert KafkaSettings().parked_topic == "ledger.parked"
    settings = Settings.from_env({"LEDGER_PARKED_TOPIC": "acme.parked"})
    assert settings.kafka.parked_topic == "acme.parked"


def test_required_specs_are_the_seven_topics_of_the_settings() -> None:
    names = [spec.name for spec in required_topic_specs(PRODUCTION_LIKE)]

    assert names == ["acme.ledger", "acme.intake", "acme.rejected", "acme.parked",
                     "acme.ledger.binding", "acme.ledger.checkpoints", "acme.ledger.tree"]


def test_the_binding_topic_is_one_partition_kept_for_ever_and_never_compacted() -> None:
    spec = binding_topic_spec(PRODUCTION_LIKE)

    assert spec.name == "acme.ledger.binding"
    assert spec.partitions == 1  # its first record names the ledger: one order
    assert spec.replication_factor == 3
    assert spec.configs["cleanup.policy"] == "delete"  # compaction keeps the last record
    assert spec.configs["retention.ms"] == spec.configs["retention.bytes"] == "-1"
    assert spec.configs["min.insync.replicas"] == "2"
    assert spec.configs["unclean.leader.election.enable"] == "false"
    assert KafkaSettings().binding_topic == "ledger.binding"
    assert Settings.from_env({"LEDGER_LEDGER_TOPIC": "acme.events"}
                             ).kafka.binding_topic == "acme.binding"
    assert Settings.from_env({"LEDGER_BINDING_TOPIC": "keys.bound"}
                             ).kafka.binding_topic == "keys.bound"


def test_the_verifiable_log_topics_are_named_after_the_ledger_topic_unless_set() -> None:
    assert (KafkaSettings().checkpoints_topic, KafkaSettings().tree_topic) == (
        "ledger.checkpoints", "ledger.tree")
    settings = Settings.from_env({"LEDGER_LEDGER_TOPIC": "acme.events"})
    assert settings.kafka.checkpoints_topic == "acme.checkpoints"
    named = Settings.from_env({"LEDGER_CHECKPOINTS_TOPIC": "audit.cp",
                               "LEDGER_TREE_TOPIC": "audit.tree"})
    assert (named.kafka.checkpoints_topic, named.kafka.tree_topic) == ("audit.cp",
                                                                       "audit.tree")


def test_checkpoints_are_kept_for_ever_and_the_tree_is_compacted() -> None:
    *_, checkpoints, tree = required_topic_specs(PRODUCTION_LIKE)
    assert checkpoints.configs["retention.ms"] == "-1"
    assert checkpoints.configs["cleanup.policy"] == "delete"
    assert tree.configs["cleanup.policy"] == "compact"
    assert checkpoints.partitions == tree.partitions == PRODUCTION_LIKE.partitions


def test_every_config_value_is_a_string_as_kafka_reports_them() -> None:
    for spec in required_topic_specs(KafkaSettings()):
        assert all(isinstance(value, str) for value in spec.configs.values()), spec.name


def test_a_spec_cannot_be_changed_after_it_is_built() -> None:
    configs = {"retention.ms": "-1"}
    spec = TopicSpec("t", 1, 1, configs)
    configs["retention.ms"] = "1000"

    assert spec.configs["retention.ms"] == "-1"
    with pytest.raises(TypeError):
        spec.configs["retention.ms"] = "1000"  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "partitions", "replication_factor"),
    [("", 1, 1), ("t", 0, 1), ("t", 1, 0)],
)
def test_an_impossible_spec_is_refused(name: str, partitions: int, replication_factor: int) -> None:
    with pytest.raises(ConfigurationError):
        TopicSpec(name, partitions, replication_factor)


def test_a_topic_as_specified_has_no_differences() -> None:
    for spec in required_topic_specs(PRODUCTION_LIKE):
        assert find_differences(spec, observed_as_specified(spec)) == ()


def test_finite_retention_compaction_and_partitions_are_all_reported() -> None:
    spec = ledger_topic_spec(PRODUCTION_LIKE)
    observed = ObservedTopic(
        name=spec.name,
        partitions=6,
        replication_factor=3,
        configs={**spec.configs, "retention.ms": "86400000", "cleanup.policy": "compact"},
    )

    found = {d.setting: (d.expected, d.actual) for d in find_differences(spec, observed)}

    assert found == {
        "partitions": ("12", "6"),
        "retention.ms": ("-1", "86400000"),
        "cleanup.policy": ("delete", "compact"),
    }


def test_a_config_the_broker_did_not_report_is_a_difference() -> None:
    spec = ledger_topic_spec(PRODUCTION_LIKE)
    observed = observed_as_specified(spec)
    observed = ObservedTopic(
        observed.name,
        observed.partitions,
        observed.replication_factor,
        {**observed.configs, "min.insync.replicas": None},
    )

    (difference,) = find_differences(spec, observed)

    assert difference.setting == "min.insync.replicas"
    assert "not reported" in difference.describe()


def test_the_mismatch_message_names_topic_key_expected_and_actual() -> None:
    spec = ledger_topic_spec(PRODUCTION_LIKE)
    observed = ObservedTopic(spec.name, 12, 3, {**spec.configs, "retention.ms": "86400000"})

    error = mismatch_error(find_differences(spec, observed))

    assert isinstance(error, TopicConfigurationMismatch)
    message = str(error)
    assert "'acme.ledger'" in message
    assert "retention.ms is '86400000', expected '-1'" in message
