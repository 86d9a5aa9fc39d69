"""The projection runner: keeps the projections caught up with the log, batch by batch.

The pure projector (``projections.projector``) turns events into row changes; this
runner feeds it from a log and commits its changes.

It reads a ``NotificationSource`` through ``select_notifications`` (any eventsourcing
application recorder: the embedded SQLite log, a Kafka shard's writer in `ledger
serve`; or ``PartitionNotifications``, which seeks a Kafka shard to the position),
starting after the position the store committed, and never assumes notification ids
are contiguous. A batch and its position are committed in one transaction, so a
projector killed anywhere resumes exactly after the last batch it committed: no event
is missed or applied twice.

An event that cannot be projected stops the projector with ``ProjectionFailed``
(notification id and type, no values); the events before it in its batch are committed
first, so after a fix it resumes at exactly that event. It never skips one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from eventsourcing.persistence import Notification

from ledger.application import LedgerApplication
from ledger.errors import ConfigurationError
from ledger.persistence.encrypting_mapper import EncryptingMapper
from projections.errors import PositionMoved, ProjectionError, ProjectionFailed
from projections.projector import Projector
from projections.reader import LedgerReader, LogProofs
from projections.store import ProjectionReads, ProjectionStore

BATCH_SIZE = 500
Progress = Callable[["CatchUp"], None]


class NotificationSource(Protocol):
    """Where a projector reads: any eventsourcing application recorder, or one Kafka
    shard read from a position on (``ledger.kafka.notifications``)."""

    def max_notification_id(self) -> int | None: ...

    def select_notifications(
        self, start: int | None, limit: int, stop: int | None = None,
        topics: Sequence[str] = (), *, inclusive_of_start: bool = True,
    ) -> Sequence[Notification]: ...


@dataclass
class CatchUp:
    """How far a catch-up got: for progress bars and reports."""

    start_position: int
    position: int
    last_id: int  # the log's last notification id when the catch-up began
    events: int = 0
    batches: int = 0
    started: float = 0.0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def fraction(self) -> float:
        span = self.last_id - self.start_position
        return 1.0 if span <= 0 else min(1.0, (self.position - self.start_position) / span)


def projector_for(app: LedgerApplication) -> Projector:
    if not isinstance(app.mapper, EncryptingMapper):
        raise ConfigurationError(
            "projections need the encrypting mapper (a key store): they store sealed values")
    return Projector(app.mapper.to_sealed_event, app.policy)


def reader_for(app: LedgerApplication, store: ProjectionReads, *,
               log_proofs: LogProofs | None = None) -> LedgerReader:
    if not isinstance(app.mapper, EncryptingMapper):
        raise ConfigurationError("projections need the encrypting mapper (a key store)")
    return LedgerReader(store, app.policy, app.mapper.open_value, log_proofs=log_proofs)


def catch_up(
    recorder: NotificationSource, projector: Projector, store: ProjectionStore, *,
    batch_size: int = BATCH_SIZE, progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> CatchUp:
    """Projects every notification after the store's position, in batches."""
    position, last_id = store.position(), recorder.max_notification_id() or 0
    if position > last_id:
        # Projections of another (or a restored, shorter) log would be served as current.
        raise ProjectionError(
            f"the projections are at notification {position} but the ledger ends at "
            f"{last_id}: they come from another log; run `ledger rebuild`")
    report = CatchUp(position, position, last_id, started=time.monotonic())
    while stop is None or not stop.is_set():
        # 1. read a batch after the committed position (ids may have gaps)
        batch = recorder.select_notifications(
            position + 1, batch_size, inclusive_of_start=True)
        if not batch:
            break
        try:
            # 2. apply it and its position in one transaction, 3. commit
            _commit(projector, store, position, batch)
        except PositionMoved:
            position = store.position()  # another projector went first: go on from there
            continue
        position = batch[-1].id
        report.position, report.events = position, report.events + len(batch)
        report.batches += 1
        if progress is not None:
            progress(report)
    return report


def _commit(projector: Projector, store: ProjectionStore, position: int,
            batch: Sequence[Notification]) -> None:
    transaction = store.begin(position)
    try:
        changes = projector.project(batch, transaction.load_docs)
        transaction.write(changes)
    except ProjectionFailed as failed:
        transaction.rollback()
        if failed.index > 0:
            # Keep what came before the failing event, so a restart begins exactly there.
            _commit(projector, store, position, batch[:failed.index])
        raise
    except BaseException:
        transaction.rollback()
        raise
    transaction.commit()


def rebuild(recorder: NotificationSource, projector: Projector, store: ProjectionStore, *,
            batch_size: int = BATCH_SIZE, progress: Progress | None = None) -> CatchUp:
    """Empties the projections and projects the whole log from its start."""
    store.reset()
    return catch_up(recorder, projector, store, batch_size=batch_size, progress=progress)


def follow(recorder: NotificationSource, projector: Projector, store: ProjectionStore,
           stop: threading.Event, *, poll_interval: float = 0.5,
           batch_size: int = BATCH_SIZE) -> None:
    """Keeps the projections live until ``stop`` is set (or an event fails)."""
    while not stop.is_set():
        catch_up(recorder, projector, store, batch_size=batch_size, stop=stop)
        stop.wait(poll_interval)
