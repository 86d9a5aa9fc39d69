"""The backend port: what differs between the embedded ledger and the Kafka one.

One protocol, two adapters (``consumers.backends.embedded`` and
``consumers.backends.kafka``), chosen once in ``consumers.composition`` from the
settings, in the manner of httpx's transports: callers hold a ``Backend`` and never ask
which one it is.

- ``submit`` records acts: in process on the embedded store; through the intake topic
  and the shard's writer (`ledger serve`) on Kafka. Erasure and retention acts go the
  same way: only the writer of a shard may shred on Kafka.
- ``reading`` yields a reader over projections caught up with the log: one store, or
  one store per shard read as one.
- ``rebuild`` projects the whole log again, per store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from consumers.projection_runner import CatchUp, Progress
from ledger.intake.acts import IntakeAct
from ledger.outcomes import ActOutcome
from projections.reader import LedgerReader


@dataclass(frozen=True)
class Rebuilt:
    """One store rebuilt from the start of its log; ``shard`` is None on the embedded log."""

    shard: int | None
    report: CatchUp
    subjects: int
    seconds: float  # taken when this store was done, not when all of them were


class Backend(Protocol):
    name: str

    def submit(self, acts: Iterable[IntakeAct], *, wait_s: float,
               with_events: bool = False) -> Iterator[ActOutcome]:
        """Records each act, yielding its outcome in order. ``wait_s`` bounds how long an
        asynchronous backend waits for answers ("pending" after it); ``with_events``
        asks for the summaries of the events each act recorded."""
        ...

    def find_subject(self, kind: str, value: str) -> UUID | None:
        """The subject an email address or phone number belongs to (keyed index)."""
        ...

    def reading(self, progress: Progress | None = None
                ) -> AbstractContextManager[LedgerReader]:
        """A reader over projections first caught up with the log."""
        ...

    def rebuild(self, *, batch_size: int,
                progress_for: Callable[[int | None], Progress | None]) -> list[Rebuilt]:
        """Every projection store emptied and projected again from offset 0."""
        ...

    def close(self) -> None: ...
