"""Acts from clients built on librdkafka reach the ledger exactly once, in order.

Debian's `kcat` and PyPI's `confluent-kafka` partition keys with CRC32
(`consistent_random`) by default, not with the Java client's murmur2, so many of their
acts land on an intake partition that is not their subject's home shard. The writer
that reads such an act forwards it to the home partition inside its batch transaction
(counted as `forwarded`); the home shard's writer records it. Every act is recorded
exactly once and each subject's acts in the order its producer sent them; a producer
set to `murmur2_random` needs no hop at all.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from ledger.kafka.partitioning import shard_of
from tests.kafka_ledger import ledger_env, read_to_end

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

PARTITIONS = 4
CANARY = "CANARY-INTEROP"
ACTS_PER_SUBJECT = 4


def acts_of(prefix: str, subjects: int) -> list[dict[str, Any]]:
    """``subjects`` subjects, each collected ``ACTS_PER_SUBJECT`` times, act ids numbered
    in the order they are sent; a first act per subject that is refused (a category
    the purpose does not list) would reorder nothing, so one in five subjects has one."""
    acts = []
    for s in range(subjects):
        subject = str(uuid.uuid4())
        for k in range(ACTS_PER_SUBJECT):
            values = {"name": f"{CANARY}-{prefix}-{s}-{k}"}
            if s % 5 == 4 and k == 2:
                values = {"job-title": f"{CANARY}-{prefix}-TITLE-{s}"}  # refused
            acts.append({
                "act_id": f"{prefix}-{s}-{k}", "type": "data-collected", "subject_id": subject,
                "actor": "crm", "occurred_at": f"2025-03-03T09:00:0{k}Z", "purpose": "contact",
                "source_system": "crm", "legal_basis": "legitimate-interest", "values": values,
            })
    return acts


def crc32_partition(subject: str) -> int:
    """librdkafka's `consistent_random` choice for a non-empty key."""
    return zlib.crc32(subject.encode()) % PARTITIONS


def produce_with_kcat(bootstrap: str, topic: str, acts: list[dict[str, Any]]) -> None:
    kcat = shutil.which("kcat")
    assert kcat is not None, "kcat not found: apt-get install kcat (make test does)"
    lines = b"".join(a["subject_id"].encode() + b"\t" + orjson.dumps(a) + b"\n" for a in acts)
    subprocess.run([kcat, "-P", "-b", bootstrap, "-t", topic, "-K", "\t",
                    "-X", "enable.idempotence=true"],
                   input=lines, check=True, timeout=120, capture_output=True)


def produce_with_confluent(bootstrap: str, topic: str, acts: list[dict[str, Any]],
                           **config: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         **config})
    for act in acts:
        producer.produce(topic, key=act["subject_id"].encode(), value=orjson.dumps(act))
    assert producer.flush(60) == 0


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    return read_to_end(bootstrap, topic, range(PARTITIONS))


def test_acts_from_kcat_and_confluent_kafka_are_recorded_once_in_order(
    kafka_bootstrap: str, tmp_path: Path,
) -> None:
    env = ledger_env(kafka_bootstrap, tmp_path / "data", partitions=PARTITIONS,
                     inherit_ledger_settings=True)
    cli = [sys.executable, "-m", "consumers.cli"]
    subprocess.run([*cli, "topics", "ensure"], env=env, check=True, capture_output=True,
                   timeout=120)
    intake = env["LEDGER_INTAKE_TOPIC"]
    by_kcat, by_confluent, by_murmur = acts_of("kc", 20), acts_of("ck", 20), acts_of("mm", 10)
    produce_with_kcat(kafka_bootstrap, intake, by_kcat)
    produce_with_confluent(kafka_bootstrap, intake, by_confluent)  # its default: CRC32
    produce_with_confluent(kafka_bootstrap, intake, by_murmur, partitioner="murmur2_random")

    # Positive control: the default partitioner really does put acts elsewhere, and the
    # producers put them where it says (the intake topic, as upstream wrote it).
    misplaced = [a for a in by_kcat + by_confluent
                 if crc32_partition(a["subject_id"]) != shard_of(uuid.UUID(a["subject_id"]),
                                                                  PARTITIONS)]
    assert len(misplaced) > len(by_kcat + by_confluent) // 3
    where = {orjson.loads(r.value)["act_id"]: r.partition
             for r in read_topic(kafka_bootstrap, intake)}
    for act in by_kcat + by_confluent:
        assert where[act["act_id"]] == crc32_partition(act["subject_id"])
    for act in by_murmur:
        assert where[act["act_id"]] == shard_of(uuid.UUID(act["subject_id"]), PARTITIONS)

    served = subprocess.run([*cli, "serve", "--exit-when-idle", "2", "--json"], env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert served.returncode == 0, served.stderr[-2000:]
    lines = [orjson.loads(line) for line in served.stdout.splitlines()]
    assert sum(line["forwarded"] for line in lines) == len(misplaced)

    every = by_kcat + by_confluent + by_murmur
    refused = {a["act_id"] for a in every if "job-title" in a["values"]}
    events = read_topic(kafka_bootstrap, env["LEDGER_LEDGER_TOPIC"])
    recorded: dict[str, list[str]] = defaultdict(list)
    for record in events:
        headers = dict(record.headers or [])
        assert CANARY.encode() not in record.value
        if headers["event-topic"].decode().endswith(":DataCollected"):
            state = orjson.loads(record.value)
            # Each on its subject's home shard, in the order its producer sent them.
            assert record.partition == shard_of(uuid.UUID(record.key.decode()), PARTITIONS)
            recorded[record.key.decode()].append(state["act_id"])
    for subject_acts in _by_subject(every).values():
        subject = subject_acts[0]["subject_id"]
        expected = [a["act_id"] for a in subject_acts if a["act_id"] not in refused]
        assert recorded[subject] == expected
    rejected = [orjson.loads(r.value)
                for r in read_topic(kafka_bootstrap, env["LEDGER_REJECTED_TOPIC"])]
    assert sorted(r["act_id"] for r in rejected) == sorted(refused)
    assert {r["rule"] for r in rejected} == {"category-not-in-purpose"}


def _by_subject(acts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for act in acts:
        grouped[act["subject_id"]].append(act)
    return grouped
