"""Two writers of one embedded store (two `ledger record` processes) racing for a subject.

The loser of a race gets a version conflict from the event store: that is no verdict on
its act, so the embedded backend reloads the subject and tries the act again, and only
after a few lost races reports it, as a failure (exit 3, send it again), never as a
refusal. The race is made deterministic: the other writer records its act between our
load of the subject and our save.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from consumers.backends.embedded import CONFLICT_ATTEMPTS, EmbeddedBackend
from ledger.application import LedgerApplication
from ledger.intake.acts import IntakeAct, apply_act, parse_act
from ledger.outcomes import ActOutcome
from ledger.policy import load_policy


class RacingApplication(LedgerApplication):
    """Runs ``before_save`` right before each save: another writer getting in first."""

    before_save: Callable[[], None] | None = None

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        if self.before_save is not None:
            self.before_save()
        return super().save(*objs, **kwargs)


def act(subject: UUID, act_id: str) -> IntakeAct:
    return parse_act(orjson.dumps({
        "act_id": act_id, "type": "data-collected", "subject_id": str(subject),
        "actor": "crm", "occurred_at": "2025-03-03T09:00:00Z", "purpose": "contact",
        "source_system": "crm", "legal_basis": "legitimate-interest",
        "values": {"name": "x"},
    }))


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[tuple[RacingApplication, LedgerApplication]]:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(tmp_path / "events.sqlite"), "SQLITE_LOCK_TIMEOUT": "10"}
    ours = RacingApplication(load_policy(), env=env)
    theirs = LedgerApplication(load_policy(), env=env)
    yield ours, theirs
    ours.close()
    theirs.close()


def collected_act_ids(app: LedgerApplication, subject: UUID) -> list[str]:
    return [e.act_id for e in app.history(subject) if type(e).__name__ == "DataCollected"]


def they_get_in_first(ours: RacingApplication, theirs: LedgerApplication, subject: UUID,
                      *, times: int | None) -> list[str]:
    """Has the other writer record an act of ``subject`` right before each of our saves
    (the first ``times`` of them; None: every one). Returns its act ids, as it records
    them."""
    recorded: list[str] = []

    def record_theirs() -> None:
        if times is None or len(recorded) < times:
            recorded.append(f"crm-theirs-{len(recorded)}")
            apply_act(theirs, act(subject, recorded[-1]))

    ours.before_save = record_theirs
    return recorded


def submitted_by_us(ours: RacingApplication, our_act: IntakeAct) -> ActOutcome:
    """What the embedded backend on our writer makes of ``our_act``."""
    (outcome,) = EmbeddedBackend(ours, lambda: pytest.fail("no reads")).submit([our_act])
    return outcome


@pytest.fixture
def subject(apps: tuple[RacingApplication, LedgerApplication]) -> UUID:
    """A subject the other writer has recorded an act of."""
    _, theirs = apps
    subject = uuid4()
    apply_act(theirs, act(subject, "crm-0"))
    return subject


def test_a_lost_race_is_tried_again_on_the_reloaded_subject_and_recorded(
    apps: tuple[RacingApplication, LedgerApplication], subject: UUID,
) -> None:
    ours, theirs = apps
    raced = they_get_in_first(ours, theirs, subject, times=1)

    outcome = submitted_by_us(ours, act(subject, "crm-ours"))

    assert (outcome.status, outcome.rule) == ("recorded", None)
    assert collected_act_ids(theirs, subject) == ["crm-0", *raced, "crm-ours"]
    assert len(raced) == 1


def test_a_race_lost_every_time_is_a_failure_never_a_refusal(
    apps: tuple[RacingApplication, LedgerApplication], subject: UUID,
) -> None:
    ours, theirs = apps
    lost = they_get_in_first(ours, theirs, subject, times=None)

    outcome = submitted_by_us(ours, act(subject, "crm-ours"))

    assert (outcome.status, outcome.rule) == ("failed", "conflicting-write")
    assert len(lost) == CONFLICT_ATTEMPTS
    assert "crm-ours" not in collected_act_ids(theirs, subject)
