"""The ``ProjectionStore`` contract: the SQLite and PostgreSQL adapters pass the same tests.

``ProjectionStoreContract`` holds the tests and asks its subclass only how to open a
store by name (the same name reopens the same storage). Besides the port's own
behaviour (a batch and its position together or not at all, ordered indexed reads),
it runs the projector against the embedded ledger: a rebuild from the start of the log
gives exactly what the live projections reached (hypothesis), and a projector stopped
by a failing event resumes exactly there.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

from consumers.composition import open_ledger
from consumers.projection_runner import catch_up, follow, projector_for, rebuild
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.domain.values import Erased
from projections.errors import PositionMoved, ProjectionError, ProjectionFailed
from projections.postgres_store import PostgresProjectionStore
from projections.projector import Projector
from projections.rows import (
    AuditRow,
    Changes,
    DisclosureRow,
    RequestRow,
    RopaKey,
    ScheduleRow,
    SubjectRow,
    ValueRow,
)
from projections.sqlite_store import SQLiteProjectionStore
from projections.store import ProjectionStore
from tests.postgres_fixtures import InFreshSchemas
from tests.projection_acts import Scenario, Step, apply_step, steps
from tests.projection_rebuild import assert_rebuilt_is_live, project_live_then_rebuild

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def audit(n: int, subject: UUID | None, at: datetime) -> AuditRow:
    return AuditRow(n, subject, n, "DataProcessed", "ledger.domain.events:DataProcessed",
                    f"act-{n}", "crm", "2021-12-24", at, at + timedelta(seconds=1), b"{}")


def batch(position: int, subject: UUID, *, first: int = 1, doc: bytes = b"{}") -> Changes:
    changes = Changes(position=position)
    changes.subjects[subject] = SubjectRow(subject, position, position, doc)
    for n in range(first, position + 1):
        changes.audit.append(audit(n, subject, T0 + timedelta(days=n)))
    return changes


class ProjectionStoreContract(ABC):
    _opened: list[ProjectionStore]
    _names: itertools.count[int]

    @abstractmethod
    def open_store(self, name: str) -> ProjectionStore:
        """Open (creating if needed) the storage called ``name`` for this test."""

    @pytest.fixture(autouse=True)
    def _close_stores_after_test(self) -> Iterator[None]:
        self._opened = []
        self._names = itertools.count()
        yield
        for store in self._opened:
            store.close()

    def store(self, name: str = "main") -> ProjectionStore:
        store = self.open_store(name)
        self._opened.append(store)
        return store

    def commit(self, store: ProjectionStore, changes: Changes) -> None:
        transaction = store.begin(store.position())
        transaction.write(changes)
        transaction.commit()

    # -- position and transactions ------------------------------------------------------

    def test_a_new_store_is_empty_at_position_zero(self) -> None:
        store = self.store()
        assert store.position() == 0
        assert all(rows == [] for rows in store.snapshot().values())

    def test_a_committed_batch_is_there_with_its_position(self) -> None:
        store, subject = self.store(), uuid4()
        self.commit(store, batch(3, subject, doc=b'{"v": 3}'))
        assert store.position() == 3
        assert store.subject_doc(subject) == b'{"v": 3}'
        assert [r.notification_id for r in store.audit_rows()] == [1, 2, 3]
        assert store.subject_count() == 1

    def test_a_rolled_back_batch_leaves_nothing(self) -> None:
        store, subject = self.store(), uuid4()
        transaction = store.begin(0)
        transaction.write(batch(3, subject))
        transaction.rollback()
        assert store.position() == 0
        assert store.subject_doc(subject) is None
        assert store.audit_rows() == []

    def test_a_batch_failing_halfway_leaves_nothing_not_even_its_rows_before(self) -> None:
        store, subject = self.store(), uuid4()
        self.commit(store, batch(2, subject))
        changes = batch(4, subject, first=3)
        changes.audit.append(audit(3, subject, T0))  # a duplicate id: the insert fails
        transaction = store.begin(2)
        with pytest.raises(ProjectionError) as caught:
            transaction.write(changes)
        assert "notification" not in str(caught.value) or "3" in str(caught.value)
        transaction.rollback()
        assert store.position() == 2
        assert [r.notification_id for r in store.audit_rows()] == [1, 2]

    def test_begin_refuses_a_stale_position(self) -> None:
        first, second = self.store("shared"), self.store("shared")
        self.commit(first, batch(5, uuid4()))
        with pytest.raises(PositionMoved):
            second.begin(0)
        transaction = second.begin(5)  # from the position it finds, it may go on
        transaction.rollback()

    def test_a_batch_must_move_the_position_forward(self) -> None:
        store = self.store()
        self.commit(store, batch(5, uuid4()))
        transaction = store.begin(5)
        with pytest.raises(ProjectionError):
            transaction.write(Changes(position=5))
        transaction.rollback()

    def test_reset_empties_everything_and_rewinds(self) -> None:
        store = self.store()
        self.commit(store, batch(5, uuid4()))
        store.reset()
        assert store.position() == 0
        assert all(rows == [] for rows in store.snapshot().values())

    def test_rows_and_position_survive_reopening(self) -> None:
        store, subject = self.store("durable"), uuid4()
        self.commit(store, batch(4, subject))
        store.close()
        again = self.store("durable")
        assert again.position() == 4
        assert again.subject_doc(subject) == b"{}"

    def test_load_docs_returns_the_stored_ones_only(self) -> None:
        store, known, unknown = self.store(), uuid4(), uuid4()
        self.commit(store, batch(1, known, doc=b'{"k": 1}'))
        transaction = store.begin(1)
        try:
            assert dict(transaction.load_docs([known, unknown])) == {known: b'{"k": 1}'}
            assert dict(transaction.load_docs([])) == {}
        finally:
            transaction.rollback()

    # -- derived rows and reads ---------------------------------------------------------

    def test_derived_rows_of_a_touched_subject_are_replaced_whole(self) -> None:
        store, a, b = self.store(), uuid4(), uuid4()
        changes = batch(1, a)
        changes.schedules = {a: [ScheduleRow(a, "general", None, ()),
                                 ScheduleRow(a, "fiscal", T0, ("H-1",))],
                             b: [ScheduleRow(b, "general", T0, ())]}
        changes.requests = {a: [RequestRow(a, 0, "R-1", "access", "email", "x", T0,
                                           T0 + timedelta(days=31), 0, (), "open", None)]}
        self.commit(store, changes)
        later = Changes(position=2)
        later.schedules = {a: [ScheduleRow(a, "fiscal", T0, ())]}
        later.requests = {a: []}
        self.commit(store, later)
        assert [(r.subject_id, r.scope, r.holds) for r in store.schedule_rows()] == [
            (a, "fiscal", ()), (b, "general", ())] if a.bytes < b.bytes else [
            (b, "general", ()), (a, "fiscal", ())]
        assert store.request_rows(open_only=False) == []

    def test_schedule_reads_by_due_date_with_untriggered_last(self) -> None:
        store, a = self.store(), uuid4()
        changes = Changes(position=1)
        changes.schedules = {a: [ScheduleRow(a, "general", None, ()),
                                 ScheduleRow(a, "fiscal", T0 + timedelta(days=9), ()),
                                 ScheduleRow(a, "other", T0, ())]}
        self.commit(store, changes)
        assert [r.scope for r in store.schedule_rows()] == ["other", "fiscal", "general"]
        assert [r.scope for r in store.schedule_rows(until=T0 + timedelta(days=1))] == [
            "other", "general"]
        assert [r.scope for r in store.schedule_rows(
            until=T0 + timedelta(days=1), include_untriggered=False)] == ["other"]
        assert [r.due_at for r in store.schedule_rows(subject_id=uuid4())] == []
        assert store.schedule_rows()[0].due_at == T0

    def test_requests_read_open_ones_by_deadline(self) -> None:
        store, a, b = self.store(), uuid4(), uuid4()
        changes = Changes(position=1)
        due_a, due_b = T0 + timedelta(days=40), T0 + timedelta(days=20)
        changes.requests = {
            a: [RequestRow(a, 0, "R-1", "access", "email", "x", T0, due_a, 1,
                           ("complexity",), "open", None),
                RequestRow(a, 1, "R-0", "access", "email", "y", T0, T0, 0, (), "fulfilled",
                           T0 + timedelta(days=2))],
            b: [RequestRow(b, 0, "R-9", "erasure", "web", "z", T0, due_b, 0, (), "open",
                           None)]}
        self.commit(store, changes)
        assert [(r.request_ref, r.due_at) for r in store.request_rows()] == [
            ("R-9", due_b), ("R-1", due_a)]
        assert store.request_rows()[1].reasons == ("complexity",)
        assert len(store.request_rows(open_only=False)) == 3
        assert [r.seq for r in store.request_rows(open_only=False, subject_id=a)] == [1, 0]

    def test_audit_reads_filter_by_subject_and_both_timestamps(self) -> None:
        store, a, b = self.store(), uuid4(), uuid4()
        changes = Changes(position=4)
        changes.audit = [audit(1, a, T0), audit(2, b, T0 + timedelta(days=1)),
                         audit(3, a, T0 + timedelta(days=2)), audit(4, None, T0)]
        self.commit(store, changes)
        assert [r.notification_id for r in store.audit_rows(subject_id=a)] == [1, 3]
        assert [r.notification_id for r in store.audit_rows(
            occurred_until=T0 + timedelta(days=1))] == [1, 2, 4]
        assert [r.notification_id for r in store.audit_rows(
            recorded_until=T0 + timedelta(seconds=1))] == [1, 4]
        assert [r.notification_id for r in store.audit_rows(after=1, limit=2)] == [2, 3]
        assert store.audit_rows()[3].subject_id is None
        assert store.audit_rows()[0] == audit(1, a, T0)

    def test_values_disclosures_and_counts_round_trip(self) -> None:
        store, a = self.store(), uuid4()
        key = uuid4()
        changes = Changes(position=2)
        changes.values = [ValueRow(1, a, 2, "values", "name", "contact", "general", key,
                                   b"\x00sealed\xff", "DataCollected", "act-1", T0)]
        changes.disclosures = [DisclosureRow(2, a, "PostNL", "postal-service", "contact",
                                             "processor", ("name", "business-address"),
                                             "act-2", T0)]
        changes.count(RopaKey("contact", "category", "name"), T0 + timedelta(days=1))
        self.commit(store, changes)
        more = Changes(position=3)
        more.count(RopaKey("contact", "category", "name"), T0)
        more.count(RopaKey("contact", "recipient", "PostNL", "postal-service"), T0)
        self.commit(store, more)
        assert store.value_rows(a) == changes.values
        assert store.disclosure_rows(recipient="PostNL") == changes.disclosures
        assert store.disclosure_rows(recipient="Other") == []
        counts = {r.key: (r.count.acts, r.count.first_at, r.count.last_at)
                  for r in store.ropa_rows()}
        assert counts[RopaKey("contact", "category", "name")] == (
            2, T0, T0 + timedelta(days=1))
        assert counts[RopaKey("contact", "recipient", "PostNL", "postal-service")][0] == 1

    # -- the projector on the embedded ledger -------------------------------------------

    @pytest.mark.slow
    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.differing_executors])
    @given(acts=steps(subjects=6, max_size=120, min_size=30), data=st.data())
    def test_a_rebuild_gives_exactly_what_the_live_projections_reached(
        self, acts: list[Step], data: st.DataObject,
    ) -> None:
        with tempfile.TemporaryDirectory() as directory, open_ledger(
                Settings().with_data_dir(Path(directory))) as app:
            name = next(self._names)
            live, rebuilt = self.store(f"live{name}"), self.store(f"rebuilt{name}")
            scenario = Scenario.of(6)
            project_live_then_rebuild(app, scenario, acts, data, live=live, rebuilt=rebuilt)
            # Steer towards long, varied histories; a sequence of refusals proves little.
            kinds = {kind for _, _, kind in scenario.recorded}
            target(float(len(scenario.recorded)), label="acts recorded")
            target(float(len(kinds)), label="kinds of act recorded")
            event(f"acts recorded: {len(scenario.recorded) // 10 * 10}+")
            event(f"kinds recorded: {len(kinds) // 5 * 5}+")

            live_reader, views = assert_rebuilt_is_live(app, scenario, live, rebuilt, NOW)
            for subject_id, view in views.items():
                assert_view_matches_the_domain(app, subject_id, view)
                held = live_reader.held_as_of(subject_id, scenario.now)
                assert [(v["purpose"], v["category"], v["status"])
                        for v in held["personal_data"]] == [
                    (v["purpose"], v["category"], v["status"])
                    for v in view["personal_data"]]

    def test_a_failing_event_stops_the_projector_which_resumes_exactly_there(self) -> None:
        with tempfile.TemporaryDirectory() as directory, open_ledger(
                Settings().with_data_dir(Path(directory))) as app:
            scenario = Scenario.of(3)
            for n in range(30):
                apply_step(app, scenario, (n % 3, "collect", n, 1))
                apply_step(app, scenario, (n % 3, "share", n, 1))
            real = projector_for(app)
            poisoned = app.recorder.select_notifications(1, 1000)[17].id
            broken = {"on": True}

            def decode(stored: object) -> object:
                if broken["on"] and getattr(stored, "id", None) == poisoned:
                    raise ValueError("simulated failure")
                return app.mapper.to_sealed_event(stored)  # type: ignore[attr-defined]

            store = self.store("resumed")
            with pytest.raises(ProjectionFailed) as caught:
                catch_up(app.recorder, Projector(decode, app.policy), store, batch_size=8)
            assert caught.value.notification_id == poisoned
            assert f"notification {poisoned}" in str(caught.value)
            assert store.position() == poisoned - 1, "the events before it are committed"
            with pytest.raises(ProjectionFailed):  # it stops again, it never skips
                catch_up(app.recorder, Projector(decode, app.policy), store, batch_size=8)
            broken["on"] = False
            catch_up(app.recorder, real, store, batch_size=8)
            fresh = self.store("fresh")
            rebuild(app.recorder, real, fresh)
            assert store.snapshot() == fresh.snapshot()

    def test_projections_ahead_of_the_ledger_are_refused_until_rebuilt(self) -> None:
        with tempfile.TemporaryDirectory() as directory, open_ledger(
                Settings().with_data_dir(Path(directory))) as app:
            store = self.store("stale")
            self.commit(store, batch(999, uuid4()))
            with pytest.raises(ProjectionError, match="at notification 999 but the ledger"):
                catch_up(app.recorder, projector_for(app), store)
            rebuild(app.recorder, projector_for(app), store)
            assert store.position() == app.recorder.max_notification_id()

    def test_follow_keeps_the_projections_live_until_stopped(self) -> None:
        with tempfile.TemporaryDirectory() as directory, open_ledger(
                Settings().with_data_dir(Path(directory))) as app:
            store, stop = self.store("followed"), threading.Event()
            follower = threading.Thread(target=follow, args=(
                app.recorder, projector_for(app), store, stop), kwargs={"poll_interval": 0.02})
            follower.start()
            try:
                scenario = Scenario.of(2)
                for n in range(6):
                    apply_step(app, scenario, (n % 2, "collect", n, 1))
                    last = app.recorder.max_notification_id()
                    deadline = time.monotonic() + 10
                    while store.position() != last and time.monotonic() < deadline:
                        time.sleep(0.01)
                    assert store.position() == last
            finally:
                stop.set()
                follower.join(timeout=10)
            assert not follower.is_alive()


def assert_view_matches_the_domain(app: LedgerApplication, subject_id: UUID,
                                   view: dict[str, object]) -> None:
    """What the projection shows is what the aggregate holds, value for value."""
    state = app.subject(subject_id).state
    expected = {(p, c): (None if isinstance(v, Erased) else v)
                for p, held in state.holdings.items() for c, v in held.items()}
    shown = {(v["purpose"], v["category"]): v["value"]
             for v in view["personal_data"]}  # type: ignore[attr-defined]
    assert shown == expected
    assert sorted(r["request_ref"] for r in view["requests"]  # type: ignore[attr-defined]
                  if r["status"] == "open") == sorted(state.open_requests)


class TestSQLiteProjectionStore(ProjectionStoreContract):
    @pytest.fixture(autouse=True)
    def _in_tmp(self, tmp_path: Path) -> None:
        self.directory = tmp_path

    def open_store(self, name: str) -> ProjectionStore:
        return SQLiteProjectionStore(self.directory / f"{name}.sqlite")

    def test_the_file_is_private_and_deletes_securely(self) -> None:
        store = self.store("private")
        path = self.directory / "private.sqlite"
        assert path.stat().st_mode & 0o777 == 0o600
        assert isinstance(store, SQLiteProjectionStore)
        assert store._db.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    def test_a_store_of_another_schema_version_is_emptied_for_a_rebuild(self) -> None:
        store = self.store("old")
        self.commit(store, batch(3, uuid4()))
        assert isinstance(store, SQLiteProjectionStore)
        store._db.execute("UPDATE projection_meta SET value = 0 WHERE name = 'schema'")
        store.close()
        again = self.store("old")
        assert again.position() == 0
        assert again.audit_rows() == []


@pytest.mark.postgres
class TestPostgresProjectionStore(InFreshSchemas, ProjectionStoreContract):
    def open_store(self, name: str) -> ProjectionStore:
        return PostgresProjectionStore(self.dsn, schema=f"{self.schema}_{name}")
