"""Exactly-once intake on a real broker, with a real kafka-python producer upstream.

Each test produces acts (about 5% of them bad) to a fresh intake topic, runs
`ledger serve` as a separate process (killing it, or racing two of them, as the test
asks), and then reads the ledger and rejected topics read_committed: every accepted act
is there exactly once, every bad one is rejected, nothing is lost, and no record holds a
personal value of the test data.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from tests.kafka_fixtures import broker_of_its_own
from tests.kafka_ledger import ledger_env, read_to_end

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

PARTITIONS = 2
CANARY = "CANARY-EO"


@dataclass(frozen=True)
class Workload:
    accepted: set[str]  # act ids the ledger must record exactly once
    refused: set[str]  # act ids (or intake offsets for unparseable ones) it must reject
    unparseable: int


@dataclass
class Ledger:
    env: dict[str, str]
    bootstrap: str
    ledger_topic: str
    intake_topic: str
    rejected_topic: str
    data_dir: Path

    def serve(self, *extra: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "consumers.cli", "serve", "--batch-size", "250", *extra],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def serve_until_idle(self, idle_s: float = 6.0) -> None:
        process = self.serve("--exit-when-idle", str(idle_s))
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr.decode()[-2000:]


@pytest.fixture
def ledger(kafka_bootstrap: str, tmp_path: Path) -> Ledger:
    return make_ledger(kafka_bootstrap, tmp_path)


def make_ledger(kafka_bootstrap: str, tmp_path: Path) -> Ledger:
    env = ledger_env(kafka_bootstrap, tmp_path / "data", partitions=PARTITIONS,
                     inherit_ledger_settings=True)
    subprocess.run([sys.executable, "-m", "consumers.cli", "topics", "ensure"], env=env,
                   check=True, capture_output=True, timeout=120)
    return Ledger(env, kafka_bootstrap, env["LEDGER_LEDGER_TOPIC"],
                  env["LEDGER_INTAKE_TOPIC"], env["LEDGER_REJECTED_TOPIC"],
                  tmp_path / "data")


def produce_acts(ledger: Ledger, count: int, seed: int = 7) -> Workload:
    """The upstream system: acts keyed by subject id, about 5% of them bad."""
    rng = random.Random(seed)
    producer = KafkaProducer(bootstrap_servers=ledger.bootstrap, acks="all", linger_ms=20)
    accepted, refused, unparseable = set(), set(), 0
    for n in range(count):
        subject = str(uuid.uuid4())
        act_id = f"up-{n}"
        act = {
            "act_id": act_id, "type": "data-collected", "subject_id": subject,
            "actor": "crm", "occurred_at": "2025-03-03T09:00:00Z", "purpose": "contact",
            "source_system": "crm", "legal_basis": "legitimate-interest",
            "values": {"name": f"{CANARY}-NAME-{n}", "message-content": f"{CANARY}-MSG-{n}"},
        }
        roll = rng.random()
        if roll < 0.02:
            value = b'{"act_id": "' + act_id.encode() + b'", "values": {"name": "' + \
                f"{CANARY}-BROKEN-{n}".encode() + b'"'
            unparseable += 1
        elif roll < 0.05:
            act["values"] = {"job-title": f"{CANARY}-TITLE-{n}"}  # not listed for contact
            value = orjson.dumps(act)
            refused.add(act_id)
        else:
            value = orjson.dumps(act)
            accepted.add(act_id)
        producer.send(ledger.intake_topic, key=subject.encode(), value=value)
    producer.flush(timeout=60)
    producer.close()
    return Workload(accepted, refused, unparseable)


def read_topic(ledger: Ledger, topic: str) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    return [(r.key, r.value, dict(r.headers or []))
            for r in read_to_end(ledger.bootstrap, topic, range(PARTITIONS))]


def assert_exactly_once(ledger: Ledger, workload: Workload) -> None:
    events = read_topic(ledger, ledger.ledger_topic)
    collected = Counter(
        orjson.loads(value)["act_id"] for _, value, headers in events
        if headers["event-topic"].decode().endswith(":DataCollected"))
    assert set(collected) == workload.accepted, (
        f"lost {len(workload.accepted - set(collected))}, "
        f"unexpected {len(set(collected) - workload.accepted)}")
    doubled = {act: n for act, n in collected.items() if n != 1}
    assert doubled == {}, f"{len(doubled)} acts recorded more than once"

    rejected = [orjson.loads(value) for _, value, _ in read_topic(ledger, ledger.rejected_topic)]
    refused_ids = Counter(r["act_id"] for r in rejected if r["act_id"])
    assert set(refused_ids) == workload.refused
    assert all(n == 1 for n in refused_ids.values())
    assert sum(1 for r in rejected if r["act_id"] is None) == workload.unparseable
    assert {r["rule"] for r in rejected} <= {"category-not-in-purpose", "invalid-act"}
    # Each on its shard's partition, where a client waiting for that act's answer looks:
    # the unparseable ones too, which name no subject to be keyed by.
    for record in read_to_end(ledger.bootstrap, ledger.rejected_topic, range(PARTITIONS)):
        assert record.partition == orjson.loads(record.value)["intake"]["partition"]

    # No plaintext personal value in any ledger or rejected record, decoded or raw...
    for _, value, headers in events:
        assert CANARY.encode() not in value
        assert all(CANARY.encode() not in h for h in headers.values())
    assert not any(CANARY in orjson.dumps(r).decode() for r in rejected)
    # ...and the intake topic, which held them in plaintext (tests/integration/
    # test_intake_trim.py shows the canaries there before), lets none be read any more:
    # every act was recorded or rejected, and cut off.
    assert read_topic(ledger, ledger.intake_topic) == []


def test_every_act_is_recorded_exactly_once(ledger: Ledger) -> None:
    workload = produce_acts(ledger, 2_000)
    ledger.serve_until_idle()
    assert_exactly_once(ledger, workload)


def test_killed_writer_three_times_loses_and_doubles_nothing(ledger: Ledger) -> None:
    workload = produce_acts(ledger, 10_000, seed=11)
    rng = random.Random(3)
    for _ in range(3):
        process = ledger.serve()
        time.sleep(rng.uniform(3.0, 8.0))  # start-up plus some batches in flight
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    ledger.serve_until_idle()
    assert_exactly_once(ledger, workload)


def test_a_second_writer_for_the_same_shards_fences_the_first(ledger: Ledger) -> None:
    workload = produce_acts(ledger, 10_000, seed=13)
    first = ledger.serve()
    time.sleep(4.0)  # the first writer is mid-stream when the second claims the shards
    second = ledger.serve("--exit-when-idle", "8")
    _, stderr = second.communicate(timeout=600)
    assert second.returncode == 0, stderr.decode()[-2000:]
    # The zombie's next transaction fails (fenced), and it stops by itself.
    _, first_stderr = first.communicate(timeout=60)
    assert first.returncode in (3, 4), first_stderr.decode()[-2000:]
    assert b"stopping:" in first_stderr
    assert_exactly_once(ledger, workload)


@pytest.fixture
def restartable_broker(tmp_path: Path) -> Iterator[Any]:
    """A broker of this test's own, on fixed ports, so it can stop and come back."""
    yield from broker_of_its_own(tmp_path / "broker")


def test_broker_stopped_and_restarted_mid_run_loses_and_doubles_nothing(
    restartable_broker: Any, tmp_path: Path
) -> None:
    ledger = make_ledger(restartable_broker.bootstrap_servers, tmp_path)
    workload = produce_acts(ledger, 10_000, seed=17)
    # Idle longer than the outage: a writer that rides it out must not quit during it.
    process = ledger.serve("--exit-when-idle", "30")
    time.sleep(6.0)  # batches are committing when the broker goes away
    restartable_broker.stop()
    time.sleep(3.0)
    restartable_broker.start()
    # A supervisor's job: the writer stops when its transaction fails; start it again
    # until it has drained the intake topic and exits idle.
    for _ in range(5):
        if process.poll() is None:
            process.wait(timeout=180)
        if process.returncode == 0:
            break
        process = ledger.serve("--exit-when-idle", "6")
    else:
        pytest.fail("the intake writer never finished after the broker came back")
    ledger.serve_until_idle()
    assert_exactly_once(ledger, workload)
