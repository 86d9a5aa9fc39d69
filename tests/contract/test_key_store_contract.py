"""The ``KeyStore`` contract: every adapter passes the same tests.

``KeyStoreContract`` holds the tests and asks its subclass only how to open a store by
name (the same name reopens the same storage). The SQLite subclass also checks what
is physically left in the database files after a shred; the PostgreSQL one needs a
real server (fixture ``postgres_dsn`` from tests/postgres_fixtures.py).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import sql

from ledger.crypto.binding import StoreSide
from ledger.crypto.key_cache import CachingKeyStore
from ledger.crypto.key_store_postgres import PostgresKeyStore
from ledger.crypto.key_store_sql import SQLKeyStore
from ledger.crypto.key_store_sqlite import SQLiteKeyStore
from ledger.crypto.keys import DataKey, KeyStore
from ledger.crypto.master_key import AesGcmMasterKey, MasterKey
from ledger.errors import KeyDestroyed, KeyStoreError, KeyStoreMismatch, MasterKeyMismatch
from tests.postgres_fixtures import InFreshSchemas


class KeyStoreContract(ABC):
    """Behaviour the domain and the mapper rely on, whatever the storage."""

    master: MasterKey
    _opened: list[KeyStore]

    @abstractmethod
    def open_store(self, name: str, master: MasterKey) -> KeyStore:
        """Open (creating if needed) the storage called ``name`` for this test."""

    @abstractmethod
    def open_bound(self, name: str, master: MasterKey, event_store: StoreSide) -> SQLKeyStore:
        """Open the storage called ``name`` only as ``event_store``'s key store."""

    @abstractmethod
    def storage_exists(self, name: str) -> bool:
        """Whether anything of the storage called ``name`` exists (file, schema)."""

    @pytest.fixture(autouse=True)
    def _close_stores_after_test(self) -> Iterator[None]:
        self.master = AesGcmMasterKey.random()
        self._opened = []
        yield
        for store in self._opened:
            store.close()

    def store(self, name: str = "main", master: MasterKey | None = None) -> KeyStore:
        store = self.open_store(name, master or self.master)
        self._opened.append(store)
        return store

    # -- data keys ----------------------------------------------------------------------

    def test_data_key_is_created_once_then_returned(self) -> None:
        store, subject = self.store(), uuid4()
        key = store.data_key(subject, "general")
        assert (key.subject_id, key.scope, len(key.material)) == (subject, "general", 32)
        assert store.data_key(subject, "general") == key

    def test_active_keys_reads_the_active_keys_of_the_subjects_asked(self) -> None:
        store = self.store()
        alice, bob, carol = uuid4(), uuid4(), uuid4()
        contact, invoice = store.data_key(alice, "contact"), store.data_key(alice, "invoice")
        bobs = store.data_key(bob, "contact")
        store.data_key(carol, "contact")
        store.shred(alice, ["invoice"])
        found = {(k.subject_id, k.scope): k for k in store.active_keys([alice, bob, alice])}
        assert found == {(alice, "contact"): contact, (bob, "contact"): bobs}
        assert invoice.key_id not in {k.key_id for k in found.values()}  # shredded
        assert store.active_keys([]) == []
        assert store.active_keys([uuid4()]) == []

    def test_active_keys_reads_more_subjects_than_one_query_holds(self) -> None:
        store = self.store()
        subjects = [uuid4() for _ in range(1_201)]
        with store.batch():
            made = {store.data_key(s, "contact").key_id for s in subjects}
        assert {k.key_id for k in store.active_keys(subjects)} == made

    def test_keys_by_id_reads_the_keys_asked_that_exist(self) -> None:
        store = self.store()
        alice, bob = uuid4(), uuid4()
        contact, invoice = store.data_key(alice, "contact"), store.data_key(alice, "invoice")
        bobs = store.data_key(bob, "contact")
        store.shred(alice, ["invoice"])
        asked = [contact.key_id, invoice.key_id, bobs.key_id, contact.key_id, uuid4()]
        found = store.keys_by_id(asked)
        assert sorted(found, key=lambda k: k.key_id) == sorted([contact, bobs],
                                                               key=lambda k: k.key_id)
        assert store.keys_by_id([]) == []

    def test_keys_by_id_reads_more_keys_than_one_query_holds(self) -> None:
        store = self.store()
        with store.batch():
            made = {store.data_key(uuid4(), "contact") for _ in range(1_201)}
        assert set(store.keys_by_id([k.key_id for k in made])) == made

    def test_create_data_key_creates_or_yields_to_the_existing_key(self) -> None:
        store = self.store()
        subject = uuid4()
        created = store.create_data_key(subject, "contact")
        assert store.data_key(subject, "contact") == created
        # Another writer's key created in between: that one, never a second active key.
        assert store.create_data_key(subject, "contact") == created
        assert store.active_keys([subject]) == [created]

    def test_different_scopes_and_subjects_get_different_keys(self) -> None:
        store, subject = self.store(), uuid4()
        keys = [
            store.data_key(subject, "general"),
            store.data_key(subject, "fiscal"),
            store.data_key(uuid4(), "general"),
        ]
        assert len({key.key_id for key in keys}) == 3
        assert len({key.material for key in keys}) == 3

    def test_a_batch_commits_its_writes_together(self) -> None:
        store, subjects = self.store(), [uuid4() for _ in range(3)]
        with store.batch():
            keys = [store.data_key(subject, "general") for subject in subjects]
            store.bind_identity("email", "batch@example.nl", subjects[0])
        reopened = self.store()  # another connection sees everything the batch wrote
        assert [reopened.key_by_id(key.key_id) for key in keys] == keys
        assert reopened.lookup_identity("email", "batch@example.nl") == subjects[0]

    def test_a_failed_batch_leaves_its_keys_unused_or_absent(self) -> None:
        store, subject = self.store(), uuid4()
        created: list[DataKey] = []

        def batch_that_fails() -> None:
            with store.batch():
                created.append(store.data_key(subject, "general"))
                raise RuntimeError("the Kafka transaction failed")

        with pytest.raises(RuntimeError):
            batch_that_fails()
        [key] = created
        # Either rolled back (SQLite) or kept (stores that commit each write): never a
        # different active key for the same subject and scope afterwards.
        again = store.data_key(subject, "general")
        assert again.key_id == key.key_id or store.key_by_id(key.key_id) is None

    def test_key_by_id_returns_the_key_or_none(self) -> None:
        store = self.store()
        key = store.data_key(uuid4(), "general")
        assert store.key_by_id(key.key_id) == key
        assert store.key_by_id(uuid4()) is None

    def test_keys_are_durable_across_reopening(self) -> None:
        store = self.store()
        key = store.data_key(uuid4(), "general")
        store.close()
        assert self.store().key_by_id(key.key_id) == key

    def test_concurrent_first_use_creates_one_key(self) -> None:
        stores = [self.store(), self.store()]  # two "processes" on one storage
        subject = uuid4()
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = list(
                pool.map(lambda n: stores[n % 2].data_key(subject, "general").key_id, range(8))
            )
        assert len(set(found)) == 1

    def test_scope_names_are_checked_without_echo(self) -> None:
        store = self.store()
        with pytest.raises(ValueError, match="scope must be") as failure:
            store.data_key(uuid4(), "ann@example.org")
        assert "ann" not in str(failure.value)

    def test_material_shows_in_no_repr(self) -> None:
        store = self.store()
        key = store.data_key(uuid4(), "general")
        exported = next(iter(store.export_wrapped()))
        for text in (repr(key), repr(store), repr(exported)):
            assert key.material.hex() not in text
            assert repr(key.material) not in text
            assert repr(exported.wrapped) not in text

    # -- shredding and the fence ----------------------------------------------------------

    def test_shred_of_one_scope_leaves_the_other(self) -> None:
        store, subject = self.store(), uuid4()
        general = store.data_key(subject, "general")
        fiscal = store.data_key(subject, "fiscal")
        store.bind_identity("email", "ann@example.org", subject)

        assert store.shred(subject, ["general"]) == [general.key_id]
        assert store.key_by_id(general.key_id) is None
        assert store.key_by_id(fiscal.key_id) == fiscal
        assert store.data_key(subject, "fiscal") == fiscal
        assert store.lookup_identity("email", "ann@example.org") == subject

    def test_a_shred_inside_a_batch_takes_effect_with_it(self) -> None:
        # The intake writer carries out erasures inside its key batch.
        store, subject, bystander = self.store(), uuid4(), uuid4()
        key = store.data_key(subject, "general")
        with store.batch():
            other = store.data_key(bystander, "general")
            assert store.shred(subject) == [key.key_id]
            assert store.key_by_id(key.key_id) is None
        assert store.key_by_id(key.key_id) is None
        assert [d.key_id for d in store.destroyed_keys(subject)] == [key.key_id]
        assert store.key_by_id(other.key_id) == other

    def test_a_rolled_back_shred_keeps_the_key(self) -> None:
        store, subject = self.store(), uuid4()
        key = store.data_key(subject, "general")

        def shred_then_fail() -> None:
            with store.batch():
                store.shred(subject)
                raise RuntimeError("the Kafka transaction failed")

        with pytest.raises(RuntimeError):
            shred_then_fail()
        assert store.key_by_id(key.key_id) == key
        assert store.destroyed_keys(subject) == []

    def test_shred_of_everything_removes_identities_too(self) -> None:
        store, subject, bystander = self.store(), uuid4(), uuid4()
        keys = {store.data_key(subject, s).key_id for s in ("general", "fiscal")}
        kept = store.data_key(bystander, "general")
        store.bind_identity("email", "ann@example.org", subject)
        store.bind_identity("phone", "+31 20 123 4567", subject)
        store.bind_identity("email", "bob@example.org", bystander)

        assert set(store.shred(subject)) == keys
        assert all(store.key_by_id(key_id) is None for key_id in keys)
        assert store.lookup_identity("email", "ann@example.org") is None
        assert store.lookup_identity("phone", "+31201234567") is None
        assert store.lookup_identity("email", "bob@example.org") == bystander
        assert store.key_by_id(kept.key_id) == kept

    def test_after_a_shred_a_new_collection_gets_a_new_key(self) -> None:
        store, subject = self.store(), uuid4()
        old = store.data_key(subject, "general")
        store.shred(subject)
        assert store.key_by_id(old.key_id) is None
        new = store.data_key(subject, "general")
        assert new.key_id != old.key_id
        assert new.material != old.material
        assert store.key_by_id(new.key_id) == new
        assert store.key_by_id(old.key_id) is None

    def test_shred_is_idempotent_and_fenced(self) -> None:
        store, subject = self.store(), uuid4()
        key = store.data_key(subject, "general")
        assert store.shred(subject) == [key.key_id]
        assert store.shred(subject) == []
        assert store.shred(uuid4()) == []
        assert store.is_fenced(key.key_id)
        assert not store.is_fenced(uuid4())
        [record] = store.destroyed_keys(subject)
        assert (record.key_id, record.subject_id, record.scope) == (key.key_id, subject, "general")
        assert record.destroyed_at.tzinfo is not None
        assert store.destroyed_keys(uuid4()) == []

    def test_fence_records_accumulate_across_shreds(self) -> None:
        store, subject = self.store(), uuid4()
        first = store.data_key(subject, "general")
        store.shred(subject, ["general"])
        second = store.data_key(subject, "general")
        fiscal = store.data_key(subject, "fiscal")
        store.shred(subject)
        fenced = [record.key_id for record in store.destroyed_keys(subject)]
        assert fenced[0] == first.key_id
        assert set(fenced) == {first.key_id, second.key_id, fiscal.key_id}
        assert {r.key_id for r in store.export_fence()} >= set(fenced)

    def test_shred_with_no_scopes_destroys_nothing(self) -> None:
        store, subject = self.store(), uuid4()
        key = store.data_key(subject, "general")
        assert store.shred(subject, []) == []
        assert store.key_by_id(key.key_id) == key

    def test_shred_refuses_a_bare_string_of_scopes(self) -> None:
        store, subject = self.store(), uuid4()
        store.data_key(subject, "general")
        with pytest.raises(TypeError, match="not one string"):
            store.shred(subject, "general")

    def test_the_fence_refuses_to_bring_a_destroyed_key_back(self) -> None:
        store, subject = self.store(), uuid4()
        key = store.data_key(subject, "general")
        backup = list(store.export_wrapped())
        store.shred(subject)
        with pytest.raises(KeyDestroyed, match=str(key.key_id)):
            store.import_wrapped(backup[0])
        assert store.key_by_id(key.key_id) is None

    def test_an_imported_fence_destroys_and_then_refuses_the_key(self) -> None:
        source, target, subject = self.store("source"), self.store("target"), uuid4()
        key = source.data_key(subject, "general")
        backup = list(source.export_wrapped())
        for record in backup:
            target.import_wrapped(record)
        source.shred(subject)
        for fence in source.export_fence():
            target.import_fence(fence)
            target.import_fence(fence)  # idempotent
        assert target.key_by_id(key.key_id) is None
        assert target.is_fenced(key.key_id)
        with pytest.raises(KeyDestroyed):
            target.import_wrapped(backup[0])

    # -- backup and restore ------------------------------------------------------------

    def test_export_then_import_into_a_fresh_store_round_trips(self) -> None:
        source, subject, erased = self.store("source"), uuid4(), uuid4()
        keys = [source.data_key(subject, scope) for scope in ("general", "fiscal")]
        gone = source.data_key(erased, "general")
        source.shred(erased)
        exported = list(source.export_wrapped())
        assert {r.key_id for r in exported} == {k.key_id for k in keys}
        assert all(r.master_fingerprint == self.master.fingerprint for r in exported)
        assert all(isinstance(r.created_at, datetime) and r.created_at.tzinfo for r in exported)

        target = self.store("target")
        for record in exported:
            target.import_wrapped(record)
            target.import_wrapped(record)  # idempotent
        for key in keys:
            assert target.key_by_id(key.key_id) == key
            assert target.data_key(subject, key.scope) == key  # restored keys are active
        assert target.key_by_id(gone.key_id) is None
        assert sorted(r.key_id for r in target.export_wrapped()) == sorted(
            r.key_id for r in exported
        )

    def test_many_keys_export_completely(self) -> None:
        store = self.store()
        created = {store.data_key(uuid4(), "general").key_id for _ in range(1234)}
        assert {record.key_id for record in store.export_wrapped()} == created

    def test_import_under_another_master_is_refused(self) -> None:
        source = self.store("source")
        source.data_key(uuid4(), "general")
        [record] = source.export_wrapped()
        target = self.store("target", AesGcmMasterKey.random())
        with pytest.raises(MasterKeyMismatch):
            target.import_wrapped(record)

    def test_import_of_a_misattributed_record_is_refused(self) -> None:
        source = self.store("source")
        source.data_key(uuid4(), "general")
        [record] = source.export_wrapped()
        target = self.store("target")
        for moved in (replace(record, subject_id=uuid4()), replace(record, scope="fiscal")):
            with pytest.raises(KeyStoreError, match="failed authentication"):
                target.import_wrapped(moved)
        assert list(target.export_wrapped()) == []

    def test_importing_beside_an_active_key_keeps_the_active_one(self) -> None:
        source, target, subject = self.store("source"), self.store("target"), uuid4()
        old = source.data_key(subject, "general")
        current = target.data_key(subject, "general")
        [record] = source.export_wrapped()
        target.import_wrapped(record)
        assert target.data_key(subject, "general") == current
        assert target.key_by_id(old.key_id) == old
        assert set(target.shred(subject)) == {old.key_id, current.key_id}

    # -- master key --------------------------------------------------------------------

    def test_opening_with_another_master_is_refused(self) -> None:
        self.store().close()
        with pytest.raises(MasterKeyMismatch, match=self.master.fingerprint):
            self.store(master=AesGcmMasterKey.random())

    def test_rotation_rewraps_every_key_and_the_lookup_secret(self) -> None:
        store, subject = self.store(), uuid4()
        keys = [store.data_key(s, scope) for s in (subject, uuid4()) for scope in ("a", "b")]
        store.bind_identity("email", "ann@example.org", subject)
        before = {r.key_id: r.wrapped for r in store.export_wrapped()}
        new_master = AesGcmMasterKey.random()

        assert store.rotate_master(new_master) == len(keys)
        assert store.master_fingerprint == new_master.fingerprint
        after = list(store.export_wrapped())
        assert all(r.master_fingerprint == new_master.fingerprint for r in after)
        assert all(before[r.key_id] != r.wrapped for r in after)
        assert [store.key_by_id(k.key_id) for k in keys] == keys
        assert store.lookup_identity("email", "ann@example.org") == subject
        new_key = store.data_key(uuid4(), "general")
        store.close()

        with pytest.raises(MasterKeyMismatch):
            self.store(master=self.master)
        reopened = self.store(master=new_master)
        assert [reopened.key_by_id(k.key_id) for k in [*keys, new_key]] == [*keys, new_key]
        assert reopened.lookup_identity("email", "ann@example.org") == subject

    def test_reads_and_writes_during_a_rotation_do_not_fail(self) -> None:
        store = self.store()
        keys = [store.data_key(uuid4(), "general") for _ in range(50)]
        rotating = threading.Event()

        def read_and_write() -> int:
            rounds = 0
            while not rotating.is_set() or rounds < 3:
                assert [store.key_by_id(k.key_id) for k in keys[:10]] == keys[:10]
                store.data_key(uuid4(), "general")
                rounds += 1
            return rounds

        with ThreadPoolExecutor(max_workers=3) as pool:
            workers = [pool.submit(read_and_write) for _ in range(2)]
            for _ in range(3):
                store.rotate_master(AesGcmMasterKey.random())
            rotating.set()
            assert all(worker.result() >= 3 for worker in workers)
        assert [store.key_by_id(k.key_id) for k in keys] == keys

    def test_a_store_still_on_the_retired_master_stops_writing(self) -> None:
        rotator, laggard = self.store(), self.store()
        key = laggard.data_key(uuid4(), "general")
        rotator.rotate_master(AesGcmMasterKey.random())
        with pytest.raises(MasterKeyMismatch):
            laggard.data_key(uuid4(), "general")
        with pytest.raises(MasterKeyMismatch):
            laggard.key_by_id(key.key_id)

    # -- bound to its event store -------------------------------------------------------

    def bound(self, name: str, event_store: StoreSide, master: MasterKey | None = None
              ) -> SQLKeyStore:
        store = self.open_bound(name, master or self.master, event_store)
        self._opened.append(store)
        return store

    def test_a_new_store_is_bound_and_then_opens_only_for_its_event_store(self) -> None:
        new_ledger = StoreSide("event store (new)", None, holds_data=False, missing=True)
        ledger_id = self.bound("main", new_ledger).ledger_id
        assert ledger_id is not None
        ours = StoreSide("event store (ours)", ledger_id, holds_data=True)
        assert self.bound("main", ours).ledger_id == ledger_id
        with pytest.raises(KeyStoreMismatch, match=f"belongs to ledger {ledger_id}"):
            self.bound("main", StoreSide("event store (theirs)", uuid4(), holds_data=True))
        # Foreign is said before the master key is checked: it is the better diagnosis.
        with pytest.raises(KeyStoreMismatch, match="belongs to ledger"):
            self.bound("main", StoreSide("event store (theirs)", uuid4(), holds_data=True),
                       AesGcmMasterKey.random())

    def test_a_missing_store_beside_a_ledger_is_refused_and_not_created(self) -> None:
        ledger = StoreSide("event store (ours)", uuid4(), holds_data=True)
        with pytest.raises(KeyStoreMismatch, match="restore the key store backup"):
            self.bound("lost", ledger)
        assert not self.storage_exists("lost")

    def test_an_empty_store_beside_a_ledger_is_refused(self) -> None:
        self.store("empty")  # created, unbound, no keys
        with pytest.raises(KeyStoreMismatch, match="is empty"):
            self.bound("empty", StoreSide("event store (ours)", uuid4(), holds_data=True))

    def test_a_store_from_before_binding_is_adopted(self) -> None:
        old = self.store("old")
        key = old.data_key(uuid4(), "general")
        ledger_id = uuid4()
        adopted = self.bound("old", StoreSide("event store (ours)", ledger_id, True))
        assert adopted.ledger_id == ledger_id
        assert adopted.key_by_id(key.key_id) == key

    # -- identity lookup ---------------------------------------------------------------

    def test_lookup_by_normalised_email_and_phone(self) -> None:
        store, subject = self.store(), uuid4()
        store.bind_identity("email", "  Ann.Example@Example.ORG ", subject)
        store.bind_identity("phone", "+31 (0)20-123 45 67", subject)
        assert store.lookup_identity("email", "ann.example@example.org") == subject
        assert store.lookup_identity("email", "ANN.EXAMPLE@EXAMPLE.ORG") == subject
        assert store.lookup_identity("phone", "+31201234567") == subject
        assert store.lookup_identity("phone", "+31 20 1234567") == subject
        assert store.lookup_identity("email", "other@example.org") is None
        assert store.lookup_identity("phone", "+31201234568") is None
        assert store.lookup_identity("email", "+31201234567") is None  # kinds are separate

    def test_an_identity_bound_with_a_scope_goes_when_that_scope_is_shredded(self) -> None:
        store, subject = self.store(), uuid4()
        store.bind_identity("email", "ann@example.org", subject, scope="general")
        store.bind_identity("phone", "+31201234567", subject, scope="fiscal")
        store.bind_identity("email", "ann@private.example", subject)  # no scope
        store.data_key(subject, "general")

        store.shred(subject, ["general"])
        assert store.lookup_identity("email", "ann@example.org") is None
        assert store.lookup_identity("phone", "+31201234567") == subject
        assert store.lookup_identity("email", "ann@private.example") == subject
        assert store.shred(subject, ["general"]) == []

        store.shred(subject)
        assert store.lookup_identity("phone", "+31201234567") is None
        assert store.lookup_identity("email", "ann@private.example") is None

    def test_rebinding_moves_an_identity_to_the_latest_scope(self) -> None:
        store, subject = self.store(), uuid4()
        store.bind_identity("email", "ann@example.org", subject, scope="fiscal")
        store.bind_identity("email", "ann@example.org", subject, scope="general")
        store.bind_identity("email", "ann@example.org", subject, scope="general")
        store.shred(subject, ["fiscal"])
        assert store.lookup_identity("email", "ann@example.org") == subject
        store.shred(subject, ["general"])
        assert store.lookup_identity("email", "ann@example.org") is None

    def test_identity_scope_names_are_checked(self) -> None:
        with pytest.raises(ValueError, match="scope must be"):
            self.store().bind_identity("email", "ann@example.org", uuid4(), scope="Ann X")

    def test_identities_survive_reopening(self) -> None:
        store, subject = self.store(), uuid4()
        store.bind_identity("email", "ann@example.org", subject)
        store.close()
        assert self.store().lookup_identity("email", "ann@example.org") == subject

    def test_binding_is_idempotent_and_refuses_another_subject(self) -> None:
        store, subject = self.store(), uuid4()
        store.bind_identity("email", "ann@example.org", subject)
        store.bind_identity("email", "ANN@example.org", subject)
        with pytest.raises(KeyStoreError, match="already bound") as failure:
            store.bind_identity("email", "ann@example.org", uuid4())
        assert "ann" not in str(failure.value)
        assert store.lookup_identity("email", "ann@example.org") == subject

    def test_a_closed_store_says_so(self) -> None:
        store = self.store()
        store.close()
        with pytest.raises(KeyStoreError):
            store.key_by_id(uuid4())


def scan(files: list[Path], needle: bytes) -> list[str]:
    """The names of the files whose bytes contain ``needle``."""
    return [path.name for path in files if path.exists() and needle in path.read_bytes()]


class TestSQLiteKeyStore(KeyStoreContract):
    @pytest.fixture(autouse=True)
    def _in_tmp_path(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def open_store(self, name: str, master: MasterKey) -> KeyStore:
        return SQLiteKeyStore(self.path(name), master)

    def open_bound(self, name: str, master: MasterKey, event_store: StoreSide) -> SQLKeyStore:
        return SQLiteKeyStore(self.path(name), master, event_store=event_store)

    def storage_exists(self, name: str) -> bool:
        return any(path.exists() for path in self.files(name))

    def path(self, name: str = "main") -> Path:
        return self.tmp_path / f"{name}.sqlite"

    def files(self, name: str = "main") -> list[Path]:
        path = self.path(name)
        return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]

    def test_files_are_owner_only(self) -> None:
        store = self.store()
        store.data_key(uuid4(), "general")
        assert (self.path().stat().st_mode & 0o077) == 0

    def test_the_raw_identity_never_reaches_the_files(self) -> None:
        store, subject = self.store(), uuid4()
        email = f"Canary.{uuid4().hex}@Example.org"
        phone = f"+31 6 {uuid4().int % 10**8:08d}"
        clear_scope = f"canary-{uuid4().hex[:16]}"  # scope names are stored in clear
        store.data_key(subject, clear_scope)
        store.bind_identity("email", email, subject)
        store.bind_identity("phone", phone, subject)

        assert scan(self.files(), clear_scope.encode()), "the scan must find clear values"
        needles = [email, email.casefold(), phone, phone.replace(" ", "")]
        for needle in needles:
            assert scan(self.files(), needle.encode()) == [], "identity stored in clear"
        store.close()
        assert scan(self.files(), clear_scope.encode())
        for needle in needles:
            assert scan(self.files(), needle.encode()) == []

    def test_a_shred_leaves_neither_wrapped_keys_nor_lookup_hashes_in_the_files(
        self,
    ) -> None:
        store, victim = self.store(), uuid4()
        bystanders = [uuid4() for _ in range(300)]
        # The victim's rows sit among others, so their pages stay in use after the delete.
        for index, bystander in enumerate(bystanders[:150]):
            store.data_key(bystander, "general")
            store.bind_identity("email", f"bystander{index}@example.org", bystander)
        store.data_key(victim, "general")
        store.data_key(victim, "fiscal")
        store.bind_identity("email", f"victim.{uuid4().hex}@example.org", victim)
        for index, bystander in enumerate(bystanders[150:]):
            store.data_key(bystander, "general")
            store.bind_identity("email", f"later{index}@example.org", bystander)
        # A shred checkpoints: the victim's rows move into the main file, and the next
        # writes put copies of some of their pages in the WAL again.
        throwaway = uuid4()
        store.data_key(throwaway, "general")
        store.shred(throwaway)
        store.data_key(uuid4(), "general")
        store.bind_identity("email", "after.checkpoint@example.org", uuid4())

        wrapped = [r.wrapped for r in store.export_wrapped() if r.subject_id == victim]
        kept = next(r.wrapped for r in store.export_wrapped() if r.subject_id != victim)
        digests = self.lookup_digests(victim)
        assert len(wrapped) == 2
        assert len(digests) == 1
        for needle in [*wrapped, *digests, kept]:
            assert "main.sqlite" in scan(self.files(), needle), "control: there before the shred"

        assert len(store.shred(victim)) == 2

        for needle in [*wrapped, *digests]:
            assert scan(self.files(), needle) == [], "shredded bytes left in the files"
        assert scan(self.files(), kept), "positive control: bystanders are untouched"
        store.close()
        for needle in [*wrapped, *digests]:
            assert scan(self.files(), needle) == []

    def test_a_shred_inside_a_batch_leaves_no_wrapped_key_once_it_commits(self) -> None:
        store, victim = self.store(), uuid4()
        for index in range(50):
            store.data_key(uuid4(), "general")
            store.bind_identity("email", f"bystander{index}@example.org", uuid4())
        store.data_key(victim, "general")
        wrapped = next(r.wrapped for r in store.export_wrapped() if r.subject_id == victim)
        assert scan(self.files(), wrapped), "control: there before the shred"
        with store.batch():
            store.data_key(uuid4(), "general")
            store.shred(victim)
        assert scan(self.files(), wrapped) == [], "shredded bytes left in the files"

    def test_a_row_moved_to_another_subject_does_not_unwrap(self) -> None:
        store, ann, bob = self.store(), uuid4(), uuid4()
        ann_key = store.data_key(ann, "general")
        store.data_key(bob, "general")
        with sqlite3.connect(self.path()) as raw:
            raw.execute(
                "UPDATE data_keys SET wrapped = (SELECT wrapped FROM data_keys"
                " WHERE subject_id = ?) WHERE subject_id = ?",
                (ann.bytes, bob.bytes),
            )
        raw.close()
        assert store.key_by_id(ann_key.key_id) == ann_key
        with pytest.raises(KeyStoreError, match="failed authentication"):
            store.data_key(bob, "general")

    def test_a_store_from_before_identity_scopes_is_upgraded(self) -> None:
        store, subject = self.store(), uuid4()
        store.bind_identity("email", "ann@example.org", subject)
        store.close()
        raw = sqlite3.connect(self.path())
        raw.execute("ALTER TABLE identities DROP COLUMN scope")
        raw.close()
        reopened = self.store()
        assert reopened.lookup_identity("email", "ann@example.org") == subject
        reopened.bind_identity("phone", "+31201234567", subject, scope="general")
        reopened.shred(subject, ["general"])
        assert reopened.lookup_identity("phone", "+31201234567") is None
        assert reopened.lookup_identity("email", "ann@example.org") == subject

    def lookup_digests(self, subject_id: UUID) -> list[bytes]:
        raw = sqlite3.connect(self.path())
        try:
            rows = raw.execute(
                "SELECT digest FROM identities WHERE subject_id = ?", (subject_id.bytes,)
            ).fetchall()
        finally:
            raw.close()
        return [bytes(row[0]) for row in rows]


class TestCachingKeyStore(KeyStoreContract):
    """The cache must be a drop-in: the whole contract holds through it."""

    @pytest.fixture(autouse=True)
    def _in_tmp_path(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def open_store(self, name: str, master: MasterKey) -> KeyStore:
        inner = SQLiteKeyStore(self.tmp_path / f"{name}.sqlite", master)
        return CachingKeyStore(inner, max_entries=100)

    def open_bound(self, name: str, master: MasterKey, event_store: StoreSide) -> SQLKeyStore:
        # The binding is the inner store's, checked as it opens: before any cache.
        return SQLiteKeyStore(self.tmp_path / f"{name}.sqlite", master, event_store=event_store)

    def storage_exists(self, name: str) -> bool:
        return (self.tmp_path / f"{name}.sqlite").exists()

    def test_a_store_still_on_the_retired_master_stops_writing(self) -> None:
        rotator, laggard = self.store(), self.store()
        laggard.data_key(uuid4(), "general")
        rotator.rotate_master(AesGcmMasterKey.random())
        # Cached keys stay readable (until evicted); new keys cannot be created.
        with pytest.raises(MasterKeyMismatch):
            laggard.data_key(uuid4(), "general")


@pytest.mark.postgres
class TestPostgresKeyStore(InFreshSchemas, KeyStoreContract):
    def open_store(self, name: str, master: MasterKey) -> KeyStore:
        return PostgresKeyStore(
            self.dsn, master, schema=f"{self.schema}_{name}", pool_size=2, connect_timeout=10
        )

    def open_bound(self, name: str, master: MasterKey, event_store: StoreSide) -> SQLKeyStore:
        return PostgresKeyStore(
            self.dsn, master, schema=f"{self.schema}_{name}", pool_size=2, connect_timeout=10,
            event_store=event_store,
        )

    def storage_exists(self, name: str) -> bool:
        # A refused open rolls back the schema and tables it created.
        return bool(self.query("SELECT 1 FROM information_schema.schemata"
                               " WHERE schema_name = %s", f"{self.schema}_{name}"))

    def query(self, statement: str | sql.Composed, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cursor = conn.execute(statement, args)
            return cursor.fetchall() if cursor.description else []

    def all_table_text(self, name: str = "main") -> str:
        """Every row of every table of the store, as PostgreSQL prints it (bytea as hex)."""
        schema = f"{self.schema}_{name}"
        tables = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", schema
        )
        assert len(tables) == 4
        return "\n".join(
            str(row[0])
            for (table,) in tables
            for row in self.query(
                sql.SQL("SELECT t::text FROM {}.{} t").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            )
        )

    def test_the_raw_identity_never_reaches_the_tables(self) -> None:
        store, subject = self.store(), uuid4()
        email = f"Canary.{uuid4().hex}@Example.org"
        clear_scope = f"canary-{uuid4().hex[:16]}"
        store.data_key(subject, clear_scope)
        store.bind_identity("email", email, subject)
        text = self.all_table_text()
        assert clear_scope in text, "the scan must find clear values"
        for needle in (email, email.casefold()):
            assert needle not in text
            assert needle.encode().hex() not in text

    def stored_items(self, name: str = "main") -> str:
        """Hex of every tuple (live or dead) and every index entry of the store's tables.

        Read from the pages with pageinspect, so rows a VACUUM has not yet removed are
        included. Free space inside a page is not: PostgreSQL never zeroes it, so the
        bytes of a removed tuple can linger there (and in the WAL) until overwritten,
        protected by the master-key wrapping (keys) and the lookup secret (digests).
        """
        try:
            self.query("CREATE EXTENSION IF NOT EXISTS pageinspect")
        except Exception as exc:  # noqa: BLE001 (reported with what to do)
            pytest.fail(f"this test reads pages: it needs superuser and pageinspect ({exc})")
        relations = self.query(
            "SELECT c.oid::regclass::text, c.relkind, pg_relation_size(c.oid) / 8192"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'i')",
            f"{self.schema}_{name}",
        )
        assert len(relations) >= 8
        items: list[str] = []
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for relation, kind, pages in relations:
                if kind == "r":
                    statement = (
                        "SELECT coalesce(encode(t_data, 'hex'), '')"
                        " FROM heap_page_items(get_raw_page(%s, %s::int))"
                    )
                    numbers = range(pages)
                else:
                    statement = "SELECT replace(data, ' ', '') FROM bt_page_items(%s, %s::int)"
                    numbers = range(1, pages)  # page 0 of a B-tree is its meta page
                for number in numbers:
                    items += [row[0] for row in conn.execute(statement, (relation, number))]
        return "\n".join(items)

    def test_a_shred_leaves_no_tuple_or_index_entry_behind(self) -> None:
        store, victim = self.store(), uuid4()
        bystanders = [uuid4() for _ in range(100)]
        for index, subject in enumerate(bystanders):
            store.data_key(subject, "general")
            store.bind_identity("email", f"bystander{index}@example.org", subject)
            if index == 50:
                store.data_key(victim, "general")
                store.bind_identity("email", "victim@example.org", victim)
        schema = f"{self.schema}_main"
        # Filler rows make the tables big enough that a plain VACUUM would skip the indexes.
        for statement in (
            "INSERT INTO {}.identities SELECT decode(md5(n::text) || md5((-n)::text), 'hex'),"
            " gen_random_uuid() FROM generate_series(1, 20000) n",
            "INSERT INTO {}.data_keys SELECT gen_random_uuid(), gen_random_uuid(), 'general',"
            " true, decode(md5(n::text), 'hex'), 'filler', now() FROM generate_series(1, 20000) n",
        ):
            self.query(sql.SQL(statement).format(sql.Identifier(schema)))
        wrapped = [r.wrapped.hex() for r in store.export_wrapped() if r.subject_id == victim]
        kept = next(
            r.wrapped.hex()
            for r in store.export_wrapped()
            if r.subject_id != victim and r.master_fingerprint != "filler"
        )
        digests = [
            bytes(digest).hex()
            for (digest,) in self.query(
                sql.SQL("SELECT digest FROM {}.identities WHERE subject_id = %s").format(
                    sql.Identifier(schema)
                ),
                victim,
            )
        ]
        assert len(wrapped) == 1
        assert len(digests) == 1
        items = self.stored_items()
        assert all(needle in items for needle in [*wrapped, *digests, kept]), "control"

        store.shred(victim)

        items = self.stored_items()
        assert [needle for needle in [*wrapped, *digests] if needle in items] == []
        assert kept in items, "positive control: bystanders are untouched"
        count = sql.SQL("SELECT count(*) FROM {}.identities").format(sql.Identifier(schema))
        assert self.query(count) == [(20100,)]

    def test_a_batch_whose_statement_failed_is_refused_not_silently_rolled_back(self) -> None:
        """PostgreSQL answers COMMIT of a transaction in error with a silent ROLLBACK: a
        writer that swallowed one act's key-store error would commit the batch's events
        while their new keys vanished. The store must raise instead."""
        store = self.store()
        batch = store.batch()
        batch.__enter__()
        created = store.data_key(uuid4(), "general")
        conn = store._batch.connection  # the batch's own transaction
        assert conn is not None
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT 1 / 0")  # a failed statement, its error swallowed
        with pytest.raises(KeyStoreError, match="batch was rolled back"):
            batch.__exit__(None, None, None)
        assert store.key_by_id(created.key_id) is None  # rolled back, and said so
        store.close()
