"""A replay's keys read in one go: ``EncryptingMapper.to_domain_events`` and the event
store that reloads a subject through it.

A cold key cache (a replay, a new writer, every act on the embedded backend) used to
read one key per query. What must hold besides: the events are the ones the one-by-one
path gives, an erased value still reads as erased, and a lost key is still an integrity
failure, never "erased".
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from ledger.application import LedgerApplication
from ledger.crypto.key_cache import CachingKeyStore
from ledger.domain.values import Erased
from ledger.errors import KeyMissing
from ledger.intake.acts import act_from_document, apply_act
from ledger.persistence import encrypting_mapper
from ledger.persistence.encrypting_mapper import EncryptingMapper
from ledger.persistence.event_store import KeyBatchingEventStore
from ledger.persistence.transcoder import ledger_transcoder
from ledger.policy import load_policy
from tests.unit.counting_key_store import CountingKeyStore


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[CountingKeyStore]:
    with CountingKeyStore(tmp_path / "keys.sqlite") as store:
        yield store


def open_app(tmp_path: Path, keys: CountingKeyStore) -> LedgerApplication:
    return LedgerApplication(load_policy(), key_store=keys, env={
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "events.sqlite"),
    })


def collected(subject: UUID, act_id: str, purpose: str = "contact") -> dict[str, Any]:
    basis = "legitimate-interest" if purpose == "contact" else "contract"
    return {"act_id": act_id, "type": "data-collected", "subject_id": str(subject),
            "actor": "crm", "occurred_at": "2025-03-03T09:00:00Z", "purpose": purpose,
            "source_system": "crm", "legal_basis": basis,
            "values": {"name": f"Name {act_id}", "business-email": f"{act_id}@example.nl"}}


def stored_events(app: LedgerApplication) -> list[Any]:
    return list(app.recorder.select_notifications(None, limit=1_000))


@pytest.fixture
def recorded(tmp_path: Path, keys: CountingKeyStore) -> list[UUID]:
    """Three subjects, each with values under keys of two scopes."""
    app = open_app(tmp_path, keys)
    subjects = [uuid4() for _ in range(3)]
    for n, subject in enumerate(subjects):
        apply_act(app, act_from_document(collected(subject, f"a-{n}")))
        apply_act(app, act_from_document(collected(subject, f"b-{n}", "service-delivery")))
    app.close()
    return subjects


def test_a_replay_reads_every_key_in_one_read_and_gives_the_same_events(
    tmp_path: Path, keys: CountingKeyStore, recorded: list[UUID],
) -> None:
    app = open_app(tmp_path, keys)
    events = stored_events(app)
    one_by_one = [EncryptingMapper(ledger_transcoder(), CachingKeyStore(keys)
                                   ).to_domain_event(e) for e in events]
    keys.calls.clear()
    batched = EncryptingMapper(ledger_transcoder(), CachingKeyStore(keys)
                               ).to_domain_events(events)
    assert keys.calls == Counter(keys_by_id=1)
    assert [vars(e) for e in batched] == [vars(e) for e in one_by_one]
    assert len({v for e in batched for v in vars(e).get("values", {}).values()}) == 12


def test_a_long_replay_reads_its_keys_batch_by_batch(
    tmp_path: Path, keys: CountingKeyStore, recorded: list[UUID],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = open_app(tmp_path, keys)
    events = stored_events(app)
    expected = [vars(e) for e in EncryptingMapper(ledger_transcoder(), keys
                                                  ).to_domain_events(events)]
    monkeypatch.setattr(encrypting_mapper, "_KEY_BATCH", 4)
    keys.calls.clear()
    batched = EncryptingMapper(ledger_transcoder(), keys).to_domain_events(events)
    assert keys.calls == Counter(keys_by_id=-(-len(events) // 4))
    assert [vars(e) for e in batched] == expected


def test_a_subject_is_reloaded_with_one_key_read(
    tmp_path: Path, keys: CountingKeyStore, recorded: list[UUID],
) -> None:
    app = open_app(tmp_path, keys)  # its own key cache is cold: none here
    assert isinstance(app.events, KeyBatchingEventStore)
    keys.calls.clear()
    subject = app.subject(recorded[1])
    assert keys.calls == Counter(keys_by_id=1)
    assert subject.state.holdings["contact"]["name"] == "Name a-1"
    assert subject.state.holdings["service-delivery"]["name"] == "Name b-1"


def test_an_erased_value_reads_as_erased_and_a_lost_key_as_missing(
    tmp_path: Path, keys: CountingKeyStore, recorded: list[UUID],
) -> None:
    app = open_app(tmp_path, keys)
    shredded, lost = recorded[0], recorded[2]
    keys.shred(shredded)
    mapper = EncryptingMapper(ledger_transcoder(), keys)
    events = [e for e in stored_events(app) if e.originator_id != lost]
    values = [vars(e)["values"] for e in mapper.to_domain_events(events)
              if e.originator_id == shredded and "values" in vars(e)]
    assert values
    assert all(isinstance(v, Erased) for held in values for v in held.values())

    key_ids = {k.key_id for k in keys.active_keys([lost])}
    with sqlite3.connect(keys.path) as db:  # deleted behind the store's back: no fence
        db.execute("DELETE FROM data_keys WHERE subject_id = ?", (lost.bytes,))
    db.close()
    with pytest.raises(KeyMissing) as missing:
        mapper.to_domain_events(stored_events(app))
    assert set(missing.value.key_ids) <= key_ids
