"""A projector killed mid-batch resumes without a missed or doubled event.

A separate process projects the ledger and SIGKILLs itself in the middle of writing a
batch (after some of the batch's statements, before its commit). The store must then
hold exactly the batches committed before; resuming projects the rest, and the result
equals a fresh rebuild, with every event of the log in the audit trail exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from consumers.composition import open_ledger
from consumers.projection_runner import catch_up, projector_for, rebuild
from ledger.config import Settings
from ledger.domain.policy_register import PolicyRegister
from projections.sqlite_store import SQLiteProjectionStore
from tests.projection_acts import Scenario, apply_step

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BATCH = 40
_PROJECT_AND_DIE = """
import os, signal, sys
from pathlib import Path
import projections.sql as sql
from consumers.composition import open_ledger
from consumers.projection_runner import catch_up, projector_for
from ledger.config import Settings
from projections.sqlite_store import SQLiteProjectionStore

data_dir, store_path, die_in_batch, after_statements, batch = sys.argv[1:6]
real, batches = sql.write_statements, [0]

def dying(dialect, changes):
    batches[0] += 1
    for done, statement in enumerate(real(dialect, changes)):
        if batches[0] == int(die_in_batch) and done == int(after_statements):
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no rollback, no atexit
        yield statement

sql.write_statements = dying
with open_ledger(Settings().with_data_dir(Path(data_dir))) as app:
    store = SQLiteProjectionStore(store_path)
    catch_up(app.recorder, projector_for(app), store, batch_size=int(batch))
sys.exit("the projector was meant to die")
"""


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("crash") / "data"
    with open_ledger(Settings().with_data_dir(data_dir)) as app:
        scenario = Scenario.of(60)
        for n in range(600):
            apply_step(app, scenario, (n % 60, "collect" if n < 60 else
                                       ("share", "rectify", "access", "process")[n % 4], n, 1))
    return data_dir


@pytest.mark.parametrize(("die_in_batch", "after_statements"),
                         [(1, 0), (3, 1), (4, 3), (6, 6)])
def test_a_killed_projector_resumes_exactly_where_its_last_commit_left_it(
    ledger_dir: Path, tmp_path: Path, die_in_batch: int, after_statements: int
) -> None:
    store_path = tmp_path / "projections.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    died = subprocess.run(
        [sys.executable, "-c", _PROJECT_AND_DIE, str(ledger_dir), str(store_path),
         str(die_in_batch), str(after_statements), str(BATCH)],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )
    assert died.returncode == -signal.SIGKILL, died.stderr

    with open_ledger(Settings().with_data_dir(ledger_dir)) as app:
        log = app.recorder.select_notifications(1, 100_000)
        committed = log[(die_in_batch - 1) * BATCH - 1].id if die_in_batch > 1 else 0
        store = SQLiteProjectionStore(store_path)
        try:
            # Exactly the batches committed before the kill; nothing of the one it was in.
            assert store.position() == committed
            acts_before = [n.id for n in log if n.id <= committed
                           and not n.topic.endswith(PolicyRegister.Opened.__qualname__)]
            assert [r.notification_id for r in store.audit_rows()] == acts_before

            catch_up(app.recorder, projector_for(app), store, batch_size=BATCH)
            fresh = SQLiteProjectionStore(tmp_path / "fresh.sqlite")
            try:
                rebuild(app.recorder, projector_for(app), fresh, batch_size=1000)
                assert store.snapshot() == fresh.snapshot()
            finally:
                fresh.close()
            every_act = [n.id for n in log
                         if not n.topic.endswith(PolicyRegister.Opened.__qualname__)]
            assert [r.notification_id for r in store.audit_rows()] == every_act
            assert store.position() == log[-1].id
        finally:
            store.close()
