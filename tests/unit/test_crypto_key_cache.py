"""The key cache: bounded, least-recently-used, and forgetful on shred and rotation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

import pytest

from ledger.crypto.key_cache import CachingKeyStore
from ledger.crypto.keys import KeyStore
from ledger.crypto.master_key import AesGcmMasterKey
from tests.unit.counting_key_store import CountingKeyStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def inner(tmp_path: Path) -> Iterator[CountingKeyStore]:
    with CountingKeyStore(tmp_path / "keys.sqlite") as store:
        yield store


def test_it_implements_the_port(inner: CountingKeyStore) -> None:
    store: KeyStore = CachingKeyStore(inner)
    assert store.master_fingerprint == inner.master_fingerprint


def test_repeated_reads_hit_the_cache(inner: CountingKeyStore) -> None:
    cache = CachingKeyStore(inner)
    subject = uuid4()
    key = cache.data_key(subject, "general")
    for _ in range(5):
        assert cache.data_key(subject, "general") == key
        assert cache.key_by_id(key.key_id) == key
    assert inner.calls["data_key"] == 1
    assert inner.calls["key_by_id"] == 0


def test_size_is_bounded_and_least_recently_used_goes_first(inner: CountingKeyStore) -> None:
    cache = CachingKeyStore(inner, max_entries=3)
    keys = [cache.data_key(uuid4(), "general") for _ in range(3)]
    cache.key_by_id(keys[0].key_id)  # touch: keys[1] is now the oldest
    extra = cache.data_key(uuid4(), "general")
    assert len(cache) == 3
    inner.calls.clear()
    for key in (keys[0], keys[2], extra):
        assert cache.key_by_id(key.key_id) == key
    assert inner.calls["key_by_id"] == 0
    assert cache.key_by_id(keys[1].key_id) == keys[1]
    assert inner.calls["key_by_id"] == 1
    assert len(cache) == 3


def test_many_keys_never_exceed_the_bound(inner: CountingKeyStore) -> None:
    cache = CachingKeyStore(inner, max_entries=10)
    subjects = [uuid4() for _ in range(50)]
    for subject in subjects:
        cache.data_key(subject, "general")
        cache.data_key(subject, "fiscal")
        assert len(cache) <= 10
    assert len(cache) == 10


def test_shred_evicts_so_the_key_is_gone_at_once(inner: CountingKeyStore) -> None:
    cache = CachingKeyStore(inner)
    subject, bystander = uuid4(), uuid4()
    general = cache.data_key(subject, "general")
    fiscal = cache.data_key(subject, "fiscal")
    kept = cache.data_key(bystander, "general")

    assert cache.shred(subject, ["general"]) == [general.key_id]
    assert cache.key_by_id(general.key_id) is None
    assert cache.key_by_id(fiscal.key_id) == fiscal
    assert cache.data_key(subject, "general").key_id != general.key_id

    cache.shred(subject)
    assert cache.key_by_id(fiscal.key_id) is None
    inner.calls.clear()
    assert cache.key_by_id(kept.key_id) == kept
    assert inner.calls["key_by_id"] == 0


def test_a_read_racing_a_shred_does_not_recache_the_key(inner: CountingKeyStore) -> None:
    cache = CachingKeyStore(inner)
    subject = uuid4()
    key = inner.data_key(subject, "general")

    def shred_meanwhile() -> None:
        inner.before_read = None
        worker = threading.Thread(target=cache.shred, args=(subject,))
        worker.start()
        worker.join()

    inner.before_read = shred_meanwhile
    assert cache.key_by_id(key.key_id) == key  # fetched just before the shred landed
    assert cache.key_by_id(key.key_id) is None
    assert len(cache) == 0


def test_rotation_empties_the_cache(inner: CountingKeyStore) -> None:
    cache = CachingKeyStore(inner)
    key = cache.data_key(uuid4(), "general")
    assert cache.rotate_master(AesGcmMasterKey.random()) == 1
    assert len(cache) == 0
    assert cache.key_by_id(key.key_id) == key


def test_import_fence_evicts_the_key(inner: CountingKeyStore) -> None:
    donor = CachingKeyStore(inner)
    subject = uuid4()
    key = donor.data_key(subject, "general")
    inner.shred(subject)  # behind the cache's back: it still holds the key
    assert donor.key_by_id(key.key_id) == key
    for record in inner.destroyed_keys(subject):
        donor.import_fence(record)
    assert donor.key_by_id(key.key_id) is None


def test_max_age_bounds_how_long_a_shred_elsewhere_goes_unnoticed(
    inner: CountingKeyStore,
) -> None:
    clock = FakeClock()
    cache = CachingKeyStore(inner, max_age=60, clock=clock)
    subject = uuid4()
    key = cache.data_key(subject, "general")
    inner.shred(subject)  # another process, as far as the cache knows
    clock.now = 59
    assert cache.key_by_id(key.key_id) == key
    clock.now = 61
    assert cache.key_by_id(key.key_id) is None
    assert cache.data_key(subject, "general").key_id != key.key_id


def test_repr_shows_counts_only(inner: CountingKeyStore) -> None:
    cache = CachingKeyStore(inner, max_entries=7)
    key = cache.data_key(uuid4(), "general")
    text = repr(cache)
    assert text == "CachingKeyStore(entries=1, max_entries=7)"
    assert key.material.hex() not in text
    assert "material" not in repr(key)


def test_concurrent_use_stays_within_bounds(inner: CountingKeyStore) -> None:
    cache = CachingKeyStore(inner, max_entries=20)
    subjects = [uuid4() for _ in range(40)]

    def work(offset: int) -> None:
        for i in range(200):
            subject = subjects[(i + offset) % len(subjects)]
            key = cache.data_key(subject, "general")
            assert cache.key_by_id(key.key_id) in (key, None)
            if i % 50 == 0:
                cache.shred(subject, ["general"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        for done in [pool.submit(work, n * 7) for n in range(4)]:
            done.result()  # re-raises what failed in the worker
    assert len(cache) <= 20
