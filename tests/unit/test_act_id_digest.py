"""An act id means one act: a re-delivery must repeat the act, or it is refused.

The ledger keeps with each act id a keyed digest of the act's canonical content (an
HMAC under a key of the subject's that an erasure shreds). The same content again is a
duplicate; other content under the same id is ``act-id-conflict`` and is never
recorded. Once the digest's key is shredded, or for an act recorded before digests, the
id alone decides.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from consumers.composition import open_key_store
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.crypto.keys import KeyStore
from ledger.domain.acts import ActContext
from ledger.errors import DuplicateAct, LedgerError
from ledger.intake.acts import act_from_document, apply_act
from ledger.policy import load_policy

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def key_store(tmp_path: Path) -> Iterator[KeyStore]:
    store = open_key_store(Settings().with_data_dir(tmp_path))
    yield store
    store.close()


def open_app(tmp_path: Path, key_store: KeyStore) -> LedgerApplication:
    return LedgerApplication(load_policy(), key_store=key_store, env={
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "events.sqlite"),
    })


@pytest.fixture
def app(tmp_path: Path, key_store: KeyStore) -> LedgerApplication:
    return open_app(tmp_path, key_store)


def collected(subject: UUID, act_id: str = "crm-1", **over: Any) -> dict[str, Any]:
    return {"act_id": act_id, "type": "data-collected", "subject_id": str(subject),
            "actor": "crm", "occurred_at": "2025-03-03T09:00:00+01:00", "purpose": "contact",
            "source_system": "crm", "legal_basis": "legitimate-interest",
            "values": {"name": "Sanne de Vries", "business-email": "sanne@example.nl"},
            **over}


def record(app: LedgerApplication, document: dict[str, Any]) -> None:
    apply_act(app, act_from_document(document))


def refusal_rule(app: LedgerApplication, document: dict[str, Any]) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        record(app, document)
    return caught.value


def test_an_identical_re_delivery_is_a_duplicate(app: LedgerApplication) -> None:
    subject = uuid4()
    record(app, collected(subject))
    # Re-serialised upstream: other key order, the same moment in another offset.
    again = {**dict(reversed(collected(subject).items())),
             "occurred_at": "2025-03-03T08:00:00Z"}
    assert refusal_rule(app, again).rule == "duplicate-act"
    assert len(app.history(subject)) == 2  # Registered and DataCollected, once


def test_other_values_under_a_recorded_act_id_are_a_conflict_and_not_recorded(
    app: LedgerApplication, key_store: KeyStore,
) -> None:
    subject = uuid4()
    record(app, collected(subject))
    other = collected(subject, values={"name": "Jan Jansen",
                                       "business-email": "jan@example.nl"})
    error = refusal_rule(app, other)
    assert error.rule == "act-id-conflict"
    reason = str(error)
    assert "crm-1" in reason
    assert "version 1" in reason  # where the first one was recorded
    assert "Jan" not in reason
    assert "Sanne" not in reason
    assert len(app.history(subject)) == 2
    assert app.subject(subject).state.holdings["contact"]["name"] == "Sanne de Vries"
    # Nothing of the refused act was bound for look-ups either.
    assert key_store.lookup_identity("email", "jan@example.nl") is None


def test_another_act_type_under_a_recorded_act_id_is_a_conflict(app: LedgerApplication) -> None:
    subject = uuid4()
    record(app, collected(subject))
    consent = {"act_id": "crm-1", "type": "consent-given", "subject_id": str(subject),
               "actor": "crm", "occurred_at": "2025-03-03T10:00:00Z",
               "purpose": "demo-request", "channel": "web-form",
               "notice_version": "2021-12-24", "proof_ref": "form-submission/1"}
    assert refusal_rule(app, consent).rule == "act-id-conflict"
    assert [type(e).__name__ for e in app.history(subject)] == ["Registered", "DataCollected"]


def test_the_digest_is_keyed_with_the_subjects_erasable_key_and_stored_in_clear(
    app: LedgerApplication, key_store: KeyStore, tmp_path: Path,
) -> None:
    subject = uuid4()
    record(app, collected(subject))
    first = app.history(subject)[1]
    digest, key_id = first.act_digest, first.act_digest_key_id
    assert digest is not None
    assert key_id == key_store.data_key(subject, "general").key_id.hex
    content = orjson.dumps(collected(subject), option=orjson.OPT_SORT_KEYS)
    assert digest != hashlib.sha256(content).hexdigest()  # keyed: not a plain digest
    with sqlite3.connect(tmp_path / "events.sqlite") as db:
        states = [bytes(row[0]) for row in db.execute("SELECT state FROM stored_events")]
    assert all(digest.encode() in state for state in states)
    assert not any(b"Sanne" in state for state in states)


def test_after_the_digest_key_is_shredded_the_id_alone_decides(
    app: LedgerApplication, key_store: KeyStore,
) -> None:
    subject = uuid4()
    record(app, collected(subject))
    key_id = app.history(subject)[1].act_digest_key_id
    assert key_id is not None
    record(app, {"act_id": "dsar-1", "type": "erasure-requested", "subject_id": str(subject),
                 "actor": "privacy-office", "occurred_at": "2025-03-04T09:00:00Z",
                 "request_ref": "DSAR-1", "channel": "email"})
    app.carry_out_erasure(subject, ActContext("erase-1", "privacy-office", T0),
                          request_ref="DSAR-1")
    assert key_store.is_fenced(UUID(key_id))
    other = collected(subject, values={"name": "Jan Jansen"})
    assert refusal_rule(app, other).rule == "duplicate-act"
    assert refusal_rule(app, collected(subject)).rule == "duplicate-act"


def test_an_erasure_shreds_the_digest_key_even_when_nothing_is_held_under_it(
    app: LedgerApplication, key_store: KeyStore,
) -> None:
    """Only fiscal records held (kept 7 years): the digests' key goes with the erasure."""
    subject = uuid4()
    record(app, collected(subject, purpose="service-delivery", legal_basis="contract",
                          values={"invoice-details": "INV-2025-0042"}))
    key_id = app.history(subject)[1].act_digest_key_id
    assert key_id is not None
    record(app, {"act_id": "dsar-1", "type": "erasure-requested", "subject_id": str(subject),
                 "actor": "privacy-office", "occurred_at": "2025-03-04T09:00:00Z",
                 "request_ref": "DSAR-1", "channel": "email"})
    plan = app.carry_out_erasure(subject, ActContext("erase-1", "privacy-office", T0),
                                 request_ref="DSAR-1")
    assert "fiscal-2025" in plan.keep
    assert key_store.is_fenced(UUID(key_id))
    assert app.subject(subject).state.holdings["service-delivery"]["invoice-details"] == (
        "INV-2025-0042")  # the kept records are still readable


def test_an_act_recorded_before_digests_is_compared_by_id_alone(
    tmp_path: Path, key_store: KeyStore,
) -> None:
    subject = uuid4()
    record(open_app(tmp_path, key_store), collected(subject))
    # The stored events as the ledger wrote them before digests: no such fields at all.
    with sqlite3.connect(tmp_path / "events.sqlite") as db:
        rows = list(db.execute("SELECT rowid, state FROM stored_events"))
        for rowid, state in rows:
            document = orjson.loads(state)
            document.pop("act_digest", None)
            document.pop("act_digest_key_id", None)
            db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                       (orjson.dumps(document), rowid))
    app = open_app(tmp_path, key_store)
    assert app.history(subject)[1].act_digest is None
    other = collected(subject, values={"name": "Jan Jansen"})
    assert refusal_rule(app, other).rule == "duplicate-act"


def test_an_act_given_without_its_content_is_compared_by_id_alone(
    app: LedgerApplication,
) -> None:
    """The Python API with a bare ``ActContext``: no content, so no digest to compare."""
    subject = uuid4()
    app.give_consent(subject, ActContext("web-1", "web", T0), purpose="demo-request",
                     channel="web-form", notice_version="2021-12-24", proof_ref="f/1")
    with pytest.raises(DuplicateAct):
        app.give_consent(subject, ActContext("web-1", "web", T0), purpose="demo-request",
                         channel="web-form", notice_version="2021-12-24", proof_ref="f/2")


def test_a_re_delivered_erasure_carried_out_is_a_duplicate(app: LedgerApplication) -> None:
    subject = uuid4()
    record(app, collected(subject))
    record(app, {"act_id": "dsar-1", "type": "erasure-requested", "subject_id": str(subject),
                 "actor": "privacy-office", "occurred_at": "2025-03-04T09:00:00Z",
                 "request_ref": "DSAR-1", "channel": "email"})
    erasure = ActContext("erase-1", "privacy-office", T0)
    app.carry_out_erasure(subject, erasure, request_ref="DSAR-1")
    versions = len(app.history(subject))
    with pytest.raises(DuplicateAct):
        app.carry_out_erasure(subject, erasure, request_ref="DSAR-1")
    assert len(app.history(subject)) == versions
