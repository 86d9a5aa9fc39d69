"""`ledger serve --group`: Kafka's group protocol assigns the shards, and a survivor takes
over a killed instance's shards.

Two `ledger serve --group` processes share one PostgreSQL (keys, projections) and one
intake group; 10,000 acts (about 5% bad) go to the intake topic; one instance is
killed with SIGKILL mid-run, so it sends no LeaveGroup, and the group hands its shards
to the other after the session timeout. The test waits for that, prints the measured
takeover time, waits until every act is consumed, and checks that every accepted act
is on the ledger topic exactly once, every bad one on the rejected topic, and no canary
in any record.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition

from ledger.kafka.intake_progress import INTAKE_GROUP
from tests.integration.test_intake_exactly_once import (
    PARTITIONS,
    Ledger,
    assert_exactly_once,
    make_ledger,
    produce_acts,
)

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.timeout(900)]

SESSION_TIMEOUT_MS = 6000  # the broker's group.min.session.timeout.ms
SCHEMAS = ("ledger_keys", *(f"ledger_projections_shard_{p}" for p in range(PARTITIONS)))


@dataclass
class Instance:
    """A `ledger serve --group --json` process and its stdout lines, time-stamped."""

    process: subprocess.Popen[str]
    lines: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def read(self) -> None:
        assert self.process.stdout is not None
        for text in self.process.stdout:
            if text.startswith("{"):
                self.lines.append((time.monotonic(), orjson.loads(text)))

    def serving(self) -> list[int]:
        changes = [line["serving"] for _, line in self.lines if "serving" in line]
        return changes[-1] if changes else []

    def batches(self, shards: set[int] | None = None) -> list[tuple[float, dict[str, Any]]]:
        return [(at, line) for at, line in self.lines
                if "shard" in line and (shards is None or line["shard"] in shards)]


def drop_schemas(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def group_ledger(kafka_bootstrap: str, postgres_dsn: str, tmp_path: Path) -> Iterator[Ledger]:
    drop_schemas(postgres_dsn)
    ledger = make_ledger(kafka_bootstrap, tmp_path)
    ledger.env.update({
        "LEDGER_POSTGRES_DSN": postgres_dsn,
        "LEDGER_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "LEDGER_GROUP_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
    })
    yield ledger
    drop_schemas(postgres_dsn)


@pytest.fixture
def instances(group_ledger: Ledger) -> Iterator[list[Instance]]:
    started: list[Instance] = []
    yield started
    for n, instance in enumerate(started):
        if instance.process.poll() is None:
            instance.process.kill()
        instance.process.wait(timeout=60)
        stderr = instance.process.stderr
        if stderr is not None and not stderr.closed:  # what a failed test needs to see
            print(f"--- instance {n} (exit {instance.process.returncode}):\n"
                  + stderr.read()[-3000:])


def start(ledger: Ledger, started: list[Instance]) -> Instance:
    process = subprocess.Popen(
        [sys.executable, "-m", "consumers.cli", "serve", "--group", "--json",
         "--batch-size", "250"],
        env=ledger.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    instance = Instance(process)
    threading.Thread(target=instance.read, daemon=True).start()
    started.append(instance)
    return instance


def wait_for(condition: Any, what: str, timeout_s: float = 180.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"waited {timeout_s:.0f} s for {what}"
        time.sleep(0.1)
    return time.monotonic()


def start_serving_every_shard(ledger: Ledger, started: list[Instance]) -> Instance:
    """The first instance, once the group has given it every shard."""
    first = start(ledger, started)
    wait_for(lambda: first.serving() == list(range(PARTITIONS)), "the first instance's shards")
    return first


def wait_for_a_shard_to_move(first: Instance, second: Instance, what: str) -> float:
    """Waits until the cooperative protocol has moved a shard from ``first`` to the
    newly started ``second``; returns when."""
    return wait_for(lambda: second.serving() and len(first.serving()) < PARTITIONS, what)


def stop_all(started: list[Instance], *, allowed: tuple[int, ...] = (0,)) -> None:
    for instance in started:
        if instance.process.poll() is None:
            instance.process.send_signal(signal.SIGTERM)
        _, stderr = instance.process.communicate(timeout=120)
        assert instance.process.returncode in allowed, stderr[-2000:]


def all_consumed(ledger: Ledger) -> bool:
    """The intake group's committed offsets have reached the end of every partition."""
    partitions = [TopicPartition(ledger.intake_topic, p) for p in range(PARTITIONS)]
    # Assigned, never subscribed: it reads the group's offsets without joining it.
    consumer = KafkaConsumer(bootstrap_servers=ledger.bootstrap, group_id=INTAKE_GROUP,
                             enable_auto_commit=False)
    try:
        ends = consumer.end_offsets(partitions)
        committed = {p: consumer.committed(p) for p in partitions}
    finally:
        consumer.close()
    return all((committed[p] or -1) >= ends[p] for p in partitions)


def test_a_killed_instance_s_shards_are_taken_over_and_nothing_is_lost_or_doubled(
    group_ledger: Ledger, instances: list[Instance],
) -> None:
    ledger = group_ledger
    first = start_serving_every_shard(ledger, instances)
    second = start(ledger, instances)
    wait_for_a_shard_to_move(first, second, "the second instance to get a shard")
    assert sorted(first.serving() + second.serving()) == list(range(PARTITIONS))

    workload = produce_acts(ledger, 10_000, seed=23)
    wait_for(first.batches, "the first instance to commit a batch")
    doomed = set(first.serving())
    first.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    first.process.wait(timeout=30)

    assigned_at = wait_for(lambda: doomed <= set(second.serving()),
                           "the survivor to take the killed instance's shards")
    first_commit_at = wait_for(lambda: any(at > killed_at for at, _ in
                                           second.batches(doomed)),
                               "the survivor's first commit on a taken shard")
    print(f"takeover of shards {sorted(doomed)}: assigned {assigned_at - killed_at:.1f} s and "
          f"first batch committed {first_commit_at - killed_at:.1f} s after the kill "
          f"(session timeout {SESSION_TIMEOUT_MS / 1000:.0f} s)")

    wait_for(lambda: all_consumed(ledger), "every act to be consumed", timeout_s=300)
    stop_all([second])
    assert_exactly_once(ledger, workload)


def test_an_instance_added_mid_run_takes_shards_and_nothing_is_lost_or_doubled(
    group_ledger: Ledger, instances: list[Instance],
) -> None:
    ledger = group_ledger
    first = start_serving_every_shard(ledger, instances)
    workload = produce_acts(ledger, 10_000, seed=29)
    wait_for(lambda: len(first.batches()) >= 2, "the first instance to commit batches")

    second = start(ledger, instances)  # a rebalance while the first is recording
    moved_at = wait_for_a_shard_to_move(first, second, "a shard to move to the new instance")
    assert sorted(first.serving() + second.serving()) == list(range(PARTITIONS))
    assert any(at < moved_at for at, _ in first.batches(set(second.serving()))), (
        "the moved shard was being recorded by the first instance")
    wait_for(lambda: all_consumed(ledger), "every act to be consumed", timeout_s=300)
    stop_all(instances)
    assert_exactly_once(ledger, workload)


def test_a_zombie_of_an_old_generation_cannot_commit(
    group_ledger: Ledger, instances: list[Instance],
) -> None:
    """The first instance is frozen (SIGSTOP) past its session timeout, mid-run: the
    group gives its shards to the second, which claims them. Thawed, the zombie's
    commits are refused (its producer fenced, its generation gone, its PostgreSQL
    session ended by idle_in_transaction_session_timeout): it records nothing twice, and
    it either drops the shards it lost and rejoins, or stops (exit 3 or 4; a supervisor
    restarts it)."""
    ledger = group_ledger
    first = start_serving_every_shard(ledger, instances)
    second = start(ledger, instances)
    wait_for_a_shard_to_move(first, second, "the second instance to get a shard")
    workload = produce_acts(ledger, 10_000, seed=31)
    wait_for(first.batches, "the first instance to commit a batch")
    frozen = set(first.serving())
    first.process.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: frozen <= set(second.serving()),
                 "the group to give the frozen instance's shards to the other")
        taken_at = time.monotonic()
        wait_for(lambda: any(at > taken_at for at, _ in second.batches(frozen)),
                 "the new owner to commit on a taken shard")
    finally:
        first.process.send_signal(signal.SIGCONT)
    # The thawed zombie learns it lost the shards (or is fenced trying to commit).
    wait_for(lambda: first.process.poll() is not None
             or any("lost" in line or "revoked" in line for _, line in first.lines
                    if "serving" in line),
             "the zombie to notice it lost its shards")
    wait_for(lambda: all_consumed(ledger), "every act to be consumed", timeout_s=300)
    stop_all(instances[1:])
    stop_all(instances[:1], allowed=(0, 3, 4))
    assert_exactly_once(ledger, workload)
