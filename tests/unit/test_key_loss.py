"""Key loss is not erasure: the mapper asks the erasure fence when a key is not found,
and the binding of key store and event store refuses stores that are not each other's.
(The command line's side is tests/e2e/test_cli_key_loss.py.)"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from ledger.config import Settings
from ledger.crypto.aead import complete_field_aad, seal_with, versioned_event_aad
from ledger.crypto.binding import StoreSide, settle
from ledger.crypto.key_cache import CachingKeyStore
from ledger.crypto.key_store_sqlite import SQLiteKeyStore
from ledger.crypto.master_key import AesGcmMasterKey, FileMasterKey, master_key_from_settings
from ledger.domain.events import DataCollected
from ledger.domain.values import Erased, PersonalValues
from ledger.errors import ConfigurationError, KeyMissing, KeyStoreMismatch
from ledger.persistence.encrypting_mapper import EncryptingMapper, SealedValue
from ledger.persistence.event_store_binding import bind_event_store, read_event_store
from ledger.persistence.transcoder import ledger_transcoder
from tests.unit.counting_key_store import CountingKeyStore

SUBJECT = uuid4()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingKeyStore]:
    with CountingKeyStore(tmp_path / "keys.sqlite") as key_store:
        yield key_store


def sealed(store: SQLiteKeyStore, scope: str, text: str, category: str = "name"
           ) -> SealedValue:
    key = store.data_key(SUBJECT, scope)
    aad = complete_field_aad(versioned_event_aad(SUBJECT, SUBJECT, 1), f"values.{category}")
    return SealedValue(SUBJECT, 1, "values", category, scope, key.key_id,
                       seal_with(key.cipher, text.encode(), aad))


def lose(store: SQLiteKeyStore, key_id: UUID) -> None:
    """Deletes a key row behind the store's back: lost, not shredded (no fence)."""
    with sqlite3.connect(store.path) as db:
        db.execute("DELETE FROM data_keys WHERE key_id = ?", (key_id.bytes,))
    db.close()


# -- the mapper --------------------------------------------------------------------------

def test_a_found_key_opens_without_asking_the_fence(store: CountingKeyStore) -> None:
    mapper = EncryptingMapper(ledger_transcoder(), CachingKeyStore(store))
    value = sealed(store, "general", "Ann")
    assert mapper.open_value(value) == "Ann"
    assert mapper.open_value(value) == "Ann"
    assert store.calls["is_fenced"] == 0  # the hot path is unchanged


def test_a_shredded_key_reads_as_erased_and_the_fence_is_asked_once(
    store: CountingKeyStore,
) -> None:
    mapper = EncryptingMapper(ledger_transcoder(), store)
    value = sealed(store, "general", "Ann")
    store.shred(SUBJECT, ["general"])
    assert mapper.open_value(value) == Erased("general")
    assert mapper.open_value(value) == Erased("general")
    assert store.calls["is_fenced"] == 1  # a fence record is final: remembered


def test_a_lost_key_is_key_missing_never_erased(store: CountingKeyStore) -> None:
    """The defect: before, a key gone from the store read as ``Erased`` whether it was
    shredded or lost."""
    mapper = EncryptingMapper(ledger_transcoder(), CachingKeyStore(store))
    value = sealed(store, "fiscal", "INV-1", "invoice-details")
    lose(store, value.key_id)
    with pytest.raises(KeyMissing) as caught:
        mapper.open_value(value)
    assert caught.value.key_ids == (value.key_id,)
    assert caught.value.rule == "key-missing"
    message = str(caught.value)
    assert f"1 data key of subject {SUBJECT}" in message
    assert str(value.key_id) in message
    assert "restore the key store backup" in message
    assert "INV-1" not in message


def test_a_replayed_event_names_every_lost_key_of_it(store: CountingKeyStore) -> None:
    mapper = EncryptingMapper(ledger_transcoder(), store)
    event = object.__new__(DataCollected)
    object.__setattr__(event, "__dict__", {
        "originator_id": SUBJECT, "originator_version": 1,
        "values": PersonalValues({"name": "Ann", "invoice-details": "INV-1",
                                  "business-email": "ann@example.nl"}),
        "scopes": {"name": "general", "invoice-details": "fiscal",
                   "business-email": "contact"},
    })
    stored = mapper.to_stored_event(event)
    assert mapper.to_domain_event(stored).values["name"] == "Ann"  # type: ignore[attr-defined]
    keys = {scope: store.data_key(SUBJECT, scope).key_id
            for scope in ("general", "fiscal", "contact")}
    store.shred(SUBJECT, ["contact"])
    lose(store, keys["general"])
    lose(store, keys["fiscal"])
    with pytest.raises(KeyMissing) as caught:
        mapper.to_domain_event(stored)
    assert set(caught.value.key_ids) == {keys["general"], keys["fiscal"]}
    assert str(caught.value).startswith(f"2 data keys of subject {SUBJECT}")


def test_the_message_counts_all_but_names_a_bounded_number() -> None:
    ids = [uuid4() for _ in range(KeyMissing.SHOWN + 5)]
    message = str(KeyMissing(ids))
    assert message.startswith(f"{len(ids)} data keys missing")
    assert "and 5 more" in message
    assert sum(str(key_id) in message for key_id in ids) == KeyMissing.SHOWN


# -- the binding ---------------------------------------------------------------------------

X, Y = uuid4(), uuid4()


def side(ledger_id: UUID | None, holds: bool, *, missing: bool = False, what: str = "s"
         ) -> StoreSide:
    return StoreSide(what, ledger_id, holds, missing)


@pytest.mark.parametrize(
    ("events", "keys", "expected"),
    [
        (side(X, True), side(X, True), X),
        (side(X, False), side(X, False), X),
        (side(X, True), side(None, True), X),  # a key store from before binding: adopted
        (side(None, True), side(X, True), X),  # acts from before binding: adopted
        (side(None, False), side(X, False), X),  # a first open that stopped halfway
        (side(None, False, missing=True), side(X, False), X),
    ],
)
def test_stores_that_belong_together_settle_on_one_id(
    events: StoreSide, keys: StoreSide, expected: UUID
) -> None:
    assert settle(events, keys) == expected


def test_two_new_or_two_unbound_stores_get_a_new_id() -> None:
    first = settle(side(None, False, missing=True), side(None, False, missing=True))
    assert first not in (None, X, Y)
    assert settle(side(None, True), side(None, True)) != first


@pytest.mark.parametrize(
    ("events", "keys", "words"),
    [
        (side(X, True), side(Y, True), f"belongs to ledger {Y}"),
        (side(X, True), side(None, False, missing=True), "is missing"),
        (side(X, False), side(None, False), "is empty"),
        (side(None, True), side(None, False), "is empty"),
        (side(None, True), side(Y, False), "is empty"),
        (side(None, False, missing=True), side(Y, True), "is missing"),
        (side(None, False), side(None, True), "without acts"),
    ],
)
def test_stores_that_do_not_belong_together_are_refused(
    events: StoreSide, keys: StoreSide, words: str
) -> None:
    with pytest.raises(KeyStoreMismatch, match=words) as caught:
        settle(events, keys)
    assert "restore" in str(caught.value)


def test_a_missing_key_store_is_refused_before_its_file_is_created(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite"
    with pytest.raises(KeyStoreMismatch, match="is missing"):
        SQLiteKeyStore(path, AesGcmMasterKey.random(), event_store=side(X, True))
    assert not path.exists()
    path.write_bytes(b"")
    with pytest.raises(KeyStoreMismatch, match="is empty"):
        SQLiteKeyStore(path, AesGcmMasterKey.random(), event_store=side(X, True))
    assert path.read_bytes() == b""


def test_a_refused_open_rolls_back_what_it_created(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite"
    SQLiteKeyStore(path, AesGcmMasterKey.random()).close()  # unbound, empty
    with pytest.raises(KeyStoreMismatch, match="is empty"):
        SQLiteKeyStore(path, AesGcmMasterKey.random(), event_store=side(X, True))
    with sqlite3.connect(path) as db:
        names = {row[0] for row in db.execute("SELECT name FROM key_store_meta")}
    db.close()
    assert "ledger_id" not in names


def test_a_foreign_key_store_is_named_before_its_master_key_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite"
    SQLiteKeyStore(path, AesGcmMasterKey.random(), event_store=side(None, False)).close()
    with pytest.raises(KeyStoreMismatch, match="belongs to ledger"):
        SQLiteKeyStore(path, AesGcmMasterKey.random(), event_store=side(X, False))


def test_the_event_store_side_is_read_without_creating_and_bound_once(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    assert read_event_store(path) == StoreSide(f"event store {path}", None, False, True)
    assert not path.exists()
    bind_event_store(path, X)
    bind_event_store(path, X)  # idempotent
    assert read_event_store(path).ledger_id == X
    with pytest.raises(KeyStoreMismatch, match="another ledger"):
        bind_event_store(path, Y)
    assert read_event_store(path).ledger_id == X
    assert not read_event_store(path).holds_data


# -- the master key ------------------------------------------------------------------------

def test_a_lost_master_key_is_not_generated_next_to_existing_stores(tmp_path: Path) -> None:
    """The defect: before, a new master.key was generated beside the stores, and the key
    store then failed with a master-key mismatch (exit 3), the new key left behind."""
    settings = Settings(data_dir=tmp_path)
    FileMasterKey.generate(tmp_path / "other.key")
    settings.key_store_path.write_bytes(b"")
    with pytest.raises(ConfigurationError, match="restore the master key") as caught:
        master_key_from_settings(settings)
    assert str(tmp_path / "master.key") in str(caught.value)
    assert not (tmp_path / "master.key").exists()


def test_a_new_data_dir_still_gets_a_master_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "new")
    key = master_key_from_settings(settings)
    assert FileMasterKey(tmp_path / "new" / "master.key").fingerprint == key.fingerprint
