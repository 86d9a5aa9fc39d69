"""An eventsourcing mapper that encrypts each personal value under its subject's key.

The library's own cipher has one key per application; crypto-shredding needs one per
(subject, retention scope), so the personal fields an event class declares are sealed
value by value here, before transcoding. Everything else (purpose, category names,
scopes, timestamps, policy version, actor) stays in clear for audit.

A value whose key is destroyed reads back as ``Erased(scope)``: replays and lagging
readers keep working after an erasure, they just cannot see what was erased. A key is
destroyed only when the erasure fence says so: a key that is neither in the store nor
in the fence was lost (a deleted, emptied or partly restored key store), and reading
under it is ``KeyMissing``, an integrity failure, never "erased". The fence is asked
only when a key is not found, so the hot path (key found, in the cache) is unchanged.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from ledger.crypto.aead import (
    complete_field_aad,
    seal_with,
    unseal_with,
    versioned_event_aad,
)
from ledger.crypto.keys import DataKey, KeyStore
from ledger.domain.values import Erased, PersonalValue, PersonalValues
from ledger.errors import KeyMissing, TamperedCiphertext

_KEY = "key"
_CIPHERTEXT = "ct"
# Events decoded, and their keys read, together: a key read per this many events, and
# no more of them held decoded at once.
_KEY_BATCH = 500
# Fenced key ids remembered per mapper: a fence record is final, so a positive answer
# never goes stale. Bounded: past this many, the memory starts afresh.
_FENCED_REMEMBERED = 100_000


@dataclass(frozen=True)
class SealedValue:
    """A personal value as stored: which key sealed it, and the sealed bytes.

    Read models keep these instead of plaintext and open them on read, so an erasure
    makes them unreadable without the read model having to find and delete anything.
    """

    subject_id: UUID
    version: int
    field: str
    category: str
    scope: str
    key_id: UUID
    blob: bytes = dc_field(repr=False)


class EncryptingMapper(Mapper[UUID]):
    def __init__(self, transcoder: Transcoder, key_store: KeyStore) -> None:
        super().__init__(transcoder=transcoder)
        self.key_store = key_store
        self._fenced: set[UUID] = set()

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        state = dict(vars(domain_event))
        subject_id: UUID = state.pop("originator_id")
        version: int = state.pop("originator_version")
        for name in getattr(type(domain_event), "personal_fields", ()):
            state[name] = self._seal_all(subject_id, version, name, state[name],
                                         state["scopes"])
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        return StoredEvent(
            originator_id=subject_id,
            originator_version=version,
            topic=get_topic(type(domain_event)),
            state=self.transcoder.encode(state),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        return self._to_domain_event(stored_event, decrypt=True)

    def to_domain_events(
        self, stored_events: Iterable[StoredEvent]
    ) -> list[DomainEventProtocol[UUID]]:
        """``to_domain_event`` of each, with the keys of their values read in one go per
        ``_KEY_BATCH`` events (``KeyStore.keys_by_id``): a replay or a subject's reload
        then costs a key read per batch, not one per key a cold cache lacks."""
        events: list[DomainEventProtocol[UUID]] = []
        batch: list[StoredEvent] = []
        for stored in stored_events:
            batch.append(stored)
            if len(batch) == _KEY_BATCH:
                events += self._with_keys_read_once(batch)
                batch = []
        return events + self._with_keys_read_once(batch) if batch else events

    def _with_keys_read_once(
        self, stored_events: list[StoredEvent]
    ) -> list[DomainEventProtocol[UUID]]:
        decoded = [(stored, resolve_topic(stored.topic), self.transcoder.decode(stored.state))
                   for stored in stored_events]
        wanted = {envelope[_KEY] for _, cls, state in decoded
                  for name in getattr(cls, "personal_fields", ())
                  for envelope in state[name].values()}
        keys = ({key.key_id.hex: key for key in self.key_store.keys_by_id(
            [UUID(hex_id) for hex_id in wanted])} if wanted else {})
        return [self._build(stored, cls, state, decrypt=True, keys=keys)
                for stored, cls, state in decoded]

    def to_sealed_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """The event with each personal field a ``dict[category, SealedValue]``."""
        return self._to_domain_event(stored_event, decrypt=False)

    def open_value(self, sealed: SealedValue) -> PersonalValue:
        """The plaintext of one sealed value, or ``Erased`` once its key is destroyed;
        ``KeyMissing`` when its key is gone but was never destroyed (lost)."""
        event_aad = versioned_event_aad(sealed.subject_id, sealed.subject_id, sealed.version)
        return self._open(sealed.subject_id, sealed.version, event_aad,
                          f"{sealed.field}.{sealed.category}", scope=sealed.scope,
                          key_id=sealed.key_id, blob=sealed.blob)

    def _open(
        self, subject_id: UUID, version: int, event_aad: bytes, path: str, *,
        scope: str, key_id: UUID, blob: bytes, key: DataKey | None = None,
    ) -> PersonalValue:
        """``key``: the value's key if the caller read it already."""
        if key is None:
            key = self.key_store.key_by_id(key_id)
        if key is None:
            if self._destroyed(key_id):
                return Erased(scope)
            raise KeyMissing([key_id], subject_id)
        try:
            return unseal_with(key.cipher, blob, complete_field_aad(event_aad, path)
                               ).decode("utf-8")
        except TamperedCiphertext as error:
            raise TamperedCiphertext(f"subject {subject_id} v{version} {path}: {error}"
                                     ) from error

    def _to_domain_event(
        self, stored_event: StoredEvent, *, decrypt: bool
    ) -> DomainEventProtocol[UUID]:
        return self._build(stored_event, resolve_topic(stored_event.topic),
                           self.transcoder.decode(stored_event.state), decrypt=decrypt)

    def _build(
        self, stored_event: StoredEvent, cls: Any, state: dict[str, Any], *, decrypt: bool,
        keys: Mapping[str, DataKey] | None = None,
    ) -> DomainEventProtocol[UUID]:
        """The event of class ``cls`` from its decoded ``state``; ``keys``: keys read
        already, by hex id (any other is looked up)."""
        subject_id = stored_event.originator_id
        if not isinstance(subject_id, UUID):
            subject_id = UUID(str(subject_id))
        version = stored_event.originator_version
        for name in getattr(cls, "personal_fields", ()):
            if decrypt:
                state[name] = self._open_all(subject_id, version, name, state[name],
                                             state["scopes"], keys=keys)
            else:
                state[name] = self._sealed(subject_id, version, name, state[name],
                                           state["scopes"])
        state["originator_id"] = subject_id
        state["originator_version"] = version
        class_version = getattr(cls, "class_version", 1)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return cast(DomainEventProtocol[UUID], event)

    def _open_all(
        self, subject_id: UUID, version: int, field_name: str,
        envelopes: dict[str, dict[str, str]], scopes: dict[str, str], *,
        keys: Mapping[str, DataKey] | None = None,
    ) -> PersonalValues:
        # The replay path: no SealedValue per value, and the event's share of the
        # associated data framed once.
        event_aad = versioned_event_aad(subject_id, subject_id, version)
        opened: dict[str, PersonalValue] = {}
        missing: list[UUID] = []
        for category, envelope in envelopes.items():
            hex_id = envelope[_KEY]
            try:
                opened[category] = self._open(
                    subject_id, version, event_aad, f"{field_name}.{category}",
                    scope=scopes[category], key_id=UUID(hex_id),
                    blob=base64.b64decode(envelope[_CIPHERTEXT]),
                    key=keys.get(hex_id) if keys else None)
            except KeyMissing as error:  # read on, to name every lost key of the event
                missing.extend(error.key_ids)
        if missing:
            raise KeyMissing(missing, subject_id)
        return PersonalValues(opened)

    def _destroyed(self, key_id: UUID) -> bool:
        """Whether the erasure fence lists ``key_id``: asked only for a key not found."""
        if key_id in self._fenced:
            return True
        if not self.key_store.is_fenced(key_id):
            return False
        if len(self._fenced) >= _FENCED_REMEMBERED:
            self._fenced.clear()
        self._fenced.add(key_id)
        return True

    def _seal_all(
        self, subject_id: UUID, version: int, field_name: str, values: PersonalValues,
        scopes: dict[str, str],
    ) -> dict[str, dict[str, str]]:
        sealed = {}
        event_aad = versioned_event_aad(subject_id, subject_id, version)
        for category, value in values.items():
            if isinstance(value, Erased):
                raise TamperedCiphertext(
                    f"subject {subject_id} v{version}: an erased value cannot be recorded"
                )
            key = self.key_store.data_key(subject_id, scopes[category])
            aad = complete_field_aad(event_aad, f"{field_name}.{category}")
            blob = seal_with(key.cipher, value.encode("utf-8"), aad)
            sealed[category] = {
                _KEY: key.key_id.hex,
                _CIPHERTEXT: base64.b64encode(blob).decode("ascii"),
            }
        return sealed

    def _sealed(
        self, subject_id: UUID, version: int, field_name: str,
        envelopes: dict[str, dict[str, str]], scopes: dict[str, str],
    ) -> dict[str, SealedValue]:
        return {
            category: SealedValue(
                subject_id=subject_id, version=version, field=field_name, category=category,
                scope=scopes[category], key_id=UUID(envelope[_KEY]),
                blob=base64.b64decode(envelope[_CIPHERTEXT]),
            )
            for category, envelope in envelopes.items()
        }
