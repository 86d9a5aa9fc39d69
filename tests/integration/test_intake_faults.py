"""The intake writer on a real broker when an act meets a fault rather than a rule.

Only a refusal that would be the same on a retry goes to the rejected topic. A passing
fault (the PostgreSQL key store gone mid-batch) or an unexpected exception aborts the
batch, and the writer, restarted as a supervisor would restart `ledger serve`, reads it
again: every act is recorded exactly once. An act that fails every time is parked after
PARK_AFTER tries, by its intake coordinates and with no value, and the shard goes on.

Faults are injected into the ledger's own code (an application subclass), never into
Kafka or PostgreSQL clients: the broker and the database are real.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from psycopg import sql

from consumers.composition import kafka_env, open_key_store, prepare_data_dir
from consumers.intake_writer import PARK_AFTER_FAILURES, BatchReport, IntakeWriter
from ledger.application import LedgerApplication
from ledger.config import KafkaSettings, Settings
from ledger.crypto.key_cache import CachingKeyStore
from ledger.crypto.key_store_postgres import PostgresKeyStore
from ledger.crypto.keys import KeyStore
from ledger.crypto.master_key import AesGcmMasterKey
from ledger.domain.acts import ActContext
from ledger.errors import KeyStoreError
from ledger.kafka.admin import ensure_topics, required_topic_specs
from ledger.kafka.intake_progress import INTAKE_GROUP
from ledger.policy import load_policy
from tests.kafka_ledger import read_to_end

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CANARY = "CANARY-FAULT"
MASTER = bytes(range(32))

# What the test injects: act id -> the fault to raise (or cause) when it is handled.
Hook = Callable[[str], None]


def faulty_app(hook: Hook) -> type[LedgerApplication]:
    """The ledger's application with ``hook`` run as each collection is handled."""

    class FaultyApplication(LedgerApplication):
        def collect_data(self, subject_id: uuid.UUID, act: ActContext, **kwargs: Any) -> None:
            hook(act.act_id)
            super().collect_data(subject_id, act, **kwargs)

    return FaultyApplication


class FailingAct:
    """A hook for ``faulty_app``: the act ``act_id`` fails (an error quoting a canary) on
    its first ``times`` tries, or on every try; ``tries`` counts every act's tries."""

    def __init__(self, act_id: str, *, times: int | None = None) -> None:
        self.act_id = act_id
        self.times = times
        self.tries: Counter[str] = Counter()

    def __call__(self, act_id: str) -> None:
        self.tries[act_id] += 1
        if act_id == self.act_id and (self.times is None or self.tries[act_id] <= self.times):
            raise RuntimeError(f"{CANARY} fails: {act_id}")


@dataclass
class Shard:
    """Shard 0 of a fresh ledger (one partition), its writer run as `ledger serve` is run
    under a supervisor: a writer whose batch fails stops, and a new one (a new process's
    state: key store and key cache, application, consumers) resumes at the last commit."""

    settings: Settings
    open_keys: Callable[[], KeyStore]
    app_class: type[LedgerApplication] = LedgerApplication
    batch_size: int = 500
    failures: list[Exception] = field(default_factory=list)
    reports: list[BatchReport] = field(default_factory=list)

    def run(self, end: int) -> Exception | None:
        """One life of the writer: until it has consumed the intake topic up to ``end``
        (None), or its batch failed (the error)."""
        key_store = self.open_keys()
        app = self.app_class(load_policy(), env=kafka_env(self.settings, 0, writer=True),
                             key_store=key_store)
        writer = IntakeWriter(app, self.settings.kafka, 0, batch_size=self.batch_size,
                              poll_ms=200)
        try:
            deadline = time.monotonic() + 60
            while writer.consumer.position(writer.intake) < end:
                assert time.monotonic() < deadline, "the writer did not reach the end"
                self.reports.append(writer.run_once())
        except Exception as error:  # noqa: BLE001 - the test looks at what it was
            self.failures.append(error)
            return error
        finally:
            writer.close()
            app.close()
            key_store.close()
        return None

    def supervise(self, end: int, *, restarts: int) -> None:
        """Restarts the writer after each failure, as a supervisor would, until done."""
        for _ in range(restarts + 1):
            if self.run(end) is None:
                return
        pytest.fail(f"still failing after {restarts} restarts: "
                    f"{[type(e).__name__ for e in self.failures]}")


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    tag = uuid.uuid4().hex[:12]
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, ledger_topic=f"ledger-{tag}",
                          intake_topic=f"intake-{tag}", rejected_topic=f"rejected-{tag}",
                          parked_topic=f"parked-{tag}", partitions=1)
    settings = Settings(backend="kafka", data_dir=tmp_path / "data", kafka=kafka,
                        master_key_b64=base64.b64encode(MASTER).decode())
    prepare_data_dir(settings)
    ensure_topics(kafka_bootstrap, required_topic_specs(kafka))
    return settings


def produce_acts(settings: Settings, count: int) -> list[str]:
    """``count`` collections for new subjects, in this order on intake partition 0."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    act_ids = []
    for n in range(count):
        subject = str(uuid.uuid4())
        act = {
            "act_id": f"act-{n}", "type": "data-collected", "subject_id": subject,
            "actor": "crm", "occurred_at": "2025-03-03T09:00:00Z", "purpose": "contact",
            "source_system": "crm", "legal_basis": "legitimate-interest",
            "values": {"name": f"{CANARY}-NAME-{n}", "message-content": f"{CANARY}-MSG-{n}"},
        }
        producer.send(settings.kafka.intake_topic, key=subject.encode(), value=orjson.dumps(act),
                      partition=0)
        act_ids.append(act["act_id"])
    producer.flush(timeout=60)
    producer.close()
    return act_ids


@dataclass(frozen=True)
class Record:
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]

    def raw(self) -> bytes:
        headers = [name.encode() + value for name, value in self.headers.items()]
        return b"".join([self.key or b"", self.value, *headers])

    def document(self) -> dict[str, Any]:
        loaded: dict[str, Any] = orjson.loads(self.value)
        return loaded


def read_topic(settings: Settings, topic: str) -> list[Record]:
    return [Record(r.offset, r.key, r.value, dict(r.headers or []))
            for r in read_to_end(settings.kafka.bootstrap_servers, topic, [0],
                                 within_s=60, poll_ms=200)]


def recorded_act_ids(settings: Settings) -> Counter[str]:
    return Counter(
        record.document()["act_id"] for record in read_topic(settings, settings.kafka.ledger_topic)
        if record.headers["event-topic"].decode().endswith(":DataCollected"))


def committed_intake(settings: Settings) -> Any:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers,
                             group_id=INTAKE_GROUP, enable_auto_commit=False)
    try:
        return consumer.committed(TopicPartition(settings.kafka.intake_topic, 0), metadata=True)
    finally:
        consumer.close()


def rejected_rules(settings: Settings) -> list[tuple[str, str]]:
    return [(r.document()["act_id"], r.document()["rule"])
            for r in read_topic(settings, settings.kafka.rejected_topic)]


# -- (a) the PostgreSQL key store goes away while a batch is handled --------------------


@pytest.fixture
def pg_keys(postgres_dsn: str, postgres_schema: str) -> Callable[[], KeyStore]:
    def open_keys() -> KeyStore:
        inner = PostgresKeyStore(postgres_dsn, AesGcmMasterKey(MASTER), schema=postgres_schema,
                                 pool_size=2, connect_timeout=10)
        return CachingKeyStore(inner)

    return open_keys


def rename_schema(dsn: str, old: str, new: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")  # fail, never hang, if it had to wait
        conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
            sql.Identifier(old), sql.Identifier(new)))


@pytest.mark.postgres
def test_a_key_store_gone_mid_batch_aborts_it_and_every_act_is_recorded_once_after(
    settings: Settings, pg_keys: Callable[[], KeyStore], postgres_dsn: str,
    postgres_schema: str,
) -> None:
    act_ids = produce_acts(settings, 6)
    away = f"{postgres_schema}_away"

    def key_store_goes_away(act_id: str) -> None:
        if act_id == "act-3":  # acts 0-2 made their keys in the batch's transaction
            rename_schema(postgres_dsn, postgres_schema, away)

    shard = Shard(settings, pg_keys, faulty_app(key_store_goes_away))
    # More outages in a row than it takes to park an act: a fault of the store says
    # nothing about the act, so the shard waits for it to clear and never parks one.
    for outage in range(1, PARK_AFTER_FAILURES + 2):
        error = shard.run(end=len(act_ids))
        assert error is not None, (
            f"outage {outage}: the batch committed; rejected: {rejected_rules(settings)}")
        assert isinstance(error, KeyStoreError), repr(error)
        assert rejected_rules(settings) == []
        assert recorded_act_ids(settings) == Counter()
        rename_schema(postgres_dsn, away, postgres_schema)  # the fault clears

    shard.app_class = LedgerApplication  # the store stays up now
    shard.supervise(end=len(act_ids), restarts=0)

    assert recorded_act_ids(settings) == Counter(dict.fromkeys(act_ids, 1))
    assert rejected_rules(settings) == []
    assert read_topic(settings, settings.kafka.parked_topic) == []


# -- (b) an unexpected exception in one act, twice --------------------------------------


def test_an_act_that_fails_twice_unexpectedly_is_retried_and_recorded_once(
    settings: Settings,
) -> None:
    act_ids = produce_acts(settings, 5)
    fails_twice = FailingAct("act-2", times=2)
    shard = Shard(settings, lambda: open_key_store(settings), faulty_app(fails_twice))
    shard.supervise(end=len(act_ids), restarts=PARK_AFTER_FAILURES)

    assert rejected_rules(settings) == [], "a passing fault was turned into a rejection"
    assert [type(e).__name__ for e in shard.failures] == ["RuntimeError"] * 2
    assert fails_twice.tries["act-2"] == 3
    assert recorded_act_ids(settings) == Counter(dict.fromkeys(act_ids, 1))
    assert read_topic(settings, settings.kafka.parked_topic) == []
    committed = committed_intake(settings)
    assert (committed.offset, committed.metadata) == (len(act_ids), "")


# -- (c) a poison act -------------------------------------------------------------------


def test_a_poison_act_is_parked_after_its_tries_and_the_shard_goes_on(
    settings: Settings,
) -> None:
    act_ids = produce_acts(settings, 6)
    poison = FailingAct("act-2")
    shard = Shard(settings, lambda: open_key_store(settings), faulty_app(poison))
    shard.supervise(end=len(act_ids), restarts=PARK_AFTER_FAILURES + 1)

    assert [type(e).__name__ for e in shard.failures] == ["RuntimeError"] * PARK_AFTER_FAILURES
    assert poison.tries["act-2"] == PARK_AFTER_FAILURES  # parked without a further try
    assert rejected_rules(settings) == [], "the poison act was rejected as if refused"
    # The shard moved on: every other act, before and after it, is recorded once.
    assert recorded_act_ids(settings) == Counter(
        {act_id: 1 for act_id in act_ids if act_id != "act-2"})
    assert sum(report.parked for report in shard.reports) == 1
    committed = committed_intake(settings)
    assert (committed.offset, committed.metadata) == (len(act_ids), "")

    (parked,) = read_topic(settings, settings.kafka.parked_topic)
    document = parked.document()
    assert document["intake"] == {"topic": settings.kafka.intake_topic, "partition": 0,
                                  "offset": 2}
    assert document["act_id"] == "act-2"
    assert document["rule"] == "internal-error"
    assert document["error"] == "RuntimeError"
    assert document["failures"] == PARK_AFTER_FAILURES
    # Never a value, nor the exception's message (which quotes one here)...
    assert CANARY.encode() not in parked.raw()
    # ...while the same scan finds it at the parked coordinates on the intake topic, where
    # an operator re-drives the act from (positive control).
    intake = {r.offset: r for r in read_topic(settings, settings.kafka.intake_topic)}
    assert CANARY.encode() in intake[document["intake"]["offset"]].raw()
    assert orjson.loads(intake[2].value)["act_id"] == "act-2"


def test_two_poison_acts_in_small_batches_are_each_parked_and_the_rest_recorded(
    settings: Settings,
) -> None:
    act_ids = produce_acts(settings, 8)
    poisoned = {"act-1", "act-5"}

    def poison(act_id: str) -> None:
        if act_id in poisoned:
            raise RuntimeError(f"{CANARY} poison")

    shard = Shard(settings, lambda: open_key_store(settings), faulty_app(poison), batch_size=3)
    shard.supervise(end=len(act_ids), restarts=2 * PARK_AFTER_FAILURES + 1)

    assert len(shard.failures) == 2 * PARK_AFTER_FAILURES
    assert rejected_rules(settings) == []
    assert recorded_act_ids(settings) == Counter(
        dict.fromkeys((a for a in act_ids if a not in poisoned), 1))
    parked = [r.document() for r in read_topic(settings, settings.kafka.parked_topic)]
    assert [(d["act_id"], d["intake"]["offset"]) for d in parked] == [("act-1", 1), ("act-5", 5)]
    assert committed_intake(settings).offset == len(act_ids)

