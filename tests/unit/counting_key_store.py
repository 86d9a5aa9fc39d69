"""A real key store that counts what is asked of it: for the tests of what wraps one
(the key cache, the mapper), whose promise is to ask the store less."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path
from uuid import UUID

from ledger.crypto.key_store_sqlite import SQLiteKeyStore
from ledger.crypto.keys import DataKey
from ledger.crypto.master_key import AesGcmMasterKey


class CountingKeyStore(SQLiteKeyStore):
    """A SQLite key store under a random master key; ``calls`` counts the reads, creations,
    shreds and fence look-ups by method name. ``before_read``, when set, runs after
    ``key_by_id`` has read its key and before it hands it back (a race, made to order)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, AesGcmMasterKey.random())
        self.calls: Counter[str] = Counter()
        self.before_read: Callable[[], None] | None = None

    def data_key(self, subject_id: UUID, scope: str) -> DataKey:
        self.calls["data_key"] += 1
        return super().data_key(subject_id, scope)

    def create_data_key(self, subject_id: UUID, scope: str) -> DataKey:
        self.calls["create_data_key"] += 1
        return super().create_data_key(subject_id, scope)

    def active_keys(self, subject_ids: Collection[UUID]) -> list[DataKey]:
        self.calls["active_keys"] += 1
        return super().active_keys(subject_ids)

    def key_by_id(self, key_id: UUID) -> DataKey | None:
        self.calls["key_by_id"] += 1
        key = super().key_by_id(key_id)
        if self.before_read is not None:
            self.before_read()
        return key

    def keys_by_id(self, key_ids: Collection[UUID]) -> list[DataKey]:
        self.calls["keys_by_id"] += 1
        keys = super().keys_by_id(key_ids)
        if self.before_read is not None:
            self.before_read()
        return keys

    def shred(self, subject_id: UUID, scopes: Collection[str] | None = None) -> list[UUID]:
        self.calls["shred"] += 1
        return super().shred(subject_id, scopes)

    def is_fenced(self, key_id: UUID) -> bool:
        self.calls["is_fenced"] += 1
        return super().is_fenced(key_id)
