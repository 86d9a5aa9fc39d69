"""ensure_topics against a real broker: creates, is idempotent, refuses contradicting topics."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from ledger.config import KafkaSettings
from ledger.errors import BrokerError, ConfigurationError, TopicConfigurationMismatch
from ledger.kafka.admin import (
    TopicSpec,
    check_topics,
    ensure_topics,
    ledger_topic_spec,
    required_topic_specs,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def admin(kafka_bootstrap: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    yield client
    client.close()


@pytest.fixture
def settings(kafka_bootstrap: str, topic_name: Callable[[str], str]) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        ledger_topic=topic_name("ledger"),
        intake_topic=topic_name("intake"),
        rejected_topic=topic_name("rejected"),
        parked_topic=topic_name("parked"),
        partitions=3,
    )


def topic_config(admin: KafkaAdminClient, topic: str, key: str) -> str:
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic, [key])], config_filter="all"
    )
    return str(described["topic"][topic][key]["value"])


def partition_count(admin: KafkaAdminClient, topic: str) -> int:
    (described,) = admin.describe_topics([topic])
    return len(described["partitions"])


def test_creates_the_missing_topics_with_their_configs(
    settings: KafkaSettings, admin: KafkaAdminClient
) -> None:
    specs = required_topic_specs(settings)

    report = ensure_topics(settings.bootstrap_servers, specs)

    assert sorted(report.created) == sorted((
        settings.ledger_topic,
        settings.intake_topic,
        settings.rejected_topic,
        settings.parked_topic,
        settings.binding_topic,
        settings.checkpoints_topic,
        settings.tree_topic,
    ))
    assert report.already_existed == ()
    # Read back with a separate client: the broker, not the report, is the evidence.
    assert partition_count(admin, settings.ledger_topic) == 3
    assert topic_config(admin, settings.ledger_topic, "retention.ms") == "-1"
    assert topic_config(admin, settings.ledger_topic, "cleanup.policy") == "delete"
    assert topic_config(admin, settings.intake_topic, "retention.ms") == str(
        settings.intake_retention_ms
    )


def test_a_second_call_creates_nothing_and_reports_existing(settings: KafkaSettings) -> None:
    specs = required_topic_specs(settings)
    ensure_topics(settings.bootstrap_servers, specs)

    again = ensure_topics(settings.bootstrap_servers, specs)

    assert again.created == ()
    assert set(again.already_existed) == {spec.name for spec in specs}
    assert again.as_dict() == {"created": [], "already_existed": [s.name for s in specs]}


def test_creates_only_what_is_missing(settings: KafkaSettings) -> None:
    ledger, intake, rejected, parked, *_ = required_topic_specs(settings)
    ensure_topics(settings.bootstrap_servers, [ledger])

    report = ensure_topics(settings.bootstrap_servers, [ledger, intake, rejected, parked])

    assert report.created == (intake.name, rejected.name, parked.name)
    assert report.already_existed == (ledger.name,)


@pytest.mark.parametrize(
    ("contradicting_configs", "named_key", "actual_value"),
    [
        ({"retention.ms": "86400000"}, "retention.ms", "86400000"),
        ({"cleanup.policy": "compact"}, "cleanup.policy", "compact"),
    ],
)
def test_a_ledger_topic_that_would_lose_history_is_refused(
    settings: KafkaSettings,
    admin: KafkaAdminClient,
    contradicting_configs: dict[str, str],
    named_key: str,
    actual_value: str,
) -> None:
    admin.create_topics(
        {
            settings.ledger_topic: {
                "num_partitions": settings.partitions,
                "replication_factor": 1,
                "configs": contradicting_configs,
            }
        },
        wait_for_metadata=True,
    )

    with pytest.raises(TopicConfigurationMismatch) as refused:
        ensure_topics(settings.bootstrap_servers, [ledger_topic_spec(settings)])

    message = str(refused.value)
    assert settings.ledger_topic in message
    assert f"{named_key} is '{actual_value}'" in message
    # Refusing means leaving the topic as the operator made it.
    assert topic_config(admin, settings.ledger_topic, named_key) == actual_value


def test_a_ledger_topic_with_another_partition_count_is_refused(
    settings: KafkaSettings, admin: KafkaAdminClient
) -> None:
    admin.create_topics(
        {settings.ledger_topic: {"num_partitions": 1, "replication_factor": 1}},
        wait_for_metadata=True,
    )

    with pytest.raises(TopicConfigurationMismatch, match="partitions is '1', expected '3'"):
        ensure_topics(settings.bootstrap_servers, [ledger_topic_spec(settings)])


def test_an_impossible_replication_factor_is_a_broker_error(
    kafka_bootstrap: str, topic_name: Callable[[str], str]
) -> None:
    spec = TopicSpec(topic_name("unreplicable"), partitions=1, replication_factor=3)

    with pytest.raises(BrokerError, match="InvalidReplicationFactor") as refused:
        ensure_topics(kafka_bootstrap, [spec])

    # The broker refused to create it: that is not a topic contradicting its spec.
    assert not isinstance(refused.value, TopicConfigurationMismatch)


def test_an_unreachable_broker_is_a_broker_error_from_the_client_error() -> None:
    with pytest.raises(BrokerError, match="cannot reach Kafka") as refused:
        ensure_topics("127.0.0.1:1", [TopicSpec("unreachable", 1, 1)], timeout_s=2)

    assert refused.value.__cause__ is not None


def test_check_topics_names_what_is_missing_and_creates_nothing(
    settings: KafkaSettings, admin: KafkaAdminClient
) -> None:
    with pytest.raises(ConfigurationError, match="ledger topics ensure") as refused:
        check_topics(settings.bootstrap_servers, required_topic_specs(settings))
    assert settings.ledger_topic in str(refused.value)
    assert settings.ledger_topic not in admin.list_topics()


def test_check_topics_refuses_a_partition_count_readers_would_misroute(
    settings: KafkaSettings,
) -> None:
    ensure_topics(settings.bootstrap_servers, required_topic_specs(settings))
    check_topics(settings.bootstrap_servers, required_topic_specs(settings))  # as created
    fewer = KafkaSettings(**{**vars(settings), "partitions": 2})
    with pytest.raises(TopicConfigurationMismatch, match="partitions"):
        check_topics(fewer.bootstrap_servers, required_topic_specs(fewer))
