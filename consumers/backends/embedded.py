"""The embedded backend: one process, the SQLite event store (keys and projections in
SQLite or PostgreSQL); acts are applied in process and answered at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from uuid import UUID

from consumers.projection_runner import Progress, catch_up, projector_for, reader_for, rebuild
from consumers.services.ports import Rebuilt
from ledger.application import LedgerApplication
from ledger.errors import ConflictingWrite, DuplicateAct
from ledger.intake.acts import IntakeAct, apply_act
from ledger.outcomes import ActOutcome, Status, event_summary
from ledger.refusals import is_refusal, refusal_of
from projections.reader import LedgerReader, LogProofs
from projections.store import ProjectionStore

# How many times an act is tried when another writer keeps recording for its subject
# first (two `ledger record` processes on one store).
CONFLICT_ATTEMPTS = 3


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, app: LedgerApplication,
                 open_store: Callable[[], ProjectionStore], *,
                 log_proofs: LogProofs | None = None) -> None:
        self.app = app
        self._open_store = open_store
        self._log_proofs = log_proofs

    def submit(self, acts: Iterable[IntakeAct], *, wait_s: float = 0.0,
               with_events: bool = False) -> Iterator[ActOutcome]:
        # Nothing to wait for: each act is recorded (or refused) before the next is read.
        for act in acts:
            yield self._apply(act, with_events=with_events)

    def _apply(self, act: IntakeAct, *, with_events: bool) -> ActOutcome:
        act_id = act.context.act_id
        version = 0
        try:
            for attempt in range(1, CONFLICT_ATTEMPTS + 1):
                version = self._version(act.subject_id) if with_events else 0
                try:
                    apply_act(self.app, act)  # loads the subject afresh each time
                    break
                except ConflictingWrite:
                    # Another writer of the store (a second `ledger record`) recorded for
                    # the subject between our load and our save: no verdict on the act.
                    if attempt == CONFLICT_ATTEMPTS:
                        raise  # reported as a failure (send it again), never a refusal
        except DuplicateAct as duplicate:
            return ActOutcome(act_id, "duplicate", rule=duplicate.rule,
                              reason="already recorded")
        except Exception as error:  # noqa: BLE001 - one act's fault must not stop the rest
            # An unexpected error's message may quote input: ``refusal_of`` keeps its type.
            refusal = refusal_of(error)
            status: Status = "rejected" if is_refusal(error) else "failed"
            return ActOutcome(act_id, status, rule=refusal.rule, reason=refusal.reason)
        outcome = ActOutcome(act_id, "recorded")
        if with_events:
            outcome.events = self._events_after(act.subject_id, version)
        return outcome

    def _version(self, subject_id: UUID) -> int:
        last = self.app.recorder.select_events(subject_id, desc=True, limit=1)
        return last[0].originator_version if last else 0

    def _events_after(self, subject_id: UUID, version: int) -> list[dict[str, object]]:
        summaries = (event_summary(stored.topic, stored.state) for stored in
                     self.app.recorder.select_events(subject_id, gt=version))
        return [summary for summary in summaries if summary is not None]

    def find_subject(self, kind: str, value: str) -> UUID | None:
        return self.app.find_subject(kind, value)

    @contextmanager
    def reading(self, progress: Progress | None = None) -> Iterator[LedgerReader]:
        store = self._open_store()
        try:
            catch_up(self.app.recorder, projector_for(self.app), store, progress=progress)
            yield reader_for(self.app, store, log_proofs=self._log_proofs)
        finally:
            store.close()

    def rebuild(self, *, batch_size: int,
                progress_for: Callable[[int | None], Progress | None]) -> list[Rebuilt]:
        store = self._open_store()
        try:
            report = rebuild(self.app.recorder, projector_for(self.app), store,
                             batch_size=batch_size, progress=progress_for(None))
            return [Rebuilt(None, report, store.subject_count(), report.elapsed)]
        finally:
            store.close()

    def close(self) -> None:
        """The application is closed by whoever opened it (the composition root)."""
