"""What crypto-shredding costs: sealing per event, key lookups, and shred latency.

    python bench/bench_crypto.py [--subjects 10000] [--events 20000] [--json]
                                 [--postgres-dsn DSN] [--dir DIR]

An "event" is a typical act with five personal string fields (name, email, phone,
organisation, a message), each sealed under the subject's data key with associated
data binding subject, event and field. Shred latency is measured per subject, each
holding two scopes' keys and one email identity, on the SQLite key store (and on
PostgreSQL with ``--postgres-dsn``; a throwaway schema is dropped afterwards).
Progress goes to stderr; results to stdout, as text or as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

# Runnable as a plain script from a checkout, without installing the package.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from ledger.crypto.aead import seal, unseal, versioned_field_aad  # noqa: E402
from ledger.crypto.key_cache import CachingKeyStore  # noqa: E402
from ledger.crypto.key_store_sqlite import SQLiteKeyStore  # noqa: E402
from ledger.crypto.keys import KeyStore  # noqa: E402
from ledger.crypto.master_key import AesGcmMasterKey  # noqa: E402

EVENT_FIELDS = {
    "name": "Annemarie van der Berg-Jansen",
    "email": "annemarie.vanderberg@example-organisation.nl",
    "phone": "+31 (0)20 123 45 67",
    "organisation": "Voorbeeld Organisatie B.V.",
    "message": (
        "Graag ontvang ik meer informatie over de webinar van volgende week, "
        "inclusief de praktische details en een offerte voor drie deelnemers. "
        "Kunt u ook bevestigen of de opname achteraf beschikbaar is?"
    ),
}
SCOPES = ("general", "fiscal")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def bench_sealing(events: int) -> dict[str, float]:
    """Seal and unseal ``events`` five-field events; per-event cost in microseconds."""
    key = os.urandom(32)
    subject = uuid4()
    fields = {name: value.encode() for name, value in EVENT_FIELDS.items()}
    sealed: list[dict[str, bytes]] = []

    started = time.perf_counter()
    for version in range(events):
        sealed.append(
            {
                name: seal(key, value, versioned_field_aad(subject, subject, version, name))
                for name, value in fields.items()
            }
        )
    sealing = time.perf_counter() - started

    started = time.perf_counter()
    for version, blobs in enumerate(sealed):
        for name, blob in blobs.items():
            unseal(key, blob, versioned_field_aad(subject, subject, version, name))
    unsealing = time.perf_counter() - started

    per_event = (sealing + unsealing) / events
    return {
        "events": events,
        "fields_per_event": len(fields),
        "encrypt_us_per_event": sealing / events * 1e6,
        "decrypt_us_per_event": unsealing / events * 1e6,
        "encrypt_decrypt_us_per_event": per_event * 1e6,
        "events_per_second": 1 / per_event,
    }


def bench_store(label: str, store: KeyStore, subjects: int) -> dict[str, float]:
    """Key creation, lookups (uncached and cached), and shred latency on ``store``."""
    ids: list[UUID] = [uuid4() for _ in range(subjects)]
    step = max(1, subjects // 10)
    key_ids: list[UUID] = []

    started = time.perf_counter()
    for index, subject in enumerate(ids):
        for scope in SCOPES:
            key_ids.append(store.data_key(subject, scope).key_id)
        store.bind_identity("email", f"subject{index}@example.org", subject)
        if (index + 1) % step == 0:
            progress(f"{label}: created keys for {index + 1}/{subjects} subjects")
    setup = time.perf_counter() - started

    sample = key_ids[: min(len(key_ids), 5000)]
    started = time.perf_counter()
    for key_id in sample:
        store.key_by_id(key_id)
    uncached = (time.perf_counter() - started) / len(sample)

    cache = CachingKeyStore(store, max_entries=len(sample))
    for key_id in sample:
        cache.key_by_id(key_id)
    started = time.perf_counter()
    for key_id in sample:
        cache.key_by_id(key_id)
    cached = (time.perf_counter() - started) / len(sample)

    latencies: list[float] = []
    for index, subject in enumerate(ids):
        started = time.perf_counter()
        store.shred(subject)
        latencies.append(time.perf_counter() - started)
        if (index + 1) % step == 0:
            progress(f"{label}: shredded {index + 1}/{subjects} subjects")
    latencies.sort()
    return {
        "subjects": subjects,
        "setup_seconds": setup,
        "key_create_ms": setup / subjects / (len(SCOPES) + 1) * 1e3,
        "key_by_id_uncached_us": uncached * 1e6,
        "key_by_id_cached_us": cached * 1e6,
        "shred_p50_ms": percentile(latencies, 0.50) * 1e3,
        "shred_p99_ms": percentile(latencies, 0.99) * 1e3,
        "shred_max_ms": latencies[-1] * 1e3,
    }


@contextmanager
def sqlite_store(directory: Path | None) -> Iterator[KeyStore]:
    with tempfile.TemporaryDirectory(prefix="bench-keys-", dir=directory) as tmp:
        store = SQLiteKeyStore(Path(tmp) / "keys.sqlite", AesGcmMasterKey.random())
        try:
            yield store
        finally:
            store.close()


@contextmanager
def postgres_store(dsn: str) -> Iterator[KeyStore]:
    # Imported here: psycopg is the optional "postgres" extra.
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    from ledger.crypto.key_store_postgres import PostgresKeyStore  # noqa: PLC0415

    schema = f"bench_keys_{uuid4().hex[:12]}"
    store = PostgresKeyStore(dsn, AesGcmMasterKey.random(), schema=schema)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def report(results: dict[str, Any]) -> str:
    sealing = results["sealing"]
    lines = [
        f"sealing ({sealing['events']} events x {sealing['fields_per_event']} personal fields,"
        " AES-256-GCM):",
        f"  encrypt {sealing['encrypt_us_per_event']:.1f} us/event, "
        f"decrypt {sealing['decrypt_us_per_event']:.1f} us/event, "
        f"both {sealing['encrypt_decrypt_us_per_event']:.1f} us/event "
        f"= {sealing['events_per_second']:,.0f} events/s",
    ]
    for label in ("sqlite", "postgres"):
        if label in results:
            store = results[label]
            lines += [
                f"{label} key store ({store['subjects']} subjects, {len(SCOPES)} keys + 1 "
                f"identity each; setup {store['setup_seconds']:.1f}s):",
                f"  create key or identity {store['key_create_ms']:.2f} ms, key_by_id "
                f"{store['key_by_id_uncached_us']:.0f} us uncached / "
                f"{store['key_by_id_cached_us']:.1f} us cached",
                f"  shred p50 {store['shred_p50_ms']:.2f} ms, p99 {store['shred_p99_ms']:.2f} ms,"
                f" max {store['shred_max_ms']:.2f} ms",
            ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--subjects", type=int, default=10_000, help="subjects to shred")
    parser.add_argument("--events", type=int, default=20_000, help="events to seal")
    parser.add_argument("--postgres-dsn", help="also measure the PostgreSQL key store")
    parser.add_argument("--dir", type=Path, help="where the SQLite key store goes (a temp dir)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    options = parser.parse_args(argv)
    if options.subjects < 1 or options.events < 1:
        parser.error("--subjects and --events must be at least 1")

    results: dict[str, Any] = {}
    progress(f"sealing {options.events} events")
    results["sealing"] = bench_sealing(options.events)
    stores: list[tuple[str, Callable[[], Any]]] = [("sqlite", lambda: sqlite_store(options.dir))]
    if options.postgres_dsn:
        stores.append(("postgres", lambda: postgres_store(options.postgres_dsn)))
    for label, open_store in stores:
        with open_store() as store:
            results[label] = bench_store(label, store, options.subjects)
    print(json.dumps(results, indent=2) if options.json else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
