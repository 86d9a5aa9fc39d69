"""A real Apache Kafka broker for the tests marked ``integration``. Never a mock.

Where the broker comes from, first that works:

1. ``LEDGER_TEST_KAFKA_BOOTSTRAP``: an existing broker (host:port), used as is;
2. a local broker JVM started from Apache's jars (docker/kafka/broker.py), in
   ``LEDGER_TEST_KAFKA_WORK_DIR`` if set, else in a fresh temporary directory;
3. testcontainers' ``KafkaContainer``, if a Docker engine is available.

If none works the tests fail, never skip, with what is missing and how to fix it:
a backend that silently skips is a backend nobody tests.

Register with ``pytest_plugins = ["tests.kafka_fixtures"]`` in tests/conftest.py.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.docker_modules import load_docker_module, named_or_started

BOOTSTRAP_VARIABLE = "LEDGER_TEST_KAFKA_BOOTSTRAP"
WORK_DIR_VARIABLE = "LEDGER_TEST_KAFKA_WORK_DIR"
# Confluent's image: testcontainers' KafkaContainer drives its start-up scripts.
_CONTAINER_IMAGE = "confluentinc/cp-kafka:7.9.0"


def load_broker_module() -> ModuleType:
    """docker/kafka/broker.py, by path: the name ``docker`` is the Docker SDK's."""
    return load_docker_module("ledger_test_kafka_broker", "kafka/broker.py")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap address (host:port) of a real Kafka broker for this test session."""
    yield from named_or_started(BOOTSTRAP_VARIABLE, _start_broker)


@pytest.fixture
def topic_name() -> Callable[[str], str]:
    """Makes unique topic names, so tests sharing one broker never see each other's data."""

    def make(prefix: str = "test") -> str:
        return f"{prefix}-{uuid.uuid4().hex}"

    return make


def free_port() -> int:
    """A TCP port free on this machine right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def broker_of_its_own(work_dir: Path,
                      extra_properties: Mapping[str, str] | None = None) -> Iterator[Any]:
    """For a fixture: a started broker of one test's own, on fixed ports (so it can stop
    and come back), with ``extra_properties`` added to its settings; stopped after."""
    broker = load_broker_module().LocalKafkaBroker(
        work_dir, port=free_port(), controller_port=free_port(),
        lib_dir=Path(__file__).resolve().parents[1] / "docker" / "kafka" / "target" / "lib",
        extra_properties=extra_properties)
    broker.start()
    yield broker
    broker.stop()


def _start_broker(cleanup: ExitStack) -> str:
    reasons: list[str] = []
    bootstrap = _start_local_broker(cleanup, reasons) or _start_container(cleanup, reasons)
    if bootstrap is None:
        pytest.fail(_no_broker_message(reasons), pytrace=False)
    return bootstrap


def _start_local_broker(cleanup: ExitStack, reasons: list[str]) -> str | None:
    broker_module = load_broker_module()
    work_dir_setting = os.environ.get(WORK_DIR_VARIABLE)
    if work_dir_setting:
        work_dir = Path(work_dir_setting)
    else:
        work_dir = Path(tempfile.mkdtemp(prefix="ledger-test-kafka-"))
    broker = broker_module.LocalKafkaBroker(work_dir)
    try:
        bootstrap = str(broker.start())
    except broker_module.BrokerError as error:
        reasons.append(f"local broker (docker/kafka/broker.py): {error}")
        return None
    # Callbacks run last-in first-out: the broker stops before its directory goes.
    # A failed start keeps the directory, since the error message points into its logs.
    if not work_dir_setting:
        cleanup.callback(shutil.rmtree, work_dir, ignore_errors=True)
    # The broker also stops itself at interpreter exit and dies with this process
    # (prctl), so even a session killed before this finalizer leaves no JVM behind.
    cleanup.callback(broker.stop)
    return bootstrap


def _start_container(cleanup: ExitStack, reasons: list[str]) -> str | None:
    try:
        from docker.errors import DockerException
        from testcontainers.community.kafka import KafkaContainer
    except ImportError as error:
        reasons.append(f"testcontainers: not installed ({error})")
        return None
    try:
        # Constructing the container already asks the Docker engine for its version.
        container = (
            KafkaContainer(_CONTAINER_IMAGE)
            .with_kraft()
            .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
        )
        container.start()
    except DockerException as error:
        reasons.append(f"testcontainers: no usable Docker engine ({error})")
        return None
    atexit.register(container.stop)
    cleanup.callback(atexit.unregister, container.stop)
    cleanup.callback(container.stop)
    return str(container.get_bootstrap_server())


def _no_broker_message(reasons: list[str]) -> str:
    tried = "\n".join(f"  - {reason}" for reason in reasons)
    return (
        "Tests marked 'integration' need a real Kafka broker and none could be started.\n"
        f"  - {BOOTSTRAP_VARIABLE}: not set\n"
        f"{tried}\n"
        "Fix one of them: fetch the broker jars with "
        "`mvn -q -B -f docker/kafka/pom.xml dependency:copy-dependencies` "
        "(needs Java 17: `apt-get install openjdk-17-jre-headless`), "
        f"or set {BOOTSTRAP_VARIABLE}=host:port to a running broker, or start Docker."
    )
