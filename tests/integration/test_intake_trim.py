"""Recorded acts leave the intake topic: unreadable at once, off the broker's disk soon.

The intake topic holds acts in plaintext. Once a batch commits, its writer moves the
intake partition's log start past it (DeleteRecords), so its acts can no longer be read,
while acts not yet recorded stay. Their bytes leave the broker's disk with their
segment: rolled by `segment.ms` (an idle writer appends a marker to roll its own), then
deleted by the broker's retention check and, `file.delete.delay.ms` later, unlinked.
On a broker of its own with those intervals shortened, the last test waits until a raw
scan of the broker's log directories finds no canary of an erased subject, and prints
how long that took (README, "On Kafka", states the bound).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from ledger.kafka.partitioning import shard_of
from tests.kafka_fixtures import broker_of_its_own
from tests.kafka_ledger import collected_for_contact, ledger_env, read_to_end, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

PARTITIONS = 2
# The broker's clean-up, shortened for the test (defaults: 300 s and 60 s).
CHECK_INTERVAL_MS = 1000
DELETE_DELAY_MS = 1000
SEGMENT_MS = 2000


def collected(subject: str, canary: str, n: int = 0) -> dict[str, Any]:
    return collected_for_contact(subject, {
        "name": f"{canary}-{n}",
        "business-email": f"{canary.lower()}-{subject[:8]}-{n}@example.nl"})


def produce(bootstrap: str, topic: str, acts: list[dict[str, Any]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for act in acts:
        producer.send(topic, key=act["subject_id"].encode(), value=orjson.dumps(act))
    producer.flush()
    producer.close()


def readable(bootstrap: str, topic: str) -> list[Any]:
    """Every record a reader can still get from ``topic`` (read_uncommitted: all)."""
    return read_to_end(bootstrap, topic, range(PARTITIONS),
                       isolation_level="read_uncommitted", within_s=60, poll_ms=200)


def canaries_readable(bootstrap: str, topic: str, canary: str) -> int:
    return sum(canary.encode() in (r.value or b"") for r in readable(bootstrap, topic))


def wait_for(condition: Any, what: str, timeout_s: float = 120.0) -> float:
    """Waits until ``condition()`` holds; returns how long that took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"waited {timeout_s:.0f} s for {what}"
        time.sleep(0.2)
    return time.monotonic() - started


@pytest.fixture
def serving() -> Iterator[Any]:
    started: list[subprocess.Popen[str]] = []

    def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen([sys.executable, "-m", "consumers.cli", "serve", *args],
                                   env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr[-2000:]


def test_recorded_acts_cannot_be_read_from_the_intake_topic_and_unrecorded_ones_stay(
    kafka_bootstrap: str, tmp_path: Path, serving: Any,
) -> None:
    env = ledger_env(kafka_bootstrap, tmp_path / "data", partitions=PARTITIONS)
    assert run_cli(env, "topics", "ensure").returncode == 0
    intake = env["LEDGER_INTAKE_TOPIC"]
    subjects: dict[int, list[str]] = {shard: [] for shard in range(PARTITIONS)}
    while min(len(s) for s in subjects.values()) < 5:
        subject = str(uuid.uuid4())
        subjects[shard_of(uuid.UUID(subject), PARTITIONS)].append(subject)
    served, waiting = "CANARY-SERVED", "CANARY-WAITING"
    produce(kafka_bootstrap, intake, [collected(s, served, n) for n, s in
                                      enumerate(subjects[0][:5])])
    produce(kafka_bootstrap, intake, [collected(s, waiting, n) for n, s in
                                      enumerate(subjects[1][:5])])
    # Positive control: both are on the intake topic before anything is recorded.
    assert canaries_readable(kafka_bootstrap, intake, served) == 5
    assert canaries_readable(kafka_bootstrap, intake, waiting) == 5

    serving(env, "--shard", "0")  # shard 1's acts are not recorded by anyone
    took = wait_for(lambda: canaries_readable(kafka_bootstrap, intake, served) == 0,
                    "shard 0's recorded acts to be cut off the intake topic")
    print(f"recorded acts unreadable on the intake topic {took:.1f} s after serve started")
    assert canaries_readable(kafka_bootstrap, intake, waiting) == 5  # not recorded: kept
    shown = run_cli(env, "subject", "show", subjects[0][0], "--json")
    assert f"{served}-0" in shown.stdout  # recorded, and readable where it belongs


@pytest.fixture
def quick_cleanup_broker(tmp_path: Path) -> Iterator[Any]:
    """A broker of this test's own whose log clean-up runs every second."""
    yield from broker_of_its_own(
        tmp_path / "broker",
        extra_properties={"log.retention.check.interval.ms": str(CHECK_INTERVAL_MS),
                          "log.segment.delete.delay.ms": str(DELETE_DELAY_MS)})


def files_holding(root: Path, needle: bytes, *, under: str = "") -> list[Path]:
    """The files below ``root`` (in directories whose name starts with ``under``) whose
    raw bytes contain ``needle``."""
    found = []
    for directory in root.iterdir():
        if not directory.is_dir() or not directory.name.startswith(under):
            continue
        for path in directory.rglob("*"):
            try:
                if path.is_file() and needle in path.read_bytes():
                    found.append(path)
            except FileNotFoundError:
                continue  # deleted while we looked
    return found


def test_an_erased_subjects_intake_bytes_leave_the_brokers_disk(
    quick_cleanup_broker: Any, tmp_path: Path, serving: Any,
) -> None:
    bootstrap = quick_cleanup_broker.bootstrap_servers
    log_dirs = quick_cleanup_broker.data_dir
    env = ledger_env(bootstrap, tmp_path / "data", partitions=PARTITIONS,
                     LEDGER_INTAKE_SEGMENT_MS=str(SEGMENT_MS))
    assert run_cli(env, "topics", "ensure").returncode == 0
    intake = env["LEDGER_INTAKE_TOPIC"]
    serving(env)

    # First a bystander's acts, recorded and then gone from the disk: a broker runs its
    # first clean-up only 30 s after it starts, which is no part of the bound.
    bystander = "CANARY-BYSTANDER"
    produce(bootstrap, intake, [collected(str(uuid.uuid4()), bystander)])
    warm = wait_for(lambda: not files_holding(log_dirs, bystander.encode(), under=intake),
                    "the broker's first clean-up of the intake topic")
    print(f"the broker's first clean-up of recorded intake acts: {warm:.1f} s")

    victim = str(uuid.uuid4())
    canary = f"CANARY-DISK-{uuid.uuid4().hex[:8]}"
    produce(bootstrap, intake, [collected(victim, canary, n) for n in range(3)])
    # Positive control: the broker's intake log files hold the plaintext.
    assert files_holding(log_dirs, canary.encode(), under=intake)
    wait_for(lambda: canaries_readable(bootstrap, intake, canary) == 0,
             "the victim's acts to be recorded and cut off the intake topic")
    erased = run_cli(env, "erase", victim, "--request", "DSAR-1", "--json")
    assert erased.returncode == 0, erased.stdout + erased.stderr
    assert orjson.loads(erased.stdout)["shredded_scopes"] == ["general-contact"]

    took = wait_for(lambda: not files_holding(log_dirs, canary.encode(), under=intake),
                    "the erased subject's plaintext to leave the broker's intake files")
    print(f"the erased subject's intake bytes left the broker's disk {took:.1f} s after "
          f"the erasure (segment.ms {SEGMENT_MS} ms, log.retention.check.interval.ms "
          f"{CHECK_INTERVAL_MS} ms, log.segment.delete.delay.ms {DELETE_DELAY_MS} ms)")
    # Nowhere else on the broker either: the ledger topic holds ciphertext only.
    assert files_holding(log_dirs, canary.encode()) == []
