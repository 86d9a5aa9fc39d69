"""The application on the embedded store: acts are atomic and idempotent by act id."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from consumers.composition import open_key_store
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.domain.acts import ActContext
from ledger.errors import DuplicateAct, PolicyViolation, UnknownSubject
from ledger.policy import load_policy

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path) -> LedgerApplication:
    return LedgerApplication(load_policy(), env={
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "events.sqlite"),
    })


def test_a_re_delivered_act_is_refused_as_a_duplicate(app: LedgerApplication) -> None:
    subject = uuid4()
    act = ActContext("crm-1", "crm", T0)
    app.collect_data(subject, act, purpose="contact", values={"name": "x"},
                     source_system="web", legal_basis="legitimate-interest")
    with pytest.raises(DuplicateAct):
        app.collect_data(subject, act, purpose="contact", values={"name": "x"},
                         source_system="web", legal_basis="legitimate-interest")
    assert len(app.history(subject)) == 2  # Registered and DataCollected, once


def test_a_refused_first_act_leaves_no_subject(app: LedgerApplication) -> None:
    subject = uuid4()
    with pytest.raises(PolicyViolation):
        app.collect_data(subject, ActContext("web-1", "web", T0), purpose="demo-request",
                         values={"name": "x"}, source_system="web", legal_basis="consent")
    with pytest.raises(UnknownSubject):
        app.history(subject)
    # The same act id may come again once the cause is fixed: nothing was recorded.
    app.give_consent(subject, ActContext("web-0", "web", T0), purpose="demo-request",
                     channel="web-form", notice_version="2021-12-24", proof_ref="f/1")
    app.collect_data(subject, ActContext("web-1", "web", T0), purpose="demo-request",
                     values={"name": "x"}, source_system="web", legal_basis="consent")
    assert [type(e).__name__ for e in app.history(subject)] == [
        "Registered", "ConsentGiven", "DataCollected"]


def test_erasure_under_an_unknown_request_destroys_nothing(tmp_path: Path) -> None:
    key_store = open_key_store(Settings().with_data_dir(tmp_path))
    app = LedgerApplication(load_policy(), key_store=key_store, env={
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "events.sqlite"),
    })
    subject = uuid4()
    app.collect_data(subject, ActContext("crm-1", "crm", T0), purpose="contact",
                     values={"name": "x"}, source_system="web",
                     legal_basis="legitimate-interest")
    with pytest.raises(PolicyViolation) as caught:
        app.carry_out_erasure(subject, ActContext("po-1", "po", T0), request_ref="NOPE")
    assert caught.value.rule == "no-such-request"
    assert key_store.destroyed_keys(subject) == []
    assert app.subject(subject).state.holdings["contact"]["name"] == "x"
    key_store.close()
