"""The ledger's behaviour, unchanged, on the embedded store and on Kafka.

The same tests run against ``eventsourcing.sqlite`` and the Kafka persistence module on
a real broker (one partition, one shard writer): the application must not be able to
tell them apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.composition import open_key_store
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.crypto.keys import KeyStore
from ledger.domain.acts import ActContext
from ledger.domain.values import Erased
from ledger.errors import DuplicateAct, PolicyViolation
from ledger.kafka.admin import TopicSpec, ensure_topics
from ledger.policy import load_policy

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
OpenApp = Callable[[], LedgerApplication]


@pytest.fixture(params=["sqlite", "kafka"])
def open_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenApp]:
    """Opens the application on one backend; a second call is a restart on the same data."""
    key_store: KeyStore = open_key_store(Settings().with_data_dir(tmp_path))
    if request.param == "sqlite":
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
               "SQLITE_DBNAME": str(tmp_path / "events.sqlite")}
    else:
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        topic = f"backend-{uuid.uuid4().hex}"
        ensure_topics(bootstrap, [TopicSpec(topic, partitions=1, replication_factor=1)])
        env = {"PERSISTENCE_MODULE": "ledger.kafka.factory",
               "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_LEDGER_TOPIC": topic,
               "KAFKA_SHARD": "0", "KAFKA_TRANSACTIONAL_ID": f"{topic}-writer"}
    opened: list[LedgerApplication] = []

    def open_one() -> LedgerApplication:
        app = LedgerApplication(load_policy(), env=env, key_store=key_store)
        opened.append(app)
        return app

    yield open_one
    for app in opened:
        app.close()
    key_store.close()


def act(n: int, days: int = 0) -> ActContext:
    return ActContext(f"act-{n}", "crm", T0.replace(day=3 + days))


CUSTOMER = {"name": "CANARY-B-NAME", "business-email": "b@example.nl",
            "invoice-details": "CANARY-B-INVOICE"}


def test_acts_are_recorded_and_refused_alike(open_app: OpenApp) -> None:
    app = open_app()
    subject = uuid.uuid4()
    app.collect_data(subject, act(1), purpose="service-delivery", values=CUSTOMER,
                     source_system="crm", legal_basis="contract")
    with pytest.raises(PolicyViolation) as refused:
        app.collect_data(subject, act(2), purpose="service-delivery",
                         values={"job-title": "x"}, source_system="crm",
                         legal_basis="contract")
    assert refused.value.rule == "category-not-in-purpose"
    app.record_processing(subject, act(3), purpose="service-delivery", operation="invoice",
                          categories=["invoice-details"])
    with pytest.raises(DuplicateAct):
        app.record_processing(subject, act(3), purpose="service-delivery",
                              operation="invoice", categories=["invoice-details"])
    assert [type(e).__name__ for e in app.history(subject)] == [
        "Registered", "DataCollected", "DataProcessed"]
    assert app.subject(subject).state.holdings["service-delivery"] == CUSTOMER


def test_erasure_keeps_fiscal_records_and_a_restart_replays_the_same(
    open_app: OpenApp,
) -> None:
    app = open_app()
    subject = uuid.uuid4()
    app.collect_data(subject, act(1), purpose="service-delivery", values=CUSTOMER,
                     source_system="crm", legal_basis="contract")
    app.request_erasure(subject, act(2), request_ref="E-1", channel="email")
    plan = app.carry_out_erasure(subject, act(3, days=1), request_ref="E-1")
    # A scope per purpose, and one per fiscal year (2025 here): see README, retention.
    assert plan.shred == {"general-service-delivery"}
    assert set(plan.keep) == {"fiscal-2025"}
    before = app.subject(subject).state
    assert before.holdings["service-delivery"]["name"] == Erased("general-service-delivery")
    assert before.holdings["service-delivery"]["invoice-details"] == "CANARY-B-INVOICE"

    restarted = open_app()  # a fresh process' view: Kafka rebuilds its index from the log
    after = restarted.subject(subject).state
    assert after == before
    assert [type(e).__name__ for e in restarted.history(subject)][-2:] == [
        "ErasureRefusedInPart", "ErasureCompleted"]


def test_notifications_are_in_recording_order(open_app: OpenApp) -> None:
    app = open_app()
    subjects = [uuid.uuid4() for _ in range(3)]
    for n, subject in enumerate(subjects):
        app.give_consent(subject, act(n), purpose="website", channel="banner",
                         notice_version="cookie-2024", proof_ref=f"cb/{n}")
    notifications = app.recorder.select_notifications(start=None, limit=100)
    ids = [n.id for n in notifications]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    recorded = [n.originator_id for n in notifications if n.topic.endswith(":ConsentGiven")]
    assert recorded == subjects
