"""A shard writer's index file holds what the ledger topic holds: never a plaintext value.

Acts with canary values go through the real intake writer into a shard whose index is a
SQLite file in the data directory; a raw scan of that file and its side files finds no
canary. Positive control: the same scan finds the canaries in the acts' own bytes.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from consumers.composition import open_key_store, open_shard
from consumers.intake_writer import IntakeWriter
from ledger.config import KafkaSettings, Settings
from ledger.kafka.admin import ensure_topics, required_topic_specs
from tests.canary_scan import raw_hits, store_files

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_the_shard_index_file_holds_no_plaintext_value(kafka_bootstrap: str,
                                                       tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, ledger_topic=f"nx-{tag}.events",
                          intake_topic=f"nx-{tag}.intake", rejected_topic=f"nx-{tag}.rejected",
                          parked_topic=f"nx-{tag}.parked", partitions=1)
    settings = Settings(backend="kafka", data_dir=tmp_path / "data", kafka=kafka)
    ensure_topics(kafka_bootstrap, required_topic_specs(kafka))
    canaries = [f"canary-{uuid.uuid4().hex}" for _ in range(2)]
    acts = [orjson.dumps({
        "act_id": f"crm-{n}", "type": "data-collected", "subject_id": str(uuid.uuid4()),
        "actor": "crm", "occurred_at": "2025-03-03T09:00:00Z", "purpose": "contact",
        "source_system": "crm", "legal_basis": "legitimate-interest",
        "values": {"name": canary, "business-email": f"{canary}@example.nl"},
    }) for n, canary in enumerate(canaries)]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for act in acts:
        producer.send(kafka.intake_topic, key=orjson.loads(act)["subject_id"].encode(),
                      value=act)
    producer.flush()
    producer.close()

    key_store = open_key_store(settings)
    app = open_shard(settings, key_store, 0, writer=True)
    try:
        writer = IntakeWriter(app, kafka, 0, batch_size=100, poll_ms=200)
        recorded = 0
        for _ in range(100):  # polls until both acts are recorded, not a quiet period
            recorded += writer.run_once().recorded
            if recorded == len(acts):
                break
        writer.close()
        assert recorded == len(acts)
    finally:
        app.close()
        key_store.close()

    index_files = store_files(settings.shard_index_path(0))
    assert index_files, "the writer kept no shard index file"
    needles = [c.encode() for c in canaries]
    assert all(hits == [] for hits in raw_hits(index_files, needles).values())
    # The events are there: their subject ids (cleartext metadata, as on the topic) are.
    subjects = [orjson.loads(act)["subject_id"].encode() for act in acts]
    assert all(hits for hits in raw_hits(index_files, subjects).values())
    control = tmp_path / "acts.bin"
    control.write_bytes(b"".join(acts))
    assert all(hits == [str(control)] for hits in raw_hits([control], needles).values())
