"""What the verifiable log costs on Kafka: ingest, replay and takeover with the tree on and
off, and `ledger audit verify`'s throughput beside raw consume, on one broker, one run.

    python bench/bench_audit_log.py [--acts 20000] [--batch-size 1000] [--rounds 3]
                                    [--workload new-subjects|mixed] [--json]

Each round ingests the same kind of acts twice, through the shard's intake writer, into
fresh topics: once as the ledger runs (the tree on: a sequence header and a leaf per
event, the tree record and the checkpoints in each batch's transaction) and once with the
tree off. The switch exists only here: the bench builds the writer without the tree
topics, which the ledger's composition root always gives. The order alternates between
rounds; medians are compared.

- ingest: acts/s through the full path;
- replay: a reader rebuilding its index from the topic and decrypting every event (as
  bench_kafka.py);
- takeover: a new writer claiming the shard (fencing, reading the partition into its
  index and, with the tree on, reading the shard's tree record);
- verify: `audit verify`'s work on the tree-on ledger (recompute every leaf and the tree
  from the raw partition, check every checkpoint), in events/s, beside a raw
  read_committed consume of the same partition.

End to end, ingest varies by about 10% from run to run on a 2-core machine whatever the
tree does, so the tree-on runs also time the tree's own work where the writer does it
(each event's leaf, each batch's tree record and checkpoint): the measured cost, as a
share of the ingest time, beside the end-to-end ratio.

Starts its own broker from docker/kafka unless LEDGER_BENCH_KAFKA_BOOTSTRAP is set.
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

from bench_kafka import broker, drain, log, produce_acts, read_all, replay

from consumers.composition import (
    kafka_env,
    open_key_store,
    open_office_keyring,
    open_shard,
)
from consumers.intake_writer import IntakeWriter
from consumers.serve import tune_collector_for_writers
from consumers.services.audit_keys import trusted_audit_keys
from consumers.services.audit_log import verify_log
from ledger.application import LedgerApplication
from ledger.config import KafkaSettings, Settings
from ledger.crypto.keys import KeyStore
from ledger.kafka import recorder as recorder_module
from ledger.kafka.admin import ensure_topics, required_topic_specs
from ledger.kafka.audit_log import KafkaAuditLog
from ledger.kafka.recorder import KafkaApplicationRecorder
from ledger.policy import load_policy

TREE_WORK = {"s": 0.0}  # seconds spent in the writer's tree code while timing is on


def timed(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            TREE_WORK["s"] += time.perf_counter() - started
    return run


# The writer's tree work: each event's leaf (in _send) and each batch's tree record and
# checkpoint (_stage_tree), timed where the writer calls them.
recorder_module.event_leaf_hash = timed(recorder_module.event_leaf_hash)  # type: ignore[attr-defined]
KafkaApplicationRecorder._stage_tree = timed(  # type: ignore[method-assign]
    KafkaApplicationRecorder._stage_tree)


def open_writer(settings: Settings, key_store: KeyStore, *, tree: bool) -> LedgerApplication:
    """The shard's writer as `ledger serve` opens it, or (the bench's switch) without
    the verifiable log: the persistence module without its tree topics, and otherwise
    the same writer (a sole writer with live aggregates, as `open_shard` makes it)."""
    if tree:
        return open_shard(settings, key_store, 0, writer=True)
    env = kafka_env(settings, 0, writer=True)
    del env["KAFKA_TREE_TOPIC"], env["KAFKA_CHECKPOINTS_TOPIC"]
    return LedgerApplication(load_policy(), env=env, key_store=key_store,
                             office_keyring=open_office_keyring(settings),
                             max_future_skew=settings.max_clock_skew, sole_writer=True)


def ledger_settings(bootstrap: str, data: Path) -> Settings:
    tag = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(bootstrap_servers=bootstrap, ledger_topic=f"bench-ledger-{tag}",
                          intake_topic=f"bench-intake-{tag}",
                          rejected_topic=f"bench-rejected-{tag}",
                          parked_topic=f"bench-parked-{tag}", partitions=1)
    ensure_topics(bootstrap, required_topic_specs(kafka))
    return Settings(backend="kafka", data_dir=data / tag, kafka=kafka)


def ingest(settings: Settings, key_store: KeyStore, count: int, batch_size: int,
           workload: str, *, tree: bool) -> float:
    produce_acts(settings.kafka.bootstrap_servers, settings.kafka.intake_topic, count,
                 workload)
    app = open_writer(settings, key_store, tree=tree)
    writer = IntakeWriter(app, settings.kafka, 0, batch_size=batch_size, poll_ms=200)
    TREE_WORK["s"] = 0.0
    elapsed = drain(writer, count)
    writer.close()
    app.close()  # with the tree: signs the rest at shutdown
    return elapsed


def takeover(settings: Settings, key_store: KeyStore, *, tree: bool) -> float:
    """Seconds for a new writer to own the shard and be ready for its first batch."""
    started = time.perf_counter()
    app = open_writer(settings, key_store, tree=tree)
    recorder = app.recorder
    assert isinstance(recorder, KafkaApplicationRecorder)
    recorder.claim()
    elapsed = time.perf_counter() - started
    if tree and recorder.tree_state is None:
        raise SystemExit("the writer did not resume its tree")
    app.close()
    return elapsed


def run(count: int, batch_size: int, rounds: int, workload: str) -> dict[str, Any]:
    figures: dict[str, dict[str, list[float]]] = {
        mode: {"ingest_s": [], "replay_s": [], "index_s": [], "takeover_s": []}
        for mode in ("on", "off")}
    verify_s: list[float] = []
    consume_s: list[float] = []
    tree_work_s: list[float] = []
    events = 0
    with broker() as bootstrap, tempfile.TemporaryDirectory() as data:
        for round_no in range(1, rounds + 1):
            order = ("on", "off") if round_no % 2 else ("off", "on")
            for mode in order:
                tree = mode == "on"
                settings = ledger_settings(bootstrap, Path(data))
                key_store = open_key_store(settings)
                log(f"round {round_no}/{rounds}, tree {mode}: ingest {count} acts ...")
                figures[mode]["ingest_s"].append(
                    ingest(settings, key_store, count, batch_size, workload, tree=tree))
                if tree:
                    tree_work_s.append(TREE_WORK["s"])
                written = len(read_all(bootstrap, settings.kafka.ledger_topic))
                log(f"round {round_no}/{rounds}, tree {mode}: replay, takeover ...")
                index, whole = replay(settings, key_store, written)
                figures[mode]["index_s"].append(index)
                figures[mode]["replay_s"].append(whole)
                figures[mode]["takeover_s"].append(takeover(settings, key_store, tree=tree))
                if tree:
                    log(f"round {round_no}/{rounds}: verify, raw consume ...")
                    audit_log = KafkaAuditLog(bootstrap, settings.kafka.ledger_topic,
                                              settings.kafka.tree_topic,
                                              settings.kafka.checkpoints_topic, 1)
                    started = time.perf_counter()
                    verification = verify_log(audit_log, trusted_audit_keys(settings))
                    verify_s.append(time.perf_counter() - started)
                    if not verification.intact:
                        raise SystemExit("the bench's own ledger does not verify")
                    events = verification.events
                    started = time.perf_counter()
                    if len(read_all(bootstrap, settings.kafka.ledger_topic)) != events:
                        raise SystemExit("raw consume read another number of records")
                    consume_s.append(time.perf_counter() - started)
                key_store.close()

    def med(mode: str, name: str) -> float:
        return median(figures[mode][name])

    return {
        "acts": count, "workload": workload, "records": events, "rounds": rounds,
        "ingest_acts_per_s": {m: round(count / med(m, "ingest_s")) for m in ("on", "off")},
        "ingest_cost": round(med("on", "ingest_s") / med("off", "ingest_s") - 1, 3),
        "tree_work_us_per_act": round(median(tree_work_s) / count * 1e6, 1),
        "tree_work_share_of_ingest": round(median(tree_work_s) / med("on", "ingest_s"), 4),
        "replay_events_per_s": {m: round(events / med(m, "replay_s")) for m in ("on", "off")},
        "replay_cost": round(med("on", "replay_s") / med("off", "replay_s") - 1, 3),
        "index_rebuild_cost": round(med("on", "index_s") / med("off", "index_s") - 1, 3),
        "takeover_s": {m: round(med(m, "takeover_s"), 3) for m in ("on", "off")},
        "verify_events_per_s": round(events / median(verify_s)),
        "raw_consume_events_per_s": round(events / median(consume_s)),
        "verify_ratio": round(median(consume_s) / median(verify_s), 3),
        "spread": {f"{m}_{k}": [round(x, 3) for x in v]
                   for m, named in figures.items() for k, v in named.items()}
        | {"verify_s": [round(x, 3) for x in verify_s],
           "raw_consume_s": [round(x, 3) for x in consume_s],
           "tree_work_s": [round(x, 3) for x in tree_work_s]},
    }


def main() -> None:
    tune_collector_for_writers()  # as `ledger serve` runs its writers
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--acts", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workload", choices=["new-subjects", "mixed"],
                        default="new-subjects")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    result = run(args.acts, args.batch_size, args.rounds, args.workload)
    if args.json:
        print(json.dumps(result))
        return
    on, off = result["ingest_acts_per_s"]["on"], result["ingest_acts_per_s"]["off"]
    print(f"workload: {result['workload']}, {result['acts']:,} acts, "
          f"{result['records']:,} ledger records, medians of {result['rounds']} rounds")
    print(f"ingest: tree on {on:,} acts/s, off {off:,} acts/s: the tree costs "
          f"{result['ingest_cost']:+.1%} end to end; its own work, timed in the writer: "
          f"{result['tree_work_us_per_act']} us per act, "
          f"{result['tree_work_share_of_ingest']:.1%} of ingest")
    replay_on, replay_off = (result["replay_events_per_s"]["on"],
                             result["replay_events_per_s"]["off"])
    print(f"replay: tree on {replay_on:,} events/s, off {replay_off:,} events/s: "
          f"{result['replay_cost']:+.1%} (index rebuild alone "
          f"{result['index_rebuild_cost']:+.1%})")
    print(f"takeover (claim a shard of {result['records']:,} events): tree on "
          f"{result['takeover_s']['on']} s, off {result['takeover_s']['off']} s")
    print(f"verify: {result['verify_events_per_s']:,} events/s; raw consume "
          f"{result['raw_consume_events_per_s']:,} events/s; ratio {result['verify_ratio']}")


if __name__ == "__main__":
    main()
