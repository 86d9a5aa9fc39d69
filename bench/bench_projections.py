"""DSAR read latency and rebuild throughput of the projections.

    python bench/bench_projections.py [--subjects 10000 100000] [--samples 2000]
                                      [--json] [--dir DIR]

For each size, a fresh embedded ledger is filled with subjects, each with a typical
history (registration, a customer collection with general and fiscal values, consent,
a demo-request collection, processing, a disclosure; some with an access request,
some extended, some erased): aggregates are built in memory and saved a thousand at a
time, through the application's own mapper (values sealed under per-subject keys).
Then every projection is rebuilt from the start of the log (events per second), and
``LedgerReader.subject_view`` (what `ledger subject show` uses) and
``LedgerReader.export`` (what `ledger dsar export` uses) are timed on random subjects:
p50 and p99 in milliseconds. Progress goes to stderr; results to stdout, as a table
or as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

# Runnable as a plain script from a checkout, without installing the package.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from consumers.composition import open_ledger  # noqa: E402
from consumers.projection_runner import CatchUp, projector_for, reader_for, rebuild  # noqa: E402
from ledger.application import LedgerApplication  # noqa: E402
from ledger.config import Settings  # noqa: E402
from ledger.domain.acts import ActContext  # noqa: E402
from ledger.domain.subject import DataSubject  # noqa: E402
from projections.sqlite_store import SQLiteProjectionStore  # noqa: E402

SAVE_CHUNK = 1000
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def progress(message: str, *, end: str = "\n") -> None:
    print(message, file=sys.stderr, end=end, flush=True)


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def subject_history(app: LedgerApplication, n: int, rng: random.Random) -> DataSubject:
    """One subject's typical acts, checked by the domain's rules, not yet saved."""
    policy, subject_id = app.policy, uuid4()
    moment = T0 + timedelta(minutes=n)

    def act(step: int, actor: str = "crm") -> ActContext:
        return ActContext(f"bench-{n}-{step}", actor, moment + timedelta(days=step))

    s = DataSubject.register(subject_id, policy, act(0))
    s.collect(policy, act(0), purpose="service-delivery", source_system="crm",
              legal_basis="contract", values={
                  "name": f"Klant {n} van der Berg", "business-email": f"klant{n}@example.nl",
                  "business-phone": f"+31 20 {n:07d}", "organisation-name": f"Bedrijf {n} BV",
                  "invoice-details": f"INV-2025-{n:06d}", "payment-details": f"NL{n:016d}"})
    s.give_consent(policy, act(1, "website"), purpose="demo-request", channel="web-form",
                   notice_version=policy.version, proof_ref=f"form/{n}")
    s.collect(policy, act(1, "website"), purpose="demo-request", source_system="website",
              legal_basis="consent", values={
                  "name": f"Klant {n} van der Berg", "job-title": "Servicedesk manager",
                  "business-phone": f"+31 20 {n:07d}", "business-email": f"klant{n}@example.nl",
                  "organisation-name": f"Bedrijf {n} BV"})
    s.process(policy, act(2, "invoicing"), purpose="service-delivery", operation="invoice",
              categories=["invoice-details", "payment-details"])
    s.share(policy, act(3), purpose="service-delivery", recipient="Mailhouse BV",
            recipient_kind="it-supplier", ground="processor", categories=["name"])
    if rng.random() < 0.10:
        s.request_access(policy, act(4), request_ref=f"DSAR-{n}", channel="email")
        if rng.random() < 0.3:
            s.extend_request_deadline(policy, act(5, "privacy-office"),
                                      request_ref=f"DSAR-{n}", extended_by_months=2,
                                      reason_code="complexity")
    return s


def generate(app: LedgerApplication, subjects: int, seed: int) -> list[UUID]:
    rng = random.Random(seed)
    ids: list[UUID] = []
    started = time.perf_counter()
    for start in range(0, subjects, SAVE_CHUNK):
        chunk = [subject_history(app, n, rng)
                 for n in range(start, min(subjects, start + SAVE_CHUNK))]
        app.save(*chunk)  # one transaction per thousand subjects
        ids.extend(s.id for s in chunk)
        rate = len(ids) / (time.perf_counter() - started)
        progress(f"\r  generated {len(ids):,}/{subjects:,} subjects ({rate:,.0f}/s)", end="")
    progress("")
    # A few erasures, so some views read erased values.
    for n, subject_id in enumerate(rng.sample(ids, k=max(1, subjects // 100))):
        act = ActContext(f"bench-erase-{n}", "privacy-office", T0 + timedelta(days=30))
        app.request_erasure(subject_id, act, request_ref=f"E-{n}", channel="email")
        app.carry_out_erasure(subject_id, act, request_ref=f"E-{n}")
    return ids


def timed(function: Callable[[UUID], Any], ids: list[UUID]) -> dict[str, float]:
    for subject_id in ids[:100]:  # warm the statement and page caches
        function(subject_id)
    samples = []
    for subject_id in ids:
        started = time.perf_counter_ns()
        function(subject_id)
        samples.append((time.perf_counter_ns() - started) / 1e6)
    samples.sort()
    return {"p50_ms": round(percentile(samples, 0.50), 3),
            "p99_ms": round(percentile(samples, 0.99), 3),
            "max_ms": round(samples[-1], 3)}


def run(subjects: int, samples: int, directory: Path) -> dict[str, Any]:
    settings = Settings().with_data_dir(directory / f"ledger-{subjects}")
    progress(f"{subjects:,} subjects in {settings.data_dir}")
    with open_ledger(settings) as app:
        started = time.perf_counter()
        ids = generate(app, subjects, seed=subjects)
        generation = time.perf_counter() - started
        store = SQLiteProjectionStore(settings.projection_store_path)
        try:
            def show(report: CatchUp) -> None:
                if report.batches % 20 == 0:
                    progress(f"\r  rebuilding: {report.events:,}/{report.last_id:,} events",
                             end="")

            report = rebuild(app.recorder, projector_for(app), store, progress=show)
            progress("")
            rebuild_seconds = report.elapsed
            reader = reader_for(app, store)
            rng = random.Random(1)
            view = timed(reader.subject_view, rng.choices(ids, k=samples))
            export = timed(reader.export, rng.choices(ids, k=max(100, samples // 4)))
        finally:
            store.close()
    size = sum(p.stat().st_size for p in settings.data_dir.glob("projections.sqlite*"))
    return {
        "subjects": subjects, "events": report.events,
        "generation_seconds": round(generation, 1),
        "rebuild_seconds": round(rebuild_seconds, 2),
        "rebuild_events_per_second": round(report.events / rebuild_seconds),
        "subject_view": view, "dsar_export": export,
        "projection_store_mb": round(size / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--samples", type=int, default=2000, help="reads timed per size")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--dir", type=Path, help="where the ledgers go (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        results = [run(n, args.samples, Path(directory)) for n in args.subjects]
    if args.json:
        print(json.dumps({"results": results}, indent=2))
        return 0
    print(f"{'subjects':>9} {'events':>9} {'rebuild ev/s':>13} {'view p50':>9} "
          f"{'view p99':>9} {'export p50':>11} {'export p99':>11} {'store MB':>9}")
    for r in results:
        print(f"{r['subjects']:>9,} {r['events']:>9,} {r['rebuild_events_per_second']:>13,} "
              f"{r['subject_view']['p50_ms']:>7.2f}ms {r['subject_view']['p99_ms']:>7.2f}ms "
              f"{r['dsar_export']['p50_ms']:>9.2f}ms {r['dsar_export']['p99_ms']:>9.2f}ms "
              f"{r['projection_store_mb']:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
