"""The key store is bound to its event store: one random ledger id, recorded on both.

Key loss must never pass for erasure. A deleted, emptied or foreign key store opened
next to an event store would read every value as erased, and new acts would be
recorded under keys that belong to no backup. So at creation both stores get the same
random ledger id (the key store in its meta table, the event store in a table of its
own, see ``ledger.persistence.event_store_binding``; on Kafka a topic of its own, see
``ledger.kafka.binding``), and every open of the key store next to its ledger compares
them before anything is written.

``settle`` decides, from what each side holds, the id both are to carry or refuses
with ``KeyStoreMismatch`` saying what to restore. Stores from before binding existed
(data on a side, no id) are adopted; a side with neither id nor data is empty: fine
for a new ledger, refused next to a side that holds a ledger's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

from ledger.errors import KeyStoreMismatch

META_LEDGER_ID = "ledger_id"  # the key store meta row that holds the ledger id

_RESTORE_KEYS = (
    "restore the key store backup that matches this event store (and its master key); "
    "a new key store in its place would read every value as erased"
)
_RESTORE_EVENTS = (
    "restore the event store backup that matches this key store, or point the ledger "
    "at the stores that belong together (LEDGER_DATA_DIR, LEDGER_POSTGRES_DSN, and on "
    "Kafka LEDGER_LEDGER_TOPIC)"
)


@dataclass(frozen=True)
class StoreSide:
    """What one store says about itself: its ledger id (None: unbound) and whether it
    holds a ledger's data (the key store: keys or fence records; the event store: acts
    about a subject). ``where`` names it in messages (a path or schema, never a DSN)."""

    where: str
    ledger_id: UUID | None
    holds_data: bool
    missing: bool = False  # the file (or schema) does not exist at all

    @property
    def needs_its_pair(self) -> bool:
        """Whether this side belongs to an existing ledger, so its pair must exist."""
        return self.ledger_id is not None or self.holds_data


def settle(event_store: StoreSide, key_store: StoreSide) -> UUID:
    """The ledger id both stores are to carry; ``KeyStoreMismatch`` if they are not
    each other's. A new id when neither has one nor holds anything (a new ledger)."""
    events, keys = event_store, key_store
    if events.ledger_id is not None and keys.ledger_id is not None:
        if events.ledger_id == keys.ledger_id:
            return events.ledger_id
        raise KeyStoreMismatch(
            f"{keys.where} belongs to ledger {keys.ledger_id}, but {events.where} to "
            f"ledger {events.ledger_id}: {_RESTORE_KEYS} (the backup of ledger "
            f"{events.ledger_id})"
        )
    if events.ledger_id is not None:
        if keys.holds_data:  # a key store from before binding, or bound halfway: adopted
            return events.ledger_id
        raise _no_key_store(events, keys)
    if keys.ledger_id is not None:
        # Acts from before binding are adopted; no acts and no keys is a new ledger
        # whose first open stopped between binding its key store and its event store.
        if events.holds_data == keys.holds_data:
            return keys.ledger_id
        raise (_no_key_store if events.holds_data else _no_event_store)(events, keys)
    if events.holds_data and not keys.holds_data:
        raise _no_key_store(events, keys)
    if keys.holds_data and not events.holds_data:
        raise _no_event_store(events, keys)
    return uuid4()  # both empty: a new ledger (or both from before binding: adopted)


def _no_key_store(events: StoreSide, keys: StoreSide) -> KeyStoreMismatch:
    state = "missing" if keys.missing else "empty (no keys, no erasure fence)"
    whose = (f"ledger {events.ledger_id}'s" if events.ledger_id is not None
             else "a ledger's")
    return KeyStoreMismatch(
        f"{keys.where} is {state}, but {events.where} holds {whose} acts: "
        f"{_RESTORE_KEYS}"
    )


def _no_event_store(events: StoreSide, keys: StoreSide) -> KeyStoreMismatch:
    state = "missing" if events.missing else "without acts"
    whose = f"ledger {keys.ledger_id}'s" if keys.ledger_id is not None else "a ledger's"
    return KeyStoreMismatch(
        f"{events.where} is {state}, but {keys.where} holds {whose} keys: {_RESTORE_EVENTS}"
    )
