"""Ingest and replay on a real broker, as ratios to raw kafka-python on the same run.

Ingest: acts on the intake topic -> the intake writer of one shard (schema and policy
check, encryption under per-subject keys, aggregate, transactional produce with the
intake offsets) -> the ledger topic. Its baseline: a plain idempotent kafka-python
producer sending the very records the ledger wrote (same keys, values, headers).

Replay: the Kafka recorder rebuilding its index from the ledger topic and the mapper
decrypting every event, against a plain read_committed consumer of the same topic.

    python bench/bench_kafka.py [--acts 20000] [--batch-size 1000] [--json]

Starts its own broker from docker/kafka unless LEDGER_BENCH_KAFKA_BOOTSTRAP is set.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consumers.composition import open_key_store, open_shard  # noqa: E402
from consumers.intake_writer import IntakeWriter  # noqa: E402
from ledger.config import KafkaSettings, Settings  # noqa: E402
from ledger.kafka.admin import TopicSpec, ensure_topics, required_topic_specs  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def broker() -> Iterator[str]:
    external = os.environ.get("LEDGER_BENCH_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    spec = importlib.util.spec_from_file_location("broker", ROOT / "docker/kafka/broker.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with tempfile.TemporaryDirectory() as work:
        local = module.LocalKafkaBroker(Path(work), lib_dir=ROOT / "docker/kafka/target/lib")
        log("starting a local broker ...")
        try:
            yield local.start()
        finally:
            local.stop()


def acts(count: int) -> Iterator[tuple[bytes, bytes]]:
    for n in range(count):
        subject = str(uuid.uuid4())
        yield subject.encode(), orjson.dumps({
            "act_id": f"bench-{n}", "type": "data-collected", "subject_id": subject,
            "actor": "crm", "occurred_at": "2025-03-03T09:00:00Z", "purpose": "contact",
            "source_system": "crm", "legal_basis": "legitimate-interest",
            "values": {"name": f"Name {n}", "business-email": f"person{n}@example.nl",
                       "message-content": "Werkt jullie SaaS ook met SSO? " * 3},
        })


def read_all(bootstrap: str, topic: str) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, isolation_level="read_committed",
                             max_partition_fetch_bytes=8 * 1024 * 1024)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    end = consumer.end_offsets([partition])[partition]
    records: list[Any] = []
    while consumer.position(partition) < end:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    consumer.close()
    return records


def run(count: int, batch_size: int) -> dict[str, Any]:
    with broker() as bootstrap, tempfile.TemporaryDirectory() as data:
        tag = uuid.uuid4().hex[:8]
        kafka = KafkaSettings(bootstrap_servers=bootstrap, ledger_topic=f"bench-ledger-{tag}",
                              intake_topic=f"bench-intake-{tag}",
                              rejected_topic=f"bench-rejected-{tag}", partitions=1)
        settings = Settings(backend="kafka", data_dir=Path(data), kafka=kafka)
        ensure_topics(bootstrap, required_topic_specs(kafka))

        log(f"producing {count} acts to the intake topic ...")
        upstream = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all")
        for key, value in acts(count):
            upstream.send(kafka.intake_topic, key=key, value=value)
        upstream.flush()
        upstream.close()

        key_store = open_key_store(settings)
        app = open_shard(settings, key_store, 0, writer=True)
        writer = IntakeWriter(app, kafka, 0, batch_size=batch_size, poll_ms=200)
        log("ingesting through the intake writer ...")
        done, started = 0, time.perf_counter()
        while done < count:
            report = writer.run_once()
            done += report.read
            if report.rejected:
                raise SystemExit(f"{report.rejected} bench acts were rejected: {report.reasons}")
        ingest_s = time.perf_counter() - started
        writer.close()
        app.close()

        written = read_all(bootstrap, kafka.ledger_topic)
        payload = sum(len(r.value) + len(r.key) for r in written)
        log(f"raw produce of the same {len(written)} records ({payload / 1e6:.1f} MB) ...")
        raw_topic = f"bench-raw-{tag}"
        ensure_topics(bootstrap, [TopicSpec(raw_topic, 1, 1)])
        raw = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all",
                            enable_idempotence=True)
        started = time.perf_counter()
        for record in written:
            raw.send(raw_topic, key=record.key, value=record.value, headers=record.headers)
        raw.flush()
        raw_produce_s = time.perf_counter() - started
        raw.close()

        log("replaying the ledger topic through the recorder and the mapper ...")
        started = time.perf_counter()
        reader = open_shard(settings, key_store, 0, writer=False)
        notifications = reader.recorder.select_notifications(None, limit=len(written) + 1)
        index_s = time.perf_counter() - started
        events = [reader.mapper.to_domain_event(n) for n in notifications]
        replay_s = time.perf_counter() - started
        reader.close()
        key_store.close()

        log("raw consume of the ledger topic ...")
        started = time.perf_counter()
        raw_records = read_all(bootstrap, kafka.ledger_topic)
        raw_consume_s = time.perf_counter() - started
        assert len(raw_records) == len(events) == len(written)

    return {
        "acts": count, "records": len(written), "bytes": payload,
        "ingest_acts_per_s": round(count / ingest_s),
        "raw_produce_acts_per_s": round(count / raw_produce_s),
        "ingest_ratio": round(raw_produce_s / ingest_s, 3),
        "replay_events_per_s": round(len(events) / replay_s),
        "raw_consume_events_per_s": round(len(raw_records) / raw_consume_s),
        "replay_ratio": round(raw_consume_s / replay_s, 3),
        "index_rebuild_events_per_s": round(len(events) / index_s),
        "index_rebuild_ratio": round(raw_consume_s / index_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Small runs flatter the ratios: raw consume's fixed start-up cost dominates them.
    parser.add_argument("--acts", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    result = run(args.acts, args.batch_size)
    if args.json:
        print(json.dumps(result))
        return
    print(f"ingest: {result['ingest_acts_per_s']:,} acts/s through the full path; "
          f"raw kafka-python produce of the same bytes {result['raw_produce_acts_per_s']:,} "
          f"acts/s; ratio {result['ingest_ratio']}")
    print(f"replay: {result['replay_events_per_s']:,} events/s (index rebuild + decrypt); "
          f"raw consume {result['raw_consume_events_per_s']:,} events/s; "
          f"ratio {result['replay_ratio']}")
    print(f"  of which the recorder's index rebuild alone: "
          f"{result['index_rebuild_events_per_s']:,} events/s; "
          f"ratio {result['index_rebuild_ratio']}")


if __name__ == "__main__":
    main()
