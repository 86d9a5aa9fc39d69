"""`ledger serve` keeps every shard's projections, and the read commands work on Kafka.

The demo's acts go to the intake topic of a three-partition ledger through a real
producer; `ledger serve` records and projects them. Right after it stops, each shard's
projection store is at the end of that shard's log (serve projected, nobody else did).
Then the subject views and registers read with LEDGER_BACKEND=kafka equal the ones the
embedded backend gives for the same acts: sharding changes where rows live, not what
they say.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from consumers.demo import Scenario
from projections.sqlite_store import SQLiteProjectionStore
from tests.kafka_ledger import ledger_env, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]

PARTITIONS = 3
# Ids, offsets and recording times differ between two runs of the same acts.
VOLATILE = {"notification_id", "position", "recorded_at", "key_id", "positions"}
# When each ledger published its policy: the versions are compared on their own, the
# moments differ (each ledger published when it first opened).
NOT_ON_KAFKA = {"published"}


def stable(document: Any) -> Any:
    if isinstance(document, dict):
        return {k: stable(v) for k, v in document.items()
                if k not in VOLATILE and k not in NOT_ON_KAFKA}
    if isinstance(document, list):
        return [stable(v) for v in document]
    return document


def store_positions(data_dir: Path) -> dict[int, int]:
    """Each shard's projection store position, for the shards that have projected any."""
    positions = {}
    for shard in range(PARTITIONS):
        path = data_dir / f"projections-shard-{shard}.sqlite"
        if path.exists():
            store = SQLiteProjectionStore(path)
            try:
                if store.position():
                    positions[shard] = store.position()
            finally:
                store.close()
    return positions


@pytest.fixture
def demo_acts() -> list[dict[str, Any]]:
    return [step.act for step in Scenario().steps() if step.act is not None]


def test_serve_projects_each_shard_and_reads_match_the_embedded_backend(
    kafka_bootstrap: str, tmp_path: Path, demo_acts: list[dict[str, Any]],
) -> None:
    # Each backend's data directory gets its own master key, made on first use.
    common = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    embedded = {**common, "LEDGER_BACKEND": "sqlite",
                "LEDGER_DATA_DIR": str(tmp_path / "embedded")}
    on_kafka = ledger_env(kafka_bootstrap, tmp_path / "kafka", partitions=PARTITIONS)
    acts_file = tmp_path / "acts.jsonl"
    acts_file.write_bytes(b"\n".join(orjson.dumps(act) for act in demo_acts) + b"\n")
    recorded = run_cli(embedded, "record", str(acts_file), "--json")
    assert recorded.returncode in (0, 1), recorded.stderr  # 1: the demo's refusals

    assert run_cli(on_kafka, "topics", "ensure").returncode == 0
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    intake = on_kafka["LEDGER_INTAKE_TOPIC"]
    for act in demo_acts:
        producer.send(intake, key=act["subject_id"].encode(), value=orjson.dumps(act))
    producer.flush()
    producer.close()
    served = run_cli(on_kafka, "serve", "--exit-when-idle", "5", "--json")
    assert served.returncode == 0, served.stderr[-2000:]
    batches = [orjson.loads(line) for line in served.stdout.splitlines()]
    projected = {line["shard"]: line["projected"] for line in batches}

    # Serve projected every shard it recorded into, to the end of that shard's log.
    subjects = {act["subject_id"] for act in demo_acts}
    assert len(projected) >= 2  # the demo's four people span shards
    for shard, position in projected.items():
        store = SQLiteProjectionStore(tmp_path / "kafka" / f"projections-shard-{shard}.sqlite")
        try:
            assert store.position() == position > 0
        finally:
            store.close()

    served_positions = store_positions(tmp_path / "kafka")
    for subject in subjects:
        on_both = [run_cli(env, "subject", "show", subject, "--json")
                   for env in (embedded, on_kafka)]
        assert [r.returncode for r in on_both] == [0, 0], on_both[1].stderr
        views = [stable(orjson.loads(r.stdout)) for r in on_both]
        assert views[0] == views[1]
        trails = [stable(orjson.loads(run_cli(env, "audit", "trail", subject, "--json").stdout))
                  for env in (embedded, on_kafka)]
        assert trails[0] == trails[1]
        assert len(trails[0]["trail"]) > 0

    documents = [orjson.loads(run_cli(env, "registers", "--json", "--now",
                                      "2026-01-01T00:00:00+00:00").stdout)
                 for env in (embedded, on_kafka)]
    published = [[entry["item"] for entry in document["policy"]["published"]]
                 for document in documents]
    assert published[0] == published[1] != []  # on Kafka too, by the register's shard
    registers = [stable(document) for document in documents]
    assert registers[0] == registers[1]

    # A rebuild on Kafka starts each shard's store over and gets back to the same place.
    rebuilt = run_cli(on_kafka, "rebuild", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    reports = orjson.loads(rebuilt.stdout)["shards"]
    assert [r["shard"] for r in reports] == list(range(PARTITIONS))
    # Every shard serve opened was projected to its end, the policy register's too.
    assert {r["shard"]: r["position"] for r in reports if r["events"]} == served_positions
    assert projected.items() <= served_positions.items()
    after = stable(orjson.loads(run_cli(on_kafka, "registers", "--json", "--now",
                                        "2026-01-01T00:00:00+00:00").stdout))
    assert after == registers[1]
