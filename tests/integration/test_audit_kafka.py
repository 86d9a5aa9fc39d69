"""The verifiable log on Kafka, on a real broker, with `ledger serve` as a separate process.

Each tamper test verifies the ledger untouched first (its own positive control), then
tampers the way someone with access to the cluster could: a plain producer appending a
forged record to a ledger partition; DeleteRecords cutting a partition's start. Each is
detected and named (shard, sequence or offset, what failed). The takeover tests kill
the shard's writer right after a commit and in the middle of a batch (its transaction
open, its records on the broker), restart it, and check that the tree went on exactly
where the last committed transaction left it: numbers without gaps, every checkpoint
(the killed writers' too) on one tree, every accepted act once. The migration test
numbers a shard written before the tree existed.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition

from ledger.audit.checkpoint import ledger_key_name, shard_origin
from ledger.audit.signer import Cadence, CheckpointSigner
from ledger.audit.signing_keys import CheckpointSigningKey, TrustedKeys
from ledger.config import KafkaSettings
from ledger.kafka.admin import ensure_topics, required_topic_specs
from ledger.kafka.audit_log import HEADER_SEQUENCE, KafkaAuditLog, read_tree
from ledger.kafka.recorder import KafkaApplicationRecorder, ShardAddress
from tests.kafka_ledger import ledger_env, read_to_end, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PARTITIONS = 2
CANARY = "CANARY-AUDIT-KAFKA"


@dataclass
class Ledger:
    env: dict[str, str]
    bootstrap: str
    topic: str
    intake: str

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.env, *args)

    def serve_until_idle(self, idle_s: float = 5.0) -> None:
        result = self.cli("serve", "--batch-size", "50", "--exit-when-idle", str(idle_s))
        assert result.returncode == 0, result.stderr[-2000:]

    def verify(self) -> tuple[int, dict[str, Any]]:
        result = self.cli("audit", "verify", "--json")
        assert result.returncode in (0, 1), result.stderr[-2000:]
        assert CANARY not in result.stdout
        return result.returncode, orjson.loads(result.stdout)


@pytest.fixture
def ledger(kafka_bootstrap: str, tmp_path: Path) -> Ledger:
    env = ledger_env(kafka_bootstrap, tmp_path / "data", partitions=PARTITIONS,
                     LEDGER_CHECKPOINT_EVERY_EVENTS="40", LEDGER_CHECKPOINT_EVERY_SECONDS="1")
    made = Ledger(env, kafka_bootstrap, env["LEDGER_LEDGER_TOPIC"], env["LEDGER_INTAKE_TOPIC"])
    assert made.cli("topics", "ensure").returncode == 0
    return made


def produce_acts(ledger: Ledger, count: int, tag: str = "a") -> set[str]:
    producer = KafkaProducer(bootstrap_servers=ledger.bootstrap, acks="all", linger_ms=20)
    act_ids = set()
    for n in range(count):
        subject = str(uuid.uuid4())
        act_id = f"{tag}-{n}"
        act_ids.add(act_id)
        producer.send(ledger.intake, key=subject.encode(), value=orjson.dumps({
            "act_id": act_id, "type": "data-collected", "subject_id": subject,
            "actor": "crm", "occurred_at": "2025-03-03T09:00:00Z", "purpose": "contact",
            "source_system": "crm", "legal_basis": "legitimate-interest",
            "values": {"name": f"{CANARY}-{n}"}}))
    producer.flush(timeout=60)
    producer.close()
    return act_ids


def read_partition(ledger: Ledger, partition: int) -> list[Any]:
    return read_to_end(ledger.bootstrap, ledger.topic, [partition])


def sequences(records: list[Any]) -> list[int | None]:
    found = []
    for record in records:
        headers = dict(record.headers or [])
        found.append(int(headers[HEADER_SEQUENCE]) if HEADER_SEQUENCE in headers else None)
    return found


def collected_act_ids(ledger: Ledger) -> Counter[str]:
    return Counter(orjson.loads(r.value).get("act_id") for p in range(PARTITIONS)
                   for r in read_partition(ledger, p)
                   if dict(r.headers)["event-topic"].endswith(b":DataCollected"))


def problems(report: dict[str, Any], shard: int) -> list[tuple[str, int | None]]:
    return [(p["kind"], p["first"]) for p in report["shards"][shard]["problems"]]


def assert_intact(ledger: Ledger) -> dict[str, Any]:
    code, report = ledger.verify()
    assert (code, report["intact"]) == (0, True), report
    for shard in report["shards"]:
        if shard["size"]:
            assert shard["checkpoints_verified"] >= 1
            assert shard["latest_signed_size"] == shard["size"], "signed at shutdown"
    return report


def test_a_forged_record_from_a_plain_producer_is_named_inserted(ledger: Ledger) -> None:
    accepted = produce_acts(ledger, 120)
    ledger.serve_until_idle()
    before = assert_intact(ledger)  # positive control
    records = read_partition(ledger, 0)
    assert sequences(records) == list(range(len(records)))
    size = before["shards"][0]["size"]

    forger = KafkaProducer(bootstrap_servers=ledger.bootstrap)
    copied = records[3]
    plain = forger.send(ledger.topic, partition=0, key=copied.key, value=copied.value,
                        headers=[h for h in copied.headers if h[0] != HEADER_SEQUENCE]
                        ).get(timeout=30)
    forger.send(ledger.topic, partition=0, key=copied.key, value=b'{"forged": true}',
                headers=copied.headers).get(timeout=30)
    forger.close()
    code, after = ledger.verify()
    assert code == 1
    assert problems(after, 0) == [("inserted", None), ("inserted", 3)]
    assert f"offset {plain.offset}" in after["shards"][0]["problems"][0]["detail"]
    assert problems(after, 1) == []
    text = ledger.cli("audit", "verify")
    assert f"shard 0: inserted: the event at offset {plain.offset}" in text.stdout
    assert "shard 0: inserted: sequence 3: a second event with this sequence" in text.stdout

    # The writer never numbers what it did not append: its tree goes on past the forgery.
    accepted |= produce_acts(ledger, 60, tag="b")
    ledger.serve_until_idle()
    code, later = ledger.verify()
    assert code == 1
    assert problems(later, 0) == problems(after, 0)
    assert later["shards"][0]["size"] > size
    tree = read_tree(ledger.bootstrap, f"{ledger.topic}.tree", 0)
    assert tree is not None
    genuine = [s for s in sequences(read_partition(ledger, 0)) if s is not None]
    assert genuine[-1] == tree.frontier.size - 1
    assert genuine.count(3) == 2
    assert len(genuine) == tree.frontier.size + 1
    assert set(collected_act_ids(ledger)) - {None} == accepted


def test_a_partition_cut_by_delete_records_is_named_truncated(ledger: Ledger) -> None:
    produce_acts(ledger, 80)
    ledger.serve_until_idle()
    assert_intact(ledger)  # positive control
    records = read_partition(ledger, 1)
    cut = records[10]
    admin = KafkaAdminClient(bootstrap_servers=ledger.bootstrap)
    try:
        admin.delete_records({TopicPartition(ledger.topic, 1): cut.offset})
    finally:
        admin.close()
    code, report = ledger.verify()
    assert code == 1
    first_kept = sequences(records)[10]
    assert problems(report, 1) == [("truncated", 0)]
    assert report["shards"][1]["problems"][0]["last"] == first_kept - 1
    assert problems(report, 0) == []
    assert "shard 1: truncated: sequences 0-9" in ledger.cli("audit", "verify").stdout


KILLER = """
import os, signal, sys
from consumers import intake_writer
from ledger.kafka.recorder import KafkaApplicationRecorder

mode, at = sys.argv[1], int(sys.argv[2])
count = {"n": 0}
if mode == "mid-batch":
    original = intake_writer.apply_act
    def apply_then_die(app, act):
        original(app, act)
        count["n"] += 1
        if count["n"] == at:
            app.recorder._producer.flush()  # the open transaction's records are on the broker
            os.kill(os.getpid(), signal.SIGKILL)
    intake_writer.apply_act = apply_then_die
else:
    original = KafkaApplicationRecorder.commit_batch
    def commit_then_die(self):
        committed = original(self)
        count["n"] += 1
        if count["n"] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return committed
    KafkaApplicationRecorder.commit_batch = commit_then_die
from consumers.cli import main
sys.exit(main(["serve", "--shard", "0", "--batch-size", "50"]))
"""


def kill_writer(ledger: Ledger, mode: str, at: int) -> None:
    process = subprocess.run([sys.executable, "-c", KILLER, mode, str(at)], env=ledger.env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert process.returncode == -9, process.stderr[-2000:]


def test_a_writer_killed_between_and_in_the_middle_of_batches_resumes_its_tree(
    ledger: Ledger,
) -> None:
    accepted = produce_acts(ledger, 600)  # about 300 a shard, 50 acts a batch
    tree_sizes = []
    # After a commit (of a batch, or of a checkpoint between batches), and with a batch
    # half done: 30 of its acts applied and their events sent.
    for mode, at in (("between-batches", 2), ("mid-batch", 30), ("between-batches", 2),
                     ("mid-batch", 30)):
        kill_writer(ledger, mode, at)
        # What a taking-over writer reads: the tree record the last commit left.
        tree = read_tree(ledger.bootstrap, f"{ledger.topic}.tree", 0)
        assert tree is not None
        committed = sequences(read_partition(ledger, 0))
        assert committed == list(range(tree.frontier.size)), (
            f"after a kill {mode}: the tree record and the committed events agree")
        tree_sizes.append(tree.frontier.size)
    assert tree_sizes == sorted(tree_sizes)
    assert tree_sizes[-1] > tree_sizes[0] > 0
    ledger.serve_until_idle()
    report = assert_intact(ledger)
    shard = report["shards"][0]
    assert shard["checkpoints_verified"] >= 3, "the killed writers' checkpoints too"
    for partition in range(PARTITIONS):
        numbers = sequences(read_partition(ledger, partition))
        assert numbers == list(range(len(numbers))), "no gap, no repeat, no fork"
    counted = collected_act_ids(ledger)
    assert set(counted) == accepted
    assert set(counted.values()) == {1}


def test_a_shard_written_before_the_tree_is_numbered_by_its_first_writer(
    kafka_bootstrap: str, tmp_path: Path,
) -> None:
    tag = uuid.uuid4().hex[:12]
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, ledger_topic=f"ledger-{tag}",
                          intake_topic=f"intake-{tag}", rejected_topic=f"rejected-{tag}",
                          parked_topic=f"parked-{tag}", partitions=1)
    ensure_topics(kafka_bootstrap, required_topic_specs(kafka))
    writer_id = f"{kafka.ledger_topic}-writer-0"
    from eventsourcing.persistence import StoredEvent

    def events(count: int) -> list[StoredEvent]:
        subject = uuid.uuid4()
        return [StoredEvent(subject, v, "t:Event", b'{"n": %d}' % v)
                for v in range(1, count + 1)]

    old = KafkaApplicationRecorder(ShardAddress(kafka_bootstrap, kafka.ledger_topic, 0,
                                                transactional_id=writer_id))
    for _ in range(3):
        old.insert_events(events(4))
    old.close()
    assert sequences(read_partition_of(kafka_bootstrap, kafka.ledger_topic)) == [None] * 12

    key = CheckpointSigningKey.generate(tmp_path / "audit.key",
                                        ledger_key_name(kafka.ledger_topic))
    trusted = TrustedKeys().trust(key.verifier)
    origin = shard_origin(kafka.ledger_topic, 0)
    address = ShardAddress(kafka_bootstrap, kafka.ledger_topic, 0, transactional_id=writer_id,
                           tree_topic=kafka.tree_topic,
                           checkpoints_topic=kafka.checkpoints_topic)
    new = KafkaApplicationRecorder(address)
    new.signer = CheckpointSigner(key, origin, Cadence(1000, 60.0))
    new.claim()  # numbers the shard: 12 events, signed at once
    assert new.tree_state is not None
    assert (new.tree_state.frontier.size, new.tree_state.migrated,
            new.tree_state.signed_size) == (12, 12, 12)
    new.insert_events(events(5))
    new.close()  # signs the rest at shutdown
    assert sequences(read_partition_of(kafka_bootstrap, kafka.ledger_topic)) == (
        [None] * 12 + list(range(12, 17)))

    again = KafkaApplicationRecorder(address)  # a takeover reads the tree, numbers nothing
    again.signer = CheckpointSigner(key, origin)
    again.claim()
    assert again.tree_state is not None
    assert (again.tree_state.frontier.size, again.tree_state.signed_size) == (17, 17)
    again.close()

    from consumers.services.audit_log import verify_log

    log = KafkaAuditLog(kafka_bootstrap, kafka.ledger_topic, kafka.tree_topic,
                        kafka.checkpoints_topic, 1)
    verification = verify_log(log, trusted)
    (report,) = verification.shards
    assert (report.intact, report.size, report.checkpoints, report.latest_signed) == (
        True, 17, 2, 17)

    # Positive control: a header-less record after the migration is a forgery.
    forger = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    forger.send(kafka.ledger_topic, partition=0, key=str(uuid.uuid4()).encode(),
                value=b"{}", headers=[("event-topic", b"t:Event"),
                                      ("originator-version", b"1")]).get(timeout=30)
    forger.close()
    (report,) = verify_log(log, trusted).shards
    assert [p.kind for p in report.problems] == ["inserted"]


def read_partition_of(bootstrap: str, topic: str) -> list[Any]:
    return read_partition(Ledger({}, bootstrap, topic, ""), 0)
