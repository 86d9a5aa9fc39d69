"""The Kafka ledger's speed, as ratios to raw kafka-python on the same run.

Ingest: acts on the intake topic -> the intake writer of one shard (schema and policy
check, encryption under per-subject keys, aggregate, the verifiable log's leaves,
transactional produce with the intake offsets) -> the ledger topic. Its baseline: a
plain kafka-python producer with the writer's own tuning (``PRODUCER_TUNING``) sending
the very records the ledger wrote (same keys, values, headers). Two workloads:
new-subjects (every act collects for a new subject: a new key, identity binding and two
events each, the costliest kind) and mixed (each subject collected once, then its data
used three times).

Replay: the Kafka recorder rebuilding its index from the ledger topic and the mapper
decrypting every event, against a plain read_committed consumer of the same topic.

Takeover (``bench_takeover.py``): a new writer of a shard of ``--takeover-events``
events, from its start to its first committed batch. Scale-out
(``bench_scale_out.py``): two ``ledger serve --group`` processes against one, on
PostgreSQL, with each process's CPU use.

    python bench/bench_kafka.py [--acts 20000] [--batch-size 1000] [--rounds 3]
                                [--workload both|new-subjects|mixed]
                                [--takeover-events 1000000] [--no-scale-out] [--json]

Prints each figure beside its target (issue 14) and whether it is met. Starts its own
broker from docker/kafka unless LEDGER_BENCH_KAFKA_BOOTSTRAP is set.
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
from repo_root import ROOT

from consumers.composition import open_key_store, open_shard
from consumers.intake_writer import IntakeWriter
from consumers.serve import tune_collector_for_writers
from ledger.config import KafkaSettings, Settings
from ledger.crypto.key_cache import CachingKeyStore
from ledger.crypto.keys import KeyStore
from ledger.domain.policy_register import POLICY_REGISTER_ID
from ledger.kafka.admin import TopicSpec, ensure_topics, required_topic_specs
from ledger.kafka.partitioning import subject_key
from ledger.kafka.recorder import PRODUCER_TUNING


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
    events = reader.mapper.to_domain_events(notifications)  # a batch's keys in one read
    replay_s = time.perf_counter() - started
    reader.close()
    if len(events) != expected:
        raise SystemExit(f"replay read {len(events)} events, the ledger holds {expected}")
    return index_s, replay_s


def run(bootstrap: str, count: int, batch_size: int, rounds: int,
        workload: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        tag = uuid.uuid4().hex[:8]
        kafka = KafkaSettings(bootstrap_servers=bootstrap, ledger_topic=f"bench-ledger-{tag}",
                              intake_topic=f"bench-intake-{tag}",
                              rejected_topic=f"bench-rejected-{tag}",
                              parked_topic=f"bench-parked-{tag}", partitions=1)
        settings = Settings(backend="kafka", data_dir=Path(data), kafka=kafka)
        ensure_topics(bootstrap, required_topic_specs(kafka))

        log(f"{workload}: producing {count} acts to the intake topic ...")
        produce_acts(bootstrap, kafka.intake_topic, count, workload)

        key_store = open_key_store(settings)
        app = open_shard(settings, key_store, 0, writer=True)
        writer = IntakeWriter(app, kafka, 0, batch_size=batch_size, poll_ms=200)
        log(f"{workload}: ingesting through the intake writer ...")
        ingest_s = drain(writer, count)
        writer.close()
        app.close()

        # The acts' records only: the policy register's two events (published when the
        # writer claimed the shard) are not part of the ingest.
        written = [r for r in read_all(bootstrap, kafka.ledger_topic)
                   if r.key != subject_key(POLICY_REGISTER_ID)]
        everything = len(read_all(bootstrap, kafka.ledger_topic))
        payload = sum(len(r.value) + len(r.key) for r in written)
        # Ingest consumes the intake topic, so it runs once; each baseline and the
        # replay run ``rounds`` times, interleaved, and the medians are compared.
        produce_s, consume_s, index_s, replay_s = [], [], [], []
        for round_no in range(1, rounds + 1):
            log(f"{workload}: round {round_no}/{rounds}: raw produce of the same "
                f"{len(written)} records ({payload / 1e6:.1f} MB), raw consume, replay ...")
            produce_s.append(raw_produce(bootstrap, written))
            started = time.perf_counter()
            raw_records = read_all(bootstrap, kafka.ledger_topic)
            consume_s.append(time.perf_counter() - started)
            if len(raw_records) != everything:
                raise SystemExit("raw consume read another number of records")
            index, whole = replay(settings, key_store, everything)
            index_s.append(index)
            replay_s.append(whole)
        key_store.close()

    raw_produce_s, raw_consume_s = median(produce_s), median(consume_s)
    events = everything
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


def measure_takeover(bootstrap: str, events: int, data_dir: Path) -> dict[str, Any]:
    from bench_takeover import measure_takeover as measured  # noqa: PLC0415 - it imports this module

    return measured(bootstrap, events, data_dir)


def scale_out(bootstrap: str, acts: int) -> dict[str, Any]:
    from bench_scale_out import measure_scale_out, postgres  # noqa: PLC0415 - it imports this module

    with postgres() as dsn:
        return measure_scale_out(bootstrap, dsn, acts, partitions=4)


# Issue 14's targets on a 2-core machine: (figure, at least / at most, bound).
TARGETS: list[tuple[str, str, float]] = [
    ("mixed.ingest_ratio", ">=", 0.30),
    ("new-subjects.ingest_ratio", ">=", 0.22),
    ("mixed.replay_ratio", ">=", 0.50),
    ("new-subjects.replay_ratio", ">=", 0.50),
    ("scale_out.scale_out_2x", ">=", 1.3),
    ("takeover.takeover_s", "<=", 10.0),
]


def against_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the figure measured for it (None: not measured in this run)."""
    verdicts = []
    for name, sense, bound in TARGETS:
        part, figure = name.split(".")
        value = (result.get(part) or {}).get(figure)
        met = None if value is None else (value >= bound if sense == ">=" else value <= bound)
        verdicts.append({"figure": name, "value": value, "target": f"{sense} {bound}",
                         "met": met})
    return verdicts


def measure(args: argparse.Namespace) -> dict[str, Any]:
    workloads = ["mixed", "new-subjects"] if args.workload == "both" else [args.workload]
    tune_collector_for_writers()  # as `ledger serve` runs its writers
    result: dict[str, Any] = {"cores": os.cpu_count()}
    with broker() as bootstrap:
        for workload in workloads:
            result[workload] = run(bootstrap, args.acts, args.batch_size, args.rounds,
                                   workload)
        if args.takeover_events:
            log(f"takeover of a {args.takeover_events:,}-event shard ...")
            with tempfile.TemporaryDirectory() as data:
                result["takeover"] = measure_takeover(bootstrap, args.takeover_events,
                                                      Path(data))
        if args.scale_out:
            log("scale-out: one, then two `ledger serve --group` processes ...")
            result["scale_out"] = scale_out(bootstrap, args.acts)
    result["targets"] = against_targets(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Small runs flatter the ratios: raw consume's fixed start-up cost dominates them.
    parser.add_argument("--acts", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="repeats of the baselines and the replay (medians are compared)")
    parser.add_argument("--workload", choices=["both", "new-subjects", "mixed"],
                        default="both",
                        help="new-subjects: every act for a new subject (the worst case); "
                        "mixed: one collection then three uses per subject")
    parser.add_argument("--takeover-events", type=int, default=1_000_000,
                        help="events in the shard a new writer takes over (0: skip)")
    parser.add_argument("--no-scale-out", dest="scale_out", action="store_false",
                        help="skip the group-mode scale-out (it starts PostgreSQL)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        print(json.dumps(result))
        return
    for workload in ("mixed", "new-subjects"):
        if workload not in result:
            continue
        figures = result[workload]
        print(f"{workload}: {figures['acts']:,} acts, {figures['records']:,} ledger records")
        print(f"  ingest: {figures['ingest_acts_per_s']:,} acts/s through the full path; raw "
              f"kafka-python produce of the same bytes {figures['raw_produce_acts_per_s']:,} "
              f"acts/s; ratio {figures['ingest_ratio']}")
        print(f"  replay: {figures['replay_events_per_s']:,} events/s (index rebuild + "
              f"decrypt); raw consume {figures['raw_consume_events_per_s']:,} events/s; "
              f"ratio {figures['replay_ratio']} (index rebuild alone: ratio "
              f"{figures['index_rebuild_ratio']})")
    if "takeover" in result:
        takeover = result["takeover"]
        print(f"takeover of a {takeover['events']:,}-event shard: {takeover['takeover_s']} s "
              "to the first committed batch")
    if "scale_out" in result:
        print(f"scale-out: {result['scale_out']['scale_out_2x']}x with two processes")
    print(f"(medians of {args.rounds} rounds; producer tuning on both sides: "
          f"{PRODUCER_TUNING}; {result['cores']} cores)")
    for verdict in result["targets"]:
        state = {True: "met", False: "NOT met", None: "not measured"}[verdict["met"]]
        print(f"target {verdict['figure']} {verdict['target']}: {verdict['value']} ({state})")


if __name__ == "__main__":
    main()
