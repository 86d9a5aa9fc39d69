"""A batch's keys read in one query: ``CachingKeyStore.prefetch``.

The intake writer prefetches the keys of a batch's subjects before handling its acts;
a key a prefetched subject lacks is then created without a look-up first. What must
never happen: a second active key for a (subject, scope), or a shredded key served.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from ledger.crypto.key_cache import CachingKeyStore
from tests.unit.counting_key_store import CountingKeyStore


@pytest.fixture
def inner(tmp_path: Path) -> Iterator[CountingKeyStore]:
    with CountingKeyStore(tmp_path / "keys.sqlite") as store:
        yield store


def test_one_read_serves_the_batch_and_new_keys_skip_the_look_up(
        inner: CountingKeyStore) -> None:
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
        inner: CountingKeyStore) -> None:
    subject = uuid4()
    store = CachingKeyStore(inner)
    store.prefetch([subject])
    theirs = inner.data_key(subject, "contact")  # another writer, after the prefetch
    assert store.data_key(subject, "contact") == theirs
    assert inner.active_keys([subject]) == [theirs]


def test_a_shred_ends_what_the_prefetch_knew(inner: CountingKeyStore) -> None:
    subject = uuid4()
    store = CachingKeyStore(inner)
    store.prefetch([subject])
    first = store.data_key(subject, "contact")
    store.shred(subject, ["contact"])
    inner.calls.clear()
    second = store.data_key(subject, "contact")
    assert second.key_id != first.key_id
    assert inner.calls == Counter(data_key=1)  # looked up again, not assumed absent


def test_cached_subjects_are_not_read_again(inner: CountingKeyStore) -> None:
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
