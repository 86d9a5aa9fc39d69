"""Projections read from Kafka: a full rebuild gives exactly what live catch-up reached.

The same property as the embedded backend's (tests/contract/test_projection_store_contract.py),
with the ledger on a real broker: random act sequences for several subjects, the live
projector catching up at random points in random batch sizes, then a rebuild from the
first offset into a second store; both must agree with each other and with the domain.
"""

from __future__ import annotations

import itertools
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.composition import open_key_store
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.kafka.admin import TopicSpec, ensure_topics
from ledger.policy import load_policy
from projections.sqlite_store import SQLiteProjectionStore
from tests.projection_acts import Scenario, Step, steps
from tests.projection_rebuild import assert_rebuilt_is_live, project_live_then_rebuild

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

NOW = datetime(2026, 1, 1, tzinfo=UTC)
_names = itertools.count()


# Each act is its own Kafka transaction here (~tens of ms), so fewer, shorter examples
# than on the embedded store; the property is the same.
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(acts=steps(subjects=4, max_size=50, min_size=20), data=st.data())
def test_a_rebuild_from_kafka_gives_exactly_what_live_projections_reached(
    kafka_bootstrap: str, acts: list[Step], data: st.DataObject,
) -> None:
    topic = f"projections-{uuid.uuid4().hex}"
    ensure_topics(kafka_bootstrap, [TopicSpec(topic, partitions=1, replication_factor=1)])
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        key_store = open_key_store(Settings().with_data_dir(root))
        app = LedgerApplication(load_policy(), key_store=key_store, env={
            "PERSISTENCE_MODULE": "ledger.kafka.factory",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "KAFKA_LEDGER_TOPIC": topic,
            "KAFKA_SHARD": "0", "KAFKA_TRANSACTIONAL_ID": f"{topic}-writer"})
        # A separate, read-only reader of the shard, as a projector process would be.
        reader_app = LedgerApplication(load_policy(), key_store=key_store, env={
            "PERSISTENCE_MODULE": "ledger.kafka.factory",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "KAFKA_LEDGER_TOPIC": topic,
            "KAFKA_SHARD": "0"})
        live = SQLiteProjectionStore(root / f"live{next(_names)}.sqlite")
        rebuilt = SQLiteProjectionStore(root / f"rebuilt{next(_names)}.sqlite")
        try:
            scenario = Scenario.of(4)
            project_live_then_rebuild(app, scenario, acts, data, live=live, rebuilt=rebuilt,
                                      source=reader_app)

            if scenario.recorded:  # recorded acts must have reached the projections
                assert live.position() > 0
            assert_rebuilt_is_live(reader_app, scenario, live, rebuilt, NOW)
        finally:
            live.close()
            rebuilt.close()
            reader_app.close()
            app.close()
            key_store.close()
