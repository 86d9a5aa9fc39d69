"""Takeover of a big shard: from a new writer's start to its first committed batch.

The shard: ``--events`` ledger records (default 1,000,000) raw-produced to partition 0
of a fresh ledger topic, two events per subject, keyed and headed as the recorder
writes them, with random bytes for the sealed state, but without the sequence header:
records from before the verifiable log. A first writer claims the shard (the one-time
tree migration numbers them, and its shard index is built from offset 0: reported as
``index_build_s``) and closes. Then ``--acts`` new acts go to the intake topic, and the
figure: ``takeover_s``, the seconds from opening the next writer (the composition
root's ``open_shard`` and an ``IntakeWriter``, which claims the shard: fences the first
writer, checks the index against the partition, reads the tail past it, resumes the
tree) until its first batch of those acts is committed. ``tail_read``: the records its
claim read from the partition.

    python bench/bench_takeover.py [--events 1000000] [--acts 1000] [--without-index] [--json]

``--without-index`` also times a writer's claim with no index (the whole partition into
memory, as before the index). Starts its own broker from docker/kafka unless
LEDGER_BENCH_KAFKA_BOOTSTRAP is set.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench_kafka import broker, log, produce_acts
from kafka import KafkaProducer

from consumers.composition import open_key_store, open_shard
from consumers.intake_writer import IntakeWriter
from ledger.config import KafkaSettings, Settings
from ledger.kafka.admin import ensure_topics, required_topic_specs
from ledger.kafka.audit_log import HEADER_TOPIC, HEADER_VERSION
from ledger.kafka.recorder import (
    PRODUCER_TUNING,
    KafkaApplicationRecorder,
    ShardAddress,
)

EVENT_TOPIC = b"ledger.domain.events:DataCollected"
STATE_BYTES = 512  # about a sealed DataCollected event's state
EVENTS_PER_SUBJECT = 2


def produce_shard(bootstrap: str, topic: str, events: int) -> None:
    """``events`` un-numbered ledger records on partition 0, as an old writer left them."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_TUNING)
    states = [os.urandom(STATE_BYTES) for _ in range(64)]
    subject = b""
    for n in range(events):
        version = n % EVENTS_PER_SUBJECT + 1
        if version == 1:
            subject = str(uuid.uuid4()).encode()
        producer.send(topic, partition=0, key=subject, value=states[n % 64],
                      headers=[(HEADER_TOPIC, EVENT_TOPIC),
                               (HEADER_VERSION, str(version).encode())])
    producer.flush()
    producer.close()


def measure_takeover(bootstrap: str, events: int, data_dir: Path, *, acts: int = 1000,
                     without_index: bool = False) -> dict[str, Any]:
    """Builds a shard of ``events`` events, lets a first writer claim it (migration and
    index build) and close, then times the next writer's takeover to its first
    committed batch of ``acts`` new acts. Fresh topics; ``data_dir`` holds the keys and
    the shard index."""
    tag = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(bootstrap_servers=bootstrap, ledger_topic=f"bench-takeover-{tag}",
                          intake_topic=f"bench-takeover-intake-{tag}",
                          rejected_topic=f"bench-takeover-rejected-{tag}",
                          parked_topic=f"bench-takeover-parked-{tag}", partitions=1)
    settings = Settings(backend="kafka", data_dir=data_dir, kafka=kafka)
    ensure_topics(bootstrap, required_topic_specs(kafka))

    # The key store first: it binds itself to the ledger while the ledger is new (one
    # that already holds acts would need the key store that sealed them).
    key_store = open_key_store(settings)
    try:
        log(f"producing a shard of {events:,} events ...")
        started = time.perf_counter()
        produce_shard(bootstrap, kafka.ledger_topic, events)
        produce_s = time.perf_counter() - started

        log("first writer: tree migration and index build ...")
        started = time.perf_counter()
        first = open_shard(settings, key_store, 0, writer=True)
        assert isinstance(first.recorder, KafkaApplicationRecorder)
        first.recorder.claim()
        index_build_s = time.perf_counter() - started
        first_read = first.recorder.records_read
        first.close()

        produce_acts(bootstrap, kafka.intake_topic, acts, "new-subjects")
        log("next writer: takeover to its first committed batch ...")
        started = time.perf_counter()
        app = open_shard(settings, key_store, 0, writer=True)
        assert isinstance(app.recorder, KafkaApplicationRecorder)
        writer = IntakeWriter(app, kafka, 0, batch_size=acts, poll_ms=200)
        claim_s = time.perf_counter() - started
        recorded = 0
        while not recorded:
            report = writer.run_once()
            if report.rejected:
                raise SystemExit(f"{report.rejected} bench acts were rejected: "
                                 f"{report.reasons}")
            recorded = report.recorded
        takeover_s = time.perf_counter() - started
        tail_read = app.recorder.records_read
        writer.close()
        app.close()
    finally:
        key_store.close()

    result: dict[str, Any] = {
        "events": events, "takeover_s": round(takeover_s, 3),
        "claim_s": round(claim_s, 3), "first_batch_acts": recorded,
        "tail_read": tail_read, "index_build_s": round(index_build_s, 3),
        "index_build_read": first_read, "produce_s": round(produce_s, 3),
        "index_mb": round(settings.shard_index_path(0).stat().st_size / 1e6, 1),
    }
    if without_index:
        log("a writer without an index: the whole partition into memory ...")
        address = ShardAddress(bootstrap, kafka.ledger_topic, 0,
                               transactional_id=f"{kafka.ledger_topic}-writer-0",
                               tree_topic=kafka.tree_topic,
                               checkpoints_topic=kafka.checkpoints_topic)
        started = time.perf_counter()
        bare = KafkaApplicationRecorder(address)
        bare.claim()
        result["claim_without_index_s"] = round(time.perf_counter() - started, 3)
        bare.close(sign=False)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--acts", type=int, default=1000,
                        help="new acts for the next writer's first batch")
    parser.add_argument("--without-index", action="store_true",
                        help="also time a claim without an index (slow at 1M)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    with broker() as bootstrap, tempfile.TemporaryDirectory() as data:
        result = measure_takeover(bootstrap, args.events, Path(data), acts=args.acts,
                                  without_index=args.without_index)
    if args.json:
        print(json.dumps(result))
        return
    print(f"shard of {result['events']:,} events: takeover to the first committed batch "
          f"({result['first_batch_acts']} acts) in {result['takeover_s']} s (claim "
          f"{result['claim_s']} s, {result['tail_read']} records read)")
    print(f"  one-time tree migration and index build by the first writer: "
          f"{result['index_build_s']} s; index {result['index_mb']} MB")
    if "claim_without_index_s" in result:
        print(f"  a claim without an index: {result['claim_without_index_s']} s")


if __name__ == "__main__":
    main()
