"""The property every backend's projections are held to: a rebuild from the start of
the log gives exactly what live catch-up reached, wherever the catch-ups fell.

Used by the embedded ledger's contract tests and by the Kafka integration test: acts are
applied through one application while the projections follow another's view of the
same log (the same application on the embedded ledger, a read-only one on Kafka).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from hypothesis import strategies as st

from consumers.projection_runner import catch_up, projector_for, reader_for, rebuild
from ledger.application import LedgerApplication
from projections.reader import LedgerReader
from projections.store import ProjectionStore
from tests.projection_acts import Scenario, Step, apply_step


def project_live_then_rebuild(
    app: LedgerApplication, scenario: Scenario, acts: list[Step], data: st.DataObject, *,
    live: ProjectionStore, rebuilt: ProjectionStore, source: LedgerApplication | None = None,
) -> None:
    """Apply ``acts`` through ``app``, catching ``live`` up from the log of ``source``
    (default: ``app``) at points and in batch sizes drawn from ``data``, then to the end;
    then rebuild ``rebuilt`` from the start of that log in one go."""
    source = source or app
    projector = projector_for(source)
    for step in acts:
        apply_step(app, scenario, step)
        if data.draw(st.booleans(), label="catch up now"):
            catch_up(source.recorder, projector, live,
                     batch_size=data.draw(st.integers(1, 7), label="batch size"))
    catch_up(source.recorder, projector, live, batch_size=3)
    rebuild(source.recorder, projector, rebuilt, batch_size=1000)


def assert_rebuilt_is_live(
    source: LedgerApplication, scenario: Scenario, live: ProjectionStore,
    rebuilt: ProjectionStore, now: datetime,
) -> tuple[LedgerReader, dict[UUID, dict[str, Any]]]:
    """Both stores reached the end of ``source``'s log and hold the same rows, registers
    and subject views; returns the live reader and its views, for further checks."""
    assert live.position() == rebuilt.position() == source.recorder.max_notification_id()
    assert live.snapshot() == rebuilt.snapshot()
    live_reader, rebuilt_reader = reader_for(source, live), reader_for(source, rebuilt)
    assert live_reader.registers(now) == rebuilt_reader.registers(now)
    views = {}
    for subject_id in scenario.subjects:
        if live.subject_doc(subject_id) is None:
            continue
        views[subject_id] = live_reader.subject_view(subject_id, now=now)
        assert views[subject_id] == rebuilt_reader.subject_view(subject_id, now=now)
    return live_reader, views
