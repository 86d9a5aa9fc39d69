"""The ``AccessLog`` contract: every adapter passes the same tests.

``AccessLogContract`` holds the tests and asks its subclass how to open a log (each
call a new log object on the same storage) and how to reach that storage behind the
log's back (a raw connection: to try UPDATE, DELETE, TRUNCATE, and to drop the triggers
and tamper). The PostgreSQL subclass needs a real server (``postgres_dsn`` from
tests/postgres_fixtures.py).
"""

from __future__ import annotations

import sqlite3
import stat
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from consumers.access.log import (
    GENESIS,
    AccessLog,
    AccessLogError,
    Consultation,
    Verification,
)
from consumers.access.log_postgres import APPLICATION_NAME, DEFAULT_SCHEMA, PostgresAccessLog
from consumers.access.log_sqlite import SQLiteAccessLog
from consumers.composition import open_access_log
from ledger.config import Settings
from ledger.errors import ConfigurationError
from tests.postgres_fixtures import InFreshSchemas, terminate_backends


def consultation(subject_id: UUID, **changes: Any) -> Consultation:
    made = Consultation(viewer="dana", role="dsar-handler", channel="api",
                        subject_id=subject_id, shown="subject-view",
                        categories=("contact", "business-email", "contact"),
                        case_ref="CASE-7", purpose="subject-request")
    return replace(made, **changes)


class AccessLogContract(ABC):
    """Behaviour the console, the API and the command line rely on, whatever the storage."""

    refused: tuple[str, ...] = ("UPDATE {table} SET purpose = 'complaint'",
                                "DELETE FROM {table} WHERE seq = 1")
    refusal: type[Exception]  # what the driver raises when a trigger refuses
    _opened: list[AccessLog]

    @abstractmethod
    def open_log(self) -> AccessLog:
        """A new log object on this test's storage (created if missing)."""

    @abstractmethod
    def raw(self, statement: str) -> None:
        """Runs ``statement`` ({table} is the log's table) on a connection of its own,
        behind the log's back; raises the driver's error."""

    @abstractmethod
    def drop_triggers(self) -> None:
        """Drops the triggers that keep the table append-only."""

    @pytest.fixture(autouse=True)
    def _close_logs_after_test(self) -> Iterator[None]:
        self._opened = []
        yield
        for log in self._opened:
            log.close()

    def log(self) -> AccessLog:
        opened = self.open_log()
        self._opened.append(opened)
        return opened

    def filled(self, count: int = 3) -> AccessLog:
        log = self.log()
        for _ in range(count):
            log.append(consultation(uuid4()))
        return log

    # -- append and read ----------------------------------------------------------------

    def test_every_field_round_trips(self) -> None:
        log, subject = self.log(), uuid4()
        at = datetime(2025, 3, 3, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
        written = log.append(consultation(subject, channel="web", shown="export-json"), at=at)
        assert written.as_dict() == {
            "seq": 1, "at": "2025-03-03T09:00:00.123456+00:00", "viewer": "dana",
            "role": "dsar-handler", "channel": "web", "subject_id": str(subject),
            "shown": "export-json", "categories": ["business-email", "contact"],
            "case_ref": "CASE-7", "purpose": "subject-request", "digest": written.digest}
        assert len(written.digest) == 64
        assert log.entries() == [written]
        assert self.log().entries() == [written], "another log object reads the same"

    def test_an_entry_without_categories_reads_back_empty(self) -> None:
        log = self.log()
        written = log.append(consultation(uuid4(), categories=()))
        assert written.categories == []
        assert log.entries() == [written]

    def test_entries_filter_by_subject_after_and_limit(self) -> None:
        log, ann, bob = self.log(), uuid4(), uuid4()
        for subject in (ann, bob, ann, bob, ann):
            log.append(consultation(subject))
        assert [e.seq for e in log.entries(subject_id=ann)] == [1, 3, 5]
        assert {e.subject_id for e in log.entries(subject_id=bob)} == {str(bob)}
        assert log.entries(subject_id=uuid4()) == []
        assert [e.seq for e in log.entries(after=2)] == [3, 4, 5]
        assert [e.seq for e in log.entries(limit=2)] == [1, 2]
        assert [e.seq for e in log.entries(after=1, limit=2, subject_id=ann)] == [3, 5]
        assert log.entries(after=5) == []
        assert log.entries(limit=0) == []

    def test_seq_starts_at_one_and_is_contiguous_across_reopening(self) -> None:
        log = self.filled(3)
        log.close()
        self._opened.remove(log)
        reopened = self.log()
        reopened.append(consultation(uuid4()))
        assert [e.seq for e in reopened.entries()] == [1, 2, 3, 4]

    def test_the_chain_verifies_and_its_head_is_the_last_digest(self) -> None:
        log = self.log()
        assert log.verify() == Verification(0, True, None, GENESIS)
        for _ in range(4):
            last = log.append(consultation(uuid4()))
        result = log.verify()
        assert (result.entries, result.intact, result.first_bad_seq, result.head) == (
            4, True, None, last.digest)

    def test_an_invalid_case_or_purpose_is_refused_and_not_logged(self) -> None:
        log = self.filled(1)
        value = "ann@example.org"
        for bad in ({"case_ref": value}, {"case_ref": "a b"}, {"case_ref": ""},
                    {"purpose": "curiosity"}, {"purpose": value}):
            with pytest.raises(ConfigurationError) as refused:
                log.append(consultation(uuid4(), **bad))
            assert value not in str(refused.value)
        assert len(log.entries()) == 1

    def test_a_closed_log_fails_with_its_own_error(self) -> None:
        log = self.log()
        log.close()
        with pytest.raises(AccessLogError, match="cannot read the access log"):
            log.entries()
        with pytest.raises(AccessLogError, match="cannot write the access log"):
            log.append(consultation(uuid4()))

    # -- append-only, and the chain behind the triggers' back ----------------------------

    def test_update_and_delete_are_refused_by_the_storage(self) -> None:
        log = self.filled(2)
        before = log.entries()
        for statement in self.refused:
            with pytest.raises(self.refusal, match="append-only"):
                self.raw(statement)
        assert log.entries() == before
        assert log.verify().intact

    def test_a_changed_field_breaks_the_chain_at_its_entry(self) -> None:
        log = self.filled(3)
        assert log.verify().intact, "positive control: intact before"
        self.drop_triggers()
        self.raw("UPDATE {table} SET purpose = 'legal-claim' WHERE seq = 2")
        result = log.verify()
        assert (result.intact, result.first_bad_seq) == (False, 2)

    def test_a_deleted_entry_breaks_the_chain_at_the_next(self) -> None:
        log = self.filled(3)
        assert log.verify().intact, "positive control: intact before"
        self.drop_triggers()
        self.raw("DELETE FROM {table} WHERE seq = 2")
        result = log.verify()
        assert (result.intact, result.first_bad_seq) == (False, 3)

    # -- a host's own log, imported into this one -----------------------------------------

    def test_an_imported_log_keeps_its_order_and_moments_and_is_imported_once(
            self, tmp_path: Path) -> None:
        source = SQLiteAccessLog(tmp_path / "host.sqlite")
        moments = [datetime(2025, 1, day, 9, 30, tzinfo=UTC) for day in (2, 3, 4)]
        own = [source.append(consultation(uuid4(), viewer=f"v{n}"), at=moment)
               for n, moment in enumerate(moments)]
        log = self.log()
        here = log.append(consultation(uuid4(), viewer="already-here"))
        assert log.import_log(source) == 3
        entries = log.entries()
        assert [e.seq for e in entries] == [1, 2, 3, 4]
        assert entries[0] == here
        assert [{**e.as_dict(), "seq": 0, "digest": ""} for e in entries[1:]] == [
            {**e.as_dict(), "seq": 0, "digest": ""} for e in own]
        assert log.verify().intact
        assert log.import_log(source) == 0, "the same log again adds nothing"
        assert len(log.entries()) == 4
        source.close()

    def test_a_log_that_does_not_verify_is_not_imported(self, tmp_path: Path) -> None:
        path = tmp_path / "host.sqlite"
        source = SQLiteAccessLog(path)
        for _ in range(3):
            source.append(consultation(uuid4()))
        with sqlite3.connect(path) as db:  # edited at the file level, triggers first
            db.execute("DROP TRIGGER access_log_no_update")
            db.execute("UPDATE access_log SET viewer = 'someone-else' WHERE seq = 2")
        db.close()
        log = self.filled(1)
        with pytest.raises(AccessLogError, match=r"does not verify \(its chain breaks at "
                                                 r"entry 2\)"):
            log.import_log(source)
        assert len(log.entries()) == 1
        source.close()

    # -- several writers ----------------------------------------------------------------

    def test_concurrent_appends_from_two_logs_stay_contiguous_and_chained(self) -> None:
        append_concurrently([self.log(), self.log()])  # two hosts (or processes)


def append_concurrently(logs: list[AccessLog]) -> None:
    """Four threads, two on each log, 25 appends each: one contiguous, intact chain."""
    threads, each = 4, 25
    start = threading.Barrier(threads)

    def append(index: int) -> None:
        start.wait()
        for _ in range(each):
            logs[index % 2].append(consultation(uuid4(), viewer=f"host-{index}"))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(append, range(threads)))
    entries = logs[0].entries()
    assert [e.seq for e in entries] == list(range(1, threads * each + 1))
    assert {e.viewer for e in entries} == {f"host-{i}" for i in range(threads)}
    result = logs[1].verify()
    assert (result.entries, result.intact) == (threads * each, True)


class TestSQLiteAccessLog(AccessLogContract):
    refusal = sqlite3.IntegrityError

    @pytest.fixture(autouse=True)
    def _in_tmp_path(self, tmp_path: Path) -> None:
        self.path = tmp_path / "access-log.sqlite"

    def open_log(self) -> AccessLog:
        return SQLiteAccessLog(self.path)

    def raw(self, statement: str) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute(statement.format(table="access_log"))
        finally:
            db.close()

    def drop_triggers(self) -> None:
        for name in ("access_log_no_update", "access_log_no_delete"):
            self.raw(f"DROP TRIGGER {name}")

    def test_the_file_is_private_and_written_durably(self) -> None:
        log = self.filled(1)
        assert stat.S_IMODE(self.path.stat().st_mode) == 0o600
        assert isinstance(log, SQLiteAccessLog)
        assert log._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL

    def test_an_unopenable_file_fails_naming_the_path(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_text("")
        where = tmp_path / "file" / "access-log.sqlite"
        with pytest.raises(AccessLogError, match="cannot open the access log at") as failed:
            SQLiteAccessLog(where)
        assert str(where) in str(failed.value)


@pytest.mark.postgres
class TestPostgresAccessLog(InFreshSchemas, AccessLogContract):
    refused = (*AccessLogContract.refused, "TRUNCATE {table}")
    refusal = psycopg.errors.RestrictViolation

    def open_log(self) -> AccessLog:
        return PostgresAccessLog(self.dsn, schema=self.schema)

    def raw(self, statement: str) -> None:
        table = sql.Identifier(self.schema, "access_log").as_string()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(statement.format(table=table).encode())

    def drop_triggers(self) -> None:
        for name in ("access_log_no_update", "access_log_no_delete", "access_log_no_truncate"):
            self.raw(f"DROP TRIGGER {name} ON {{table}}")

    def test_even_a_statement_matching_no_row_is_refused(self) -> None:
        self.filled(1)
        with pytest.raises(psycopg.errors.RestrictViolation):
            self.raw("UPDATE {table} SET purpose = 'complaint' WHERE false")

    def test_dropped_triggers_are_made_again_when_a_log_opens(self) -> None:
        self.filled(1)
        self.drop_triggers()
        self.log()
        with pytest.raises(psycopg.errors.RestrictViolation):
            self.raw("TRUNCATE {table}")

    def test_logs_opening_together_do_not_race_on_the_schema(self) -> None:
        with ThreadPoolExecutor(4) as pool:
            logs = list(pool.map(lambda _: self.log(), range(4)))
        logs[0].append(consultation(uuid4()))
        assert [len(log.entries()) for log in logs] == [1, 1, 1, 1]

    def test_appends_stay_contiguous_under_a_repeatable_read_default(self) -> None:
        # The append sets READ COMMITTED itself: a snapshot taken before the lock was
        # granted would miss the entry of the host that held it.
        dsn = make_conninfo(self.dsn,
                            options="-c default_transaction_isolation=repeatable\\ read")
        logs: list[AccessLog] = [PostgresAccessLog(dsn, schema=self.schema) for _ in "ab"]
        self._opened += logs
        with psycopg.connect(dsn) as conn:  # positive control: the default took
            assert conn.execute("SHOW transaction_isolation").fetchone() == ("repeatable read",)
        append_concurrently(logs)

    def test_a_dropped_connection_costs_no_later_append(self) -> None:
        """A restarted server (or a killed backend) must not leave the console refusing
        every view until its process restarts: the pool checks a connection first."""
        log = self.filled(2)
        killed = terminate_backends(self.dsn, APPLICATION_NAME)
        assert killed >= 1, "positive control: the log's connection was killed"
        log.append(consultation(uuid4()))
        assert [e.seq for e in log.entries()] == [1, 2, 3]
        assert log.verify().intact

    def test_an_unreachable_server_fails_naming_the_schema_not_the_dsn(self) -> None:
        dsn = "postgresql://ledger:s3cret-password@127.0.0.1:1/ledger?connect_timeout=2"
        with pytest.raises(AccessLogError, match=f"PostgreSQL schema {self.schema}") as failed:
            PostgresAccessLog(dsn, schema=self.schema, connect_timeout=3)
        assert "s3cret" not in str(failed.value)


# -- the composition root ----------------------------------------------------------------


def test_without_a_dsn_the_log_is_the_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings().with_data_dir(tmp_path / "data")
    log = open_access_log(settings)
    try:
        assert isinstance(log, SQLiteAccessLog)
        assert log.path == settings.data_dir / "access-log.sqlite"
        assert log.path.exists()
    finally:
        log.close()


@pytest.fixture
def default_schema_dropped(postgres_dsn: str) -> Iterator[str]:
    def drop() -> None:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(DEFAULT_SCHEMA)))

    drop()
    yield postgres_dsn
    drop()


@pytest.mark.postgres
def test_with_a_dsn_every_host_shares_the_log_in_postgres(
        tmp_path: Path, default_schema_dropped: str) -> None:
    hosts = [replace(Settings().with_data_dir(tmp_path / name),
                     postgres_dsn=default_schema_dropped) for name in ("host-a", "host-b")]
    logs = [open_access_log(settings) for settings in hosts]
    try:
        assert all(isinstance(log, PostgresAccessLog) for log in logs)
        first = logs[0].append(consultation(uuid4(), viewer="on-a"))
        second = logs[1].append(consultation(uuid4(), viewer="on-b"), at=datetime.now(UTC))
        assert logs[0].entries() == logs[1].entries() == [first, second]
        assert logs[1].verify().intact
    finally:
        for log in logs:
            log.close()
    for settings in hosts:
        assert not (settings.data_dir / "access-log.sqlite").exists()


@pytest.mark.postgres
def test_a_host_s_own_log_moves_into_the_shared_one_when_a_dsn_is_set(
        tmp_path: Path, default_schema_dropped: str) -> None:
    """Set LEDGER_POSTGRES_DSN on a host that kept its own log: its consultations are
    imported (they must not drop out of who-looked answers) and its file is kept, renamed."""
    settings = Settings().with_data_dir(tmp_path / "host")
    own = open_access_log(settings)
    before = [own.append(consultation(uuid4(), viewer="before-the-dsn")) for _ in range(2)]
    own.close()
    shared_settings = replace(settings, postgres_dsn=default_schema_dropped)
    shared = open_access_log(shared_settings)
    try:
        assert isinstance(shared, PostgresAccessLog)
        assert [e.viewer for e in shared.entries()] == ["before-the-dsn"] * 2
        assert [e.at for e in shared.entries()] == [e.at for e in before]
        assert not (settings.data_dir / "access-log.sqlite").exists()
        (kept,) = settings.data_dir.glob("access-log.imported-*.sqlite")
        reread = SQLiteAccessLog(kept)
        assert reread.entries() == before
        reread.close()
    finally:
        shared.close()
    again = open_access_log(shared_settings)  # nothing left to import
    try:
        assert len(again.entries()) == 2
    finally:
        again.close()
