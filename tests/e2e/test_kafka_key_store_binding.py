"""On Kafka the key store is bound to the ledger topic (ledger.kafka.binding), on a real
broker: a new ledger is bound on first use, a key store that is not the ledger's (a
new data directory without it, or another ledger's) is refused with exit 5 by `ledger
serve` and by the Kafka backend's commands before anything is sent or written, a
ledger from before the binding is adopted, and the matching key store just works.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
from kafka import KafkaProducer

from ledger.config import Settings
from tests.kafka_ledger import ledger_env, read_to_end, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]

CANARY = "CANARY-BINDING-KAFKA"
INTEGRITY = 5
KEY_STORE_FILES = ("keys.sqlite", "keys.sqlite-wal", "keys.sqlite-shm")


@dataclass
class KafkaLedger:
    env: dict[str, str]
    data_dir: Path
    subject: str

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def with_data_dir(self, data_dir: Path) -> dict[str, str]:
        return {**self.env, "LEDGER_DATA_DIR": str(data_dir)}


def collected(subject: str) -> dict[str, Any]:
    return {
        "act_id": f"crm-{uuid.uuid4().hex}", "type": "data-collected", "subject_id": subject,
        "actor": "crm", "occurred_at": "2025-03-03T09:00:00+00:00", "purpose": "contact",
        "source_system": "crm", "legal_basis": "legitimate-interest",
        "values": {"name": f"{CANARY} {subject[:8]}",
                   "business-email": f"{subject[:8]}@example.nl"},
    }


def send(env: dict[str, str], subject: str) -> None:
    """An act on the intake topic, as an upstream system sends it."""
    producer = KafkaProducer(bootstrap_servers=env["LEDGER_KAFKA_BOOTSTRAP"], acks="all")
    try:
        producer.send(env["LEDGER_INTAKE_TOPIC"], key=subject.encode(),
                      value=orjson.dumps(collected(subject))).get(timeout=30)
    finally:
        producer.close()


def serve(env: dict[str, str]) -> Any:
    return run_cli(env, "serve", "--exit-when-idle", "2")


def records(env: dict[str, str], topic: str, partitions: int = 2) -> int:
    return len(read_to_end(env["LEDGER_KAFKA_BOOTSTRAP"], topic, range(partitions)))


def kafka_bindings(env: dict[str, str]) -> list[UUID]:
    """The ledger ids on the binding topic, first to last (read independently)."""
    topic = Settings.from_env(env).kafka.binding_topic
    return [UUID(orjson.loads(record.value)["ledger_id"])
            for record in read_to_end(env["LEDGER_KAFKA_BOOTSTRAP"], topic, [0])]


def key_store_binding(data_dir: Path) -> UUID | None:
    with sqlite3.connect(data_dir / "keys.sqlite") as db:
        row = db.execute("SELECT value FROM key_store_meta WHERE name = 'ledger_id'"
                         ).fetchone()
    return None if row is None else UUID(str(row[0]))


def new_ledger(bootstrap: str, data_dir: Path) -> KafkaLedger:
    """Topics made, one act sent and recorded by `ledger serve`."""
    env = ledger_env(bootstrap, data_dir, partitions=2)
    assert run_cli(env, "topics", "ensure").returncode == 0
    assert kafka_bindings(env) == [], "creating the topics binds nothing: no key store"
    subject = str(uuid.uuid4())
    send(env, subject)
    served = serve(env)
    assert served.returncode == 0, served.stderr
    return KafkaLedger(env, data_dir, subject)


@pytest.fixture
def ledger(kafka_bootstrap: str, tmp_path: Path) -> KafkaLedger:
    return new_ledger(kafka_bootstrap, tmp_path / "data")


def shows(env: dict[str, str], subject: str) -> bool:
    shown = run_cli(env, "subject", "show", subject, "--json")
    assert shown.returncode == 0, shown.stderr
    return CANARY in shown.stdout


def assert_refused(result: Any, *ids: UUID) -> None:
    assert result.returncode == INTEGRITY, result.stdout + result.stderr
    assert "key-store-mismatch" in result.stderr
    for ledger_id in ids:
        assert str(ledger_id) in result.stderr
    assert CANARY not in result.stdout + result.stderr
    assert "example.nl" not in result.stdout + result.stderr


def test_a_new_kafka_ledger_is_bound_on_first_use_and_its_key_store_works(
    ledger: KafkaLedger,
) -> None:
    bound = key_store_binding(ledger.data_dir)
    assert bound is not None
    assert kafka_bindings(ledger.env) == [bound]
    assert shows(ledger.env, ledger.subject)
    assert kafka_bindings(ledger.env) == [bound], "written once"


def test_an_empty_key_store_next_to_a_kafka_ledger_with_acts_is_refused_and_nothing_written(
    ledger: KafkaLedger, tmp_path: Path,
) -> None:
    bound = key_store_binding(ledger.data_dir)
    assert bound is not None
    # The data directory restored without its key store (its master key, office and
    # audit keys, projections are all there).
    swapped = tmp_path / "swapped"
    shutil.copytree(ledger.data_dir, swapped)
    for name in KEY_STORE_FILES:
        (swapped / name).unlink(missing_ok=True)
    env = ledger.with_data_dir(swapped)
    kafka = ledger.settings.kafka
    waiting = str(uuid.uuid4())
    send(env, waiting)  # an act `ledger serve` must not record under a new key store
    before = (records(env, kafka.ledger_topic), records(env, kafka.intake_topic))

    assert_refused(serve(env), bound)
    assert_refused(run_cli(env, "subject", "show", ledger.subject), bound)
    act = tmp_path / "act.jsonl"
    act.write_bytes(orjson.dumps(collected(str(uuid.uuid4()))) + b"\n")
    assert_refused(run_cli(env, "record", str(act)), bound)
    assert_refused(run_cli(env, "erase", ledger.subject, "--request", "R-1"), bound)

    assert (records(env, kafka.ledger_topic), records(env, kafka.intake_topic)) == before
    assert not any((swapped / name).exists() for name in KEY_STORE_FILES)
    assert kafka_bindings(env) == [bound]
    # A data directory with nothing in it: no key store, and no master key made either.
    empty = tmp_path / "empty"
    assert_refused(run_cli(ledger.with_data_dir(empty), "subject", "show", ledger.subject),
                   bound)
    assert not (empty / "master.key").exists()
    assert not any((empty / name).exists() for name in KEY_STORE_FILES)
    # Nor an office key pair, which that host alone would trust (`serve` made one before
    # it was refused, until the office keys' first use looked for the ledger on Kafka).
    new_host = tmp_path / "new-host"
    assert_refused(serve(ledger.with_data_dir(new_host)), bound)
    for data_dir in (empty, new_host):
        assert not (data_dir / "office.key").exists()
        assert not (data_dir / "office-public-keys").exists()

    # The matching key store works: it records the act that waited, and reads both.
    served = serve(ledger.env)
    assert served.returncode == 0, served.stderr
    assert shows(ledger.env, waiting)
    assert shows(ledger.env, ledger.subject)


def test_another_ledger_s_key_store_is_refused_naming_both_ledgers(
    ledger: KafkaLedger, kafka_bootstrap: str, tmp_path: Path,
) -> None:
    other = new_ledger(kafka_bootstrap, tmp_path / "other")
    ours, theirs = key_store_binding(ledger.data_dir), key_store_binding(other.data_dir)
    assert ours is not None
    assert theirs is not None
    assert ours != theirs
    env = ledger.with_data_dir(other.data_dir)
    before = records(env, ledger.settings.kafka.ledger_topic)

    assert_refused(serve(env), ours, theirs)
    assert_refused(run_cli(env, "subject", "show", ledger.subject), ours, theirs)

    assert records(env, ledger.settings.kafka.ledger_topic) == before
    assert key_store_binding(other.data_dir) == theirs
    assert shows(other.env, other.subject), "each key store still works with its own"


def test_a_kafka_ledger_from_before_the_binding_is_adopted(ledger: KafkaLedger) -> None:
    # As before the binding: no id in the key store, an empty binding topic.
    with sqlite3.connect(ledger.data_dir / "keys.sqlite") as db:
        db.execute("DELETE FROM key_store_meta WHERE name = 'ledger_id'")
    env = {**ledger.env, "LEDGER_BINDING_TOPIC": f"binding-{uuid.uuid4().hex[:12]}"}
    refused = run_cli(env, "subject", "show", ledger.subject)
    assert refused.returncode == 2, refused.stderr  # the new topic is not there yet
    assert "topics ensure" in refused.stderr
    assert run_cli(env, "topics", "ensure").returncode == 0

    assert shows(env, ledger.subject)

    adopted = key_store_binding(ledger.data_dir)
    assert adopted is not None
    assert kafka_bindings(env) == [adopted]
    served = serve(env)
    assert served.returncode == 0, served.stderr
    assert kafka_bindings(env) == [adopted]
