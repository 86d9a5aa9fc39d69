"""A bounded LRU cache of unwrapped data keys, in front of any ``KeyStore``.

Replays and projections read the same subjects' keys over and over; unwrapping each
time costs a database round trip. The cache is bounded (unwrapped keys are the most
sensitive thing in memory) and forgets a subject's keys when they are shredded through
it, so a shred is final for this process at once.

A shred done by another process cannot reach this cache: ``max_age`` bounds how long
a key destroyed elsewhere can still be served here (None: until evicted by size).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from uuid import UUID

from ledger.crypto.keys import DataKey, DestroyedKey, KeyStore, WrappedKey, check_scopes
from ledger.crypto.master_key import MasterKey


class CachingKeyStore:
    """``KeyStore`` that serves ``key_by_id`` and ``data_key`` from memory when it can."""

    def __init__(
        self,
        inner: KeyStore,
        max_entries: int = 10_000,
        *,
        max_age: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.inner = inner
        self.max_entries = max_entries
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._by_id: OrderedDict[UUID, tuple[DataKey, float]] = OrderedDict()
        self._active: dict[tuple[UUID, str], UUID] = {}
        # Bumped by every shred: a read that started before a shred must not put the
        # key it fetched back into the cache after the shred evicted it.
        self._generation = 0
        # The subjects whose active keys the last ``prefetch`` read, and the generation it
        # read them at: a key such a subject lacks is created without looking first.
        self._prefetched: frozenset[UUID] = frozenset()
        self._prefetched_at = -1

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        return f"CachingKeyStore(entries={len(self._by_id)}, max_entries={self.max_entries})"

    @property
    def master_fingerprint(self) -> str:
        return self.inner.master_fingerprint

    def data_key(self, subject_id: UUID, scope: str) -> DataKey:
        with self._lock:
            key_id = self._active.get((subject_id, scope))
            cached = self._get(key_id) if key_id is not None else None
            generation = self._generation
        if cached is not None:
            return cached
        if generation == self._prefetched_at and subject_id in self._prefetched:
            key = self.inner.create_data_key(subject_id, scope)  # prefetch saw none
        else:
            key = self.inner.data_key(subject_id, scope)
        self._put(key, generation, active=True)
        return key

    def prefetch(self, subject_ids: Collection[UUID]) -> None:
        """Reads the active keys of ``subject_ids`` in one query (an intake batch about
        to use them). Until the next prefetch or any shred, a key one of them lacks is
        created at once instead of being looked for first: a batch of new subjects
        costs one read, not one per key. Keys cached already are not read again."""
        with self._lock:
            generation = self._generation
            known = {subject_id for subject_id, _ in self._active}
        missing = [s for s in dict.fromkeys(subject_ids) if s not in known]
        keys = self.inner.active_keys(missing) if missing else []
        for key in keys:
            self._put(key, generation, active=True)
        with self._lock:
            if generation == self._generation:
                # Only subjects read just now: a cached subject's other scopes unknown.
                self._prefetched, self._prefetched_at = frozenset(missing), generation

    def active_keys(self, subject_ids: Collection[UUID]) -> list[DataKey]:
        with self._lock:
            generation = self._generation
        keys = self.inner.active_keys(subject_ids)
        for key in keys:
            self._put(key, generation, active=True)
        return keys

    def create_data_key(self, subject_id: UUID, scope: str) -> DataKey:
        with self._lock:
            generation = self._generation
        key = self.inner.create_data_key(subject_id, scope)
        self._put(key, generation, active=True)
        return key

    def key_by_id(self, key_id: UUID) -> DataKey | None:
        with self._lock:
            cached = self._get(key_id)
            generation = self._generation
        if cached is not None:
            return cached
        key = self.inner.key_by_id(key_id)
        # Misses are not cached: an imported key may appear later.
        if key is not None:
            self._put(key, generation, active=False)
        return key

    def keys_by_id(self, key_ids: Collection[UUID]) -> list[DataKey]:
        """The cached ones, and the rest in one read of the store (then cached)."""
        found: list[DataKey] = []
        with self._lock:
            generation = self._generation
            for key_id in dict.fromkeys(key_ids):
                cached = self._get(key_id)
                if cached is not None:
                    found.append(cached)
        known = {key.key_id for key in found}
        missing = [key_id for key_id in dict.fromkeys(key_ids) if key_id not in known]
        read = self.inner.keys_by_id(missing) if missing else []
        for key in read:
            self._put(key, generation, active=False)
        return found + read

    def shred(self, subject_id: UUID, scopes: Collection[str] | None = None) -> list[UUID]:
        wanted = check_scopes(scopes)
        self._evict_subject(subject_id, wanted)
        try:
            return self.inner.shred(subject_id, wanted)
        finally:
            # Again after: a read racing the shred may have cached a key in between.
            self._evict_subject(subject_id, wanted)

    def destroyed_keys(self, subject_id: UUID) -> list[DestroyedKey]:
        return self.inner.destroyed_keys(subject_id)

    def is_fenced(self, key_id: UUID) -> bool:
        return self.inner.is_fenced(key_id)

    def export_wrapped(self) -> Iterator[WrappedKey]:
        return self.inner.export_wrapped()

    def import_wrapped(self, record: WrappedKey) -> None:
        self.inner.import_wrapped(record)

    def export_fence(self) -> Iterator[DestroyedKey]:
        return self.inner.export_fence()

    def import_fence(self, record: DestroyedKey) -> None:
        self._evict_ids({record.key_id})
        try:
            self.inner.import_fence(record)
        finally:
            self._evict_ids({record.key_id})

    def rotate_master(self, new_master: MasterKey) -> int:
        self.clear()
        try:
            return self.inner.rotate_master(new_master)
        finally:
            self.clear()

    def bind_identity(
        self, kind: str, value: str, subject_id: UUID, *, scope: str | None = None
    ) -> None:
        self.inner.bind_identity(kind, value, subject_id, scope=scope)

    def lookup_identity(self, kind: str, value: str) -> UUID | None:
        return self.inner.lookup_identity(kind, value)

    def batch(self) -> AbstractContextManager[None]:
        return self.inner.batch()

    def close(self) -> None:
        self.clear()
        self.inner.close()

    def clear(self) -> None:
        """Forget every cached key."""
        with self._lock:
            self._generation += 1
            self._by_id.clear()
            self._active.clear()

    # -- internals, called with the lock held unless they take it ---------------------

    def _get(self, key_id: UUID) -> DataKey | None:
        entry = self._by_id.get(key_id)
        if entry is None:
            return None
        key, stored_at = entry
        if self._max_age is not None and self._clock() - stored_at > self._max_age:
            self._drop(key)
            return None
        self._by_id.move_to_end(key_id)
        return key

    def _put(self, key: DataKey, generation: int, *, active: bool) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._by_id[key.key_id] = (key, self._clock())
            self._by_id.move_to_end(key.key_id)
            if active:
                self._active[(key.subject_id, key.scope)] = key.key_id
            while len(self._by_id) > self.max_entries:
                _, (oldest, _) = self._by_id.popitem(last=False)
                self._forget_active(oldest)

    def _drop(self, key: DataKey) -> None:
        self._by_id.pop(key.key_id, None)
        self._forget_active(key)

    def _forget_active(self, key: DataKey) -> None:
        slot = (key.subject_id, key.scope)
        if self._active.get(slot) == key.key_id:
            del self._active[slot]

    def _evict_subject(self, subject_id: UUID, scopes: list[str] | None) -> None:
        with self._lock:
            self._generation += 1
            doomed = [
                key
                for key, _ in self._by_id.values()
                if key.subject_id == subject_id and (scopes is None or key.scope in scopes)
            ]
            for key in doomed:
                self._drop(key)
            for slot in [s for s in self._active if s[0] == subject_id]:
                if scopes is None or slot[1] in scopes:
                    del self._active[slot]

    def _evict_ids(self, key_ids: set[UUID]) -> None:
        with self._lock:
            self._generation += 1
            for key, _ in [entry for entry in self._by_id.values() if entry[0].key_id in key_ids]:
                self._drop(key)


def _conforms_to_port(store: CachingKeyStore) -> KeyStore:
    # Never called: makes mypy prove the adapter implements the whole port.
    return store
