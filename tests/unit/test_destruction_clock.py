"""Nothing is shredded before its legal due date as the wall clock sees it (issue 11).

Fiscal records (invoice data) are kept until 1 January seven years after their year
(art. 17(3)(b) GDPR with art. 52 AWR); an act dated ahead of the clock, within the
skew the time gate allows, must not make them due early.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from consumers.composition import open_key_store
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.domain.acts import ActContext
from ledger.errors import PolicyViolation
from ledger.policy import load_policy

COLLECTED = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
# 1 January 2033 00:00 in Amsterdam (CET): the records of 2025 may go then.
FISCAL_DUE = datetime(2032, 12, 31, 23, 0, tzinfo=UTC)
FISCAL_2025 = "fiscal-2025"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def ledger_at(tmp_path: Path) -> Callable[[datetime], tuple[LedgerApplication, UUID, Clock]]:
    def make(now: datetime) -> tuple[LedgerApplication, UUID, Clock]:
        clock = Clock(now)
        settings = Settings().with_data_dir(tmp_path)
        app = LedgerApplication(load_policy(), env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / "events.sqlite"),
        }, key_store=open_key_store(settings), clock=clock)
        subject = uuid4()
        clock.now = COLLECTED
        app.collect_data(subject, ActContext("crm-1", "crm", COLLECTED),
                         purpose="service-delivery", source_system="crm",
                         legal_basis="contract",
                         values={"name": "N", "invoice-details": "INV-1"})
        app.request_erasure(subject, ActContext("dsar-1", "privacy-office", COLLECTED),
                            request_ref="DSAR-1", channel="email")
        app.carry_out_erasure(subject, ActContext("erase-1", "privacy-office", COLLECTED),
                              request_ref="DSAR-1")
        clock.now = now
        return app, subject, clock
    return make


def test_an_expiry_dated_past_the_due_date_but_within_the_skew_waits_for_the_clock(
    ledger_at: Callable[[datetime], tuple[LedgerApplication, UUID, Clock]],
) -> None:
    clock_time = FISCAL_DUE - timedelta(minutes=2)
    app, subject, clock = ledger_at(clock_time)
    ahead = ActContext("exp-1", "retention-enforcer", FISCAL_DUE + timedelta(minutes=1))
    with pytest.raises(PolicyViolation) as refused:
        app.expire_retention(subject, ahead, scope=FISCAL_2025)
    assert refused.value.rule == "retention-not-due"
    clock.now = FISCAL_DUE + timedelta(minutes=1)
    app.expire_retention(subject, ahead, scope=FISCAL_2025)  # now it is due by every clock
    assert type(app.history(subject)[-1]).__name__ == "RetentionExpired"


def test_an_erasure_dated_ahead_keeps_what_the_law_still_keeps_by_the_clock(
    ledger_at: Callable[[datetime], tuple[LedgerApplication, UUID, Clock]],
) -> None:
    app, subject, _ = ledger_at(FISCAL_DUE - timedelta(minutes=2))
    app.request_erasure(subject, ActContext("dsar-2", "privacy-office", COLLECTED),
                        request_ref="DSAR-2", channel="email")
    plan = app.carry_out_erasure(
        subject, ActContext("erase-2", "privacy-office", FISCAL_DUE + timedelta(minutes=1)),
        request_ref="DSAR-2")
    assert FISCAL_2025 in plan.keep
    assert FISCAL_2025 not in plan.shred
