"""What the tests that run the ledger on a real broker share: the environment of a
ledger of their own (fresh topics, their own data directory), the command line run in
it, acts as the CRM sends them, and topics read back to their end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def ledger_env(bootstrap: str, data_dir: Path, *, partitions: int,
               inherit_ledger_settings: bool = False, **extra: str) -> dict[str, str]:
    """The environment of `ledger` processes on topics of their own (named with a fresh
    tag) on the broker at ``bootstrap``, with ``extra`` settings. The LEDGER_ settings
    of this process's environment are left out, unless ``inherit_ledger_settings``."""
    tag = uuid.uuid4().hex[:12]
    inherited = {k: v for k, v in os.environ.items()
                 if inherit_ledger_settings or not k.startswith("LEDGER_")}
    return {
        **inherited,
        "LEDGER_BACKEND": "kafka", "LEDGER_KAFKA_BOOTSTRAP": bootstrap,
        "LEDGER_LEDGER_TOPIC": f"ledger-{tag}", "LEDGER_INTAKE_TOPIC": f"intake-{tag}",
        "LEDGER_REJECTED_TOPIC": f"rejected-{tag}", "LEDGER_PARKED_TOPIC": f"parked-{tag}",
        "LEDGER_PARTITIONS": str(partitions), "LEDGER_DATA_DIR": str(data_dir),
        **extra,
    }


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``ledger ARGS...`` in a fresh interpreter with ``env``; never raises on exit codes."""
    return subprocess.run([sys.executable, "-m", "consumers.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def collected_for_contact(subject: str, values: dict[str, str]) -> dict[str, Any]:
    """A data-collected act of the CRM for the contact purpose, holding ``values``."""
    return {
        "act_id": f"crm-{uuid.uuid4().hex}", "type": "data-collected", "subject_id": subject,
        "actor": "crm", "occurred_at": "2025-03-03T09:00:00+00:00", "purpose": "contact",
        "source_system": "crm", "legal_basis": "legitimate-interest", "values": values,
    }


def read_to_end(bootstrap: str, topic: str, partitions: Iterable[int], *,
                isolation_level: str = "read_committed", within_s: float = 120,
                poll_ms: int = 500) -> list[Any]:
    """Every record of ``partitions`` of ``topic`` a consumer with ``isolation_level``
    sees, from the beginning up to the end offsets it reports (for read_committed, the
    last stable offset: past any abort marker, so stopping there hides nothing)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, isolation_level=isolation_level)
    try:
        assigned = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned)
        records: list[Any] = []
        deadline = time.monotonic() + within_s
        while any(consumer.position(p) < end[p] for p in assigned):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in consumer.poll(timeout_ms=poll_ms).values():
                records += batch
        return records
    finally:
        consumer.close()
