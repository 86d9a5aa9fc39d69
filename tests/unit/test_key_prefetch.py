"""A batch's keys read in one query: ``CachingKeyStore.prefetch``.

The intake writer prefetches the keys of a batch's subjects before handling its acts;
a key a prefetched subject lacks is then created without a look-up first. What must
never happen: a second active key for a (subject, scope), or a shredded key served.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from ledger.crypto.key_cache import CachingKeyStore
from ledger.crypto.key_store_sqlite import SQLiteKeyStore
from ledger.crypto.keys import DataKey
from ledger.crypto.master_key import AesGcmMasterKey


class CountingStore(SQLiteKeyStore):
    """A real store that counts the reads and creations the cache asks of it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, AesGcmMasterKey.random())
        self.calls: Counter[str] = Counter()

    def data_key(self, subject_id: UUID, scope: str) -> DataKey:
        self.calls["data_key"] += 1
        return super().data_key(subject_id, scope)

    def create_data_key(self, subject_id: UUID, scope: str) -> DataKey:
        self.calls["create_data_key"] += 1
        return super().create_data_key(subject_id, scope)

    def active_keys(self, subject_ids: Collection[UUID]) -> list[DataKey]:
        self.calls["active_keys"] += 1
        return super().active_keys(subject_ids)


@pytest.fixture
def inner(tmp_path: Path) -> Iterator[CountingStore]:
    store = CountingStore(tmp_path / "keys.sqlite")
    yield store
    store.close()


def test_one_read_serves_the_batch_and_new_keys_skip_the_look_up(
        inner: CountingStore) -> None:
    known, new = uuid4(), uuid4()
    existing = inner.data_key(known, "contact")
    inner.calls.clear()
    store = CachingKeyStore(inner)
    store.prefetch([known, new, known])
    assert store.data_key(known, "contact") == existing  # read by the prefetch
    created = store.data_key(new, "contact")
    assert inner.calls == Counter(active_keys=1, create_data_key=1)
    assert store.data_key(new, "contact") == created  # cached now
    assert inner.active_keys([new]) == [created]


def test_a_key_created_elsewhere_after_the_prefetch_is_used_not_doubled(
        inner: CountingStore) -> None:
    subject = uuid4()
    store = CachingKeyStore(inner)
    store.prefetch([subject])
    theirs = inner.data_key(subject, "contact")  # another writer, after the prefetch
    assert store.data_key(subject, "contact") == theirs
    assert inner.active_keys([subject]) == [theirs]


def test_a_shred_ends_what_the_prefetch_knew(inner: CountingStore) -> None:
    subject = uuid4()
    store = CachingKeyStore(inner)
    store.prefetch([subject])
    first = store.data_key(subject, "contact")
    store.shred(subject, ["contact"])
    inner.calls.clear()
    second = store.data_key(subject, "contact")
    assert second.key_id != first.key_id
    assert inner.calls == Counter(data_key=1)  # looked up again, not assumed absent


def test_cached_subjects_are_not_read_again(inner: CountingStore) -> None:
    subject = uuid4()
    store = CachingKeyStore(inner)
    key = store.data_key(subject, "contact")
    inner.calls.clear()
    store.prefetch([subject])
    assert inner.calls == Counter()
    assert store.data_key(subject, "contact") == key
    # Not prefetched (it was cached), so a scope it lacks is looked up first.
    store.data_key(subject, "invoice")
    assert inner.calls == Counter(data_key=1)
