"""Ingest and replay on a real broker, as ratios to raw kafka-python on the same run.

Ingest: acts on the intake topic -> the intake writer of one shard (schema and policy
check, encryption under per-subject keys, aggregate, transactional produce with the
intake offsets) -> the ledger topic. Its baseline: a plain kafka-python producer with
the writer's own tuning (``PRODUCER_TUNING``) sending the very records the ledger wrote
(same keys, values, headers). Every act is of a new subject: a new key, a new identity
binding and two events each, the ledger's most expensive kind of act.

Replay: the Kafka recorder rebuilding its index from the ledger topic and the mapper
decrypting every event, against a plain read_committed consumer of the same topic.

    python bench/bench_kafka.py [--acts 20000] [--batch-size 1000] [--rounds 3]
                                [--workload new-subjects|mixed] [--json]

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
from statistics import median
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consumers.composition import open_key_store, open_shard  # noqa: E402
from consumers.intake_writer import IntakeWriter  # noqa: E402
from ledger.config import KafkaSettings, Settings  # noqa: E402
from ledger.crypto.key_cache import CachingKeyStore  # noqa: E402
from ledger.crypto.keys import KeyStore  # noqa: E402
from ledger.kafka.admin import TopicSpec, ensure_topics, required_topic_specs  # noqa: E402
from ledger.kafka.recorder import PRODUCER_TUNING  # noqa: E402


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


def acts(count: int, workload: str = "new-subjects") -> Iterator[tuple[bytes, bytes]]:
    """``count`` acts keyed by subject. new-subjects: every act collects for a new
    subject (a new key, identity binding and two events each: the costliest kind).
    mixed: each subject is collected once, then its data is used three times."""
    per_subject = 1 if workload == "new-subjects" else 4
    subject = ""
    for n in range(count):
        if n % per_subject == 0:
            subject = str(uuid.uuid4())
            document: dict[str, Any] = {
                "type": "data-collected", "purpose": "contact", "source_system": "crm",
                "legal_basis": "legitimate-interest",
                "values": {"name": f"Name {n}", "business-email": f"person{n}@example.nl",
                           "message-content": "Werkt jullie SaaS ook met SSO? " * 3},
            }
        else:
            document = {"type": "data-processed", "purpose": "contact", "operation": "use",
                        "categories": ["name", "message-content"]}
        yield subject.encode(), orjson.dumps({
            "act_id": f"bench-{n}", "subject_id": subject, "actor": "crm",
            "occurred_at": "2025-03-03T09:00:00Z", **document,
        })


def produce_acts(bootstrap: str, topic: str, count: int, workload: str) -> None:
    """``count`` bench acts on the intake topic, as the writer's own producer sends."""
    upstream = KafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_TUNING)
    for key, value in acts(count, workload):
        upstream.send(topic, key=key, value=value)
    upstream.flush()
    upstream.close()


def drain(writer: IntakeWriter, count: int) -> float:
    """Seconds for the writer to take in ``count`` acts; any rejection ends the bench."""
    done, started = 0, time.perf_counter()
    while done < count:
        report = writer.run_once()
        done += report.read
        if report.rejected:
            raise SystemExit(f"{report.rejected} bench acts were rejected: {report.reasons}")
    return time.perf_counter() - started


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


def raw_produce(bootstrap: str, records: list[Any]) -> float:
    """Seconds for a plain producer, tuned exactly as the ledger's, to send ``records``."""
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [TopicSpec(topic, 1, 1)])
    raw = KafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_TUNING)
    started = time.perf_counter()
    for record in records:
        raw.send(topic, key=record.key, value=record.value, headers=record.headers)
    raw.flush()
    elapsed = time.perf_counter() - started
    raw.close()
    return elapsed


def replay(settings: Settings, key_store: KeyStore, expected: int) -> tuple[float, float]:
    """Seconds to rebuild a reader's index, and to that add decrypting every event.

    A fresh key cache each time: a replay starts cold, unwrapping each subject's key once.
    """
    cold = CachingKeyStore(key_store, max_age=30.0)
    started = time.perf_counter()
    reader = open_shard(settings, cold, 0, writer=False)
    notifications = reader.recorder.select_notifications(None, limit=expected + 1)
    index_s = time.perf_counter() - started
    events = [reader.mapper.to_domain_event(n) for n in notifications]
    replay_s = time.perf_counter() - started
    reader.close()
    if len(events) != expected:
        raise SystemExit(f"replay read {len(events)} events, the ledger holds {expected}")
    return index_s, replay_s


def run(count: int, batch_size: int, rounds: int, workload: str) -> dict[str, Any]:
    with broker() as bootstrap, tempfile.TemporaryDirectory() as data:
        tag = uuid.uuid4().hex[:8]
        kafka = KafkaSettings(bootstrap_servers=bootstrap, ledger_topic=f"bench-ledger-{tag}",
                              intake_topic=f"bench-intake-{tag}",
                              rejected_topic=f"bench-rejected-{tag}",
                              parked_topic=f"bench-parked-{tag}", partitions=1)
        settings = Settings(backend="kafka", data_dir=Path(data), kafka=kafka)
        ensure_topics(bootstrap, required_topic_specs(kafka))

        log(f"producing {count} acts to the intake topic ...")
        produce_acts(bootstrap, kafka.intake_topic, count, workload)

        key_store = open_key_store(settings)
        app = open_shard(settings, key_store, 0, writer=True)
        writer = IntakeWriter(app, kafka, 0, batch_size=batch_size, poll_ms=200)
        log("ingesting through the intake writer ...")
        ingest_s = drain(writer, count)
        writer.close()
        app.close()

        written = read_all(bootstrap, kafka.ledger_topic)
        payload = sum(len(r.value) + len(r.key) for r in written)
        # Ingest consumes the intake topic, so it runs once; each baseline and the
        # replay run ``rounds`` times, interleaved, and the medians are compared.
        produce_s, consume_s, index_s, replay_s = [], [], [], []
        for round_no in range(1, rounds + 1):
            log(f"round {round_no}/{rounds}: raw produce of the same {len(written)} records "
                f"({payload / 1e6:.1f} MB), raw consume, replay ...")
            produce_s.append(raw_produce(bootstrap, written))
            started = time.perf_counter()
            raw_records = read_all(bootstrap, kafka.ledger_topic)
            consume_s.append(time.perf_counter() - started)
            if len(raw_records) != len(written):
                raise SystemExit("raw consume read another number of records")
            index, whole = replay(settings, key_store, len(written))
            index_s.append(index)
            replay_s.append(whole)
        key_store.close()

    raw_produce_s, raw_consume_s = median(produce_s), median(consume_s)
    events = len(written)
    return {
        "acts": count, "workload": workload, "records": events, "bytes": payload,
        "rounds": rounds,
        "producer_tuning": PRODUCER_TUNING,
        "ingest_acts_per_s": round(count / ingest_s),
        "raw_produce_acts_per_s": round(count / raw_produce_s),
        "ingest_ratio": round(raw_produce_s / ingest_s, 3),
        "replay_events_per_s": round(events / median(replay_s)),
        "raw_consume_events_per_s": round(events / raw_consume_s),
        "replay_ratio": round(raw_consume_s / median(replay_s), 3),
        "index_rebuild_events_per_s": round(events / median(index_s)),
        "index_rebuild_ratio": round(raw_consume_s / median(index_s), 3),
        "spread": {
            "raw_produce_s": [round(x, 3) for x in produce_s],
            "raw_consume_s": [round(x, 3) for x in consume_s],
            "replay_s": [round(x, 3) for x in replay_s],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Small runs flatter the ratios: raw consume's fixed start-up cost dominates them.
    parser.add_argument("--acts", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="repeats of the baselines and the replay (medians are compared)")
    parser.add_argument("--workload", choices=["new-subjects", "mixed"],
                        default="new-subjects",
                        help="new-subjects: every act for a new subject (the worst case); "
                        "mixed: one collection then three uses per subject")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    result = run(args.acts, args.batch_size, args.rounds, args.workload)
    if args.json:
        print(json.dumps(result))
        return
    print(f"workload: {result['workload']}, {result['acts']:,} acts, "
          f"{result['records']:,} ledger records")
    print(f"ingest: {result['ingest_acts_per_s']:,} acts/s through the full path; "
          f"raw kafka-python produce of the same bytes {result['raw_produce_acts_per_s']:,} "
          f"acts/s; ratio {result['ingest_ratio']}")
    print(f"replay: {result['replay_events_per_s']:,} events/s (index rebuild + decrypt); "
          f"raw consume {result['raw_consume_events_per_s']:,} events/s; "
          f"ratio {result['replay_ratio']}")
    print(f"  of which the recorder's index rebuild alone: "
          f"{result['index_rebuild_events_per_s']:,} events/s; "
          f"ratio {result['index_rebuild_ratio']}")
    print(f"  (medians of {result['rounds']} rounds; producer tuning on both sides: "
          f"{result['producer_tuning']})")


if __name__ == "__main__":
    main()
