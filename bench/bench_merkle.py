"""What the verifiable log costs per event: leaf hashing, the frontier, replay, proofs.

    python bench/bench_merkle.py [--events 200000] [--state-bytes 600] [--rounds 3]
                                 [--checkpoint-every 1000] [--json]

Hash-only, in memory, no store: the leaves are events as stored (``EventLeaf``, a state
of ``--state-bytes`` random bytes standing in for sealed values and metadata), so the
figures are the tree's own cost per event, to set beside the ingest and replay rates of
bench_kafka.py. Each figure is the median of ``--rounds`` rounds.

- leaf: encode the leaf and hash it (SHA-256 of the state, then of the leaf data);
- append: add a leaf hash to the frontier (amortised: about one node hash per leaf);
- writer: both, what the shard's writer adds per event, plus storing the frontier;
- verify: recompute every leaf from its stored event, append, place its sequence and
  compare with signed roots every ``--checkpoint-every`` events (``LogReplay``);
- proofs: build the whole tree in memory once (``MerkleTree``, O(n) hashes, what an
  export does), then make and verify (both O(log n)) inclusion and consistency proofs.

Progress goes to stderr; results to stdout, as text or as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Runnable as a plain script from a checkout, without installing the package.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from ledger.audit.frontier import Frontier  # noqa: E402
from ledger.audit.leaves import EventLeaf  # noqa: E402
from ledger.audit.merkle import verify_consistency, verify_inclusion  # noqa: E402
from ledger.audit.replay import LogReplay  # noqa: E402
from ledger.audit.tree import MerkleTree  # noqa: E402

TOPIC = "ledger.domain.subject:DataSubject.DataCollected"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median_seconds(rounds: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def make_events(count: int, state_bytes: int) -> list[EventLeaf]:
    subjects = [f"{os.urandom(16).hex()}" for _ in range(max(1, count // 4))]
    return [EventLeaf(i, subjects[i % len(subjects)], i // len(subjects) + 1, TOPIC,
                      os.urandom(state_bytes)) for i in range(count)]


def bench(events: int, state_bytes: int, rounds: int, every: int) -> dict[str, Any]:
    progress(f"making {events} events of {state_bytes} state bytes")
    log = make_events(events, state_bytes)
    hashes = [e.leaf_hash() for e in log]
    results: dict[str, Any] = {"events": events, "state_bytes": state_bytes,
                               "rounds": rounds, "checkpoint_every": every}

    progress("leaf hashing")
    leaf_s = median_seconds(rounds, lambda: [e.leaf_hash() for e in log])
    progress("frontier appends")
    append_s = median_seconds(rounds, lambda: Frontier.of(hashes))

    def writer() -> None:
        frontier = Frontier()
        for start in range(0, events, 100):  # batches of 100, frontier stored per batch
            for event in log[start:start + 100]:
                frontier.append(event.leaf_hash())
            frontier.to_bytes()

    progress("writer path (leaf, append, frontier per batch of 100)")
    writer_s = median_seconds(rounds, writer)

    frontier = Frontier()
    signed: dict[int, bytes] = {}
    for count, leaf in enumerate(hashes, start=1):
        frontier.append(leaf)
        if count % every == 0 or count == events:
            signed[count] = frontier.root()

    def verify() -> None:
        replay = LogReplay("bench/shard-0", signed)
        for event in log:
            replay.add(event.leaf_hash(), event.sequence)
        if not replay.finish().intact:
            raise SystemExit("the benchmark's own log did not verify")

    progress("verify (replay against signed roots)")
    verify_s = median_seconds(rounds, verify)

    progress("proofs")
    index, old = events // 3, events // 2
    root, old_root = signed[events], Frontier.of(hashes[:old]).root()
    build_s = median_seconds(rounds, lambda: MerkleTree(hashes))
    tree = MerkleTree(hashes)
    path, proof = tree.inclusion_proof(index), tree.consistency_proof(old)
    proof_rounds = 1000
    results.update({
        "leaf_us": leaf_s / events * 1e6,
        "append_us": append_s / events * 1e6,
        "writer_us_per_event": writer_s / events * 1e6,
        "writer_events_per_s": events / writer_s,
        "append_leaves_per_s": events / append_s,
        "verify_events_per_s": events / verify_s,
        "frontier_bytes": len(frontier.to_bytes()),
        "tree_build_ms": build_s * 1e3,
        "inclusion_proof_make_us": median_seconds(
            proof_rounds, lambda: tree.inclusion_proof(index)) * 1e6,
        "inclusion_proof_verify_us": median_seconds(
            proof_rounds, lambda: verify_inclusion(index, events, hashes[index], path,
                                                   root)) * 1e6,
        "inclusion_proof_hashes": len(path),
        "consistency_proof_make_us": median_seconds(
            proof_rounds, lambda: tree.consistency_proof(old)) * 1e6,
        "consistency_proof_verify_us": median_seconds(
            proof_rounds, lambda: verify_consistency(old, events, old_root, root,
                                                     proof)) * 1e6,
    })
    return results


def report(results: dict[str, Any]) -> str:
    r = results
    return "\n".join([
        f"{r['events']} events, {r['state_bytes']} state bytes each, median of "
        f"{r['rounds']} rounds",
        f"  leaf (encode + hash)       {r['leaf_us']:8.2f} us/event",
        f"  frontier append            {r['append_us']:8.2f} us/event  "
        f"({r['append_leaves_per_s']:,.0f} leaves/s)",
        f"  writer (both + store)      {r['writer_us_per_event']:8.2f} us/event  "
        f"({r['writer_events_per_s']:,.0f} events/s)",
        f"  verify (replay)            {r['verify_events_per_s']:12,.0f} events/s  "
        f"(signed root every {r['checkpoint_every']})",
        f"  frontier stored            {r['frontier_bytes']:8d} bytes",
        f"  whole tree in memory       {r['tree_build_ms']:8.1f} ms to build",
        f"  inclusion proof            {r['inclusion_proof_make_us']:8.1f} us to make, "
        f"{r['inclusion_proof_verify_us']:.1f} us to verify "
        f"({r['inclusion_proof_hashes']} hashes)",
        f"  consistency proof          {r['consistency_proof_make_us']:8.1f} us to make, "
        f"{r['consistency_proof_verify_us']:.1f} us to verify",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--state-bytes", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    options = parser.parse_args(argv)
    if options.events < 2:
        parser.error("--events must be at least 2")
    results = bench(options.events, options.state_bytes, options.rounds,
                    options.checkpoint_every)
    print(json.dumps(results, indent=2) if options.json else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
