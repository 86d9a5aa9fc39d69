"""The Kafka ledger's side of the ledger binding (``ledger.crypto.binding``).

On Kafka the key store (SQLite in the data directory, or PostgreSQL) is bound to the
ledger topic as the embedded one is to ``events.sqlite``: the same random ledger id on
both, settled by ``ledger.crypto.binding.settle`` whenever a process opens the key store
next to the Kafka ledger (``consumers.composition.open_key_store``), before anything is
written. A missing, empty or foreign key store next to a ledger topic that holds acts is
``KeyStoreMismatch``; a ledger from before the binding is adopted; a new one is bound.

**Where the Kafka side keeps its id: a topic of its own, the binding topic**
(``LEDGER_BINDING_TOPIC``, default the ledger topic's name plus ``.binding``, e.g.
``ledger.binding``; ``ledger.kafka.admin.binding_topic_spec``): one partition, kept for
ever, never compacted. Its *first* record, under the key ``ledger-id``, names the ledger;
there is normally no other. Why not one of the ledger's other topics:

- the ledger topic holds events only: its offsets are the shards' notification ids,
  read by every projection and numbered by the verifiable log;
- the tree topic (compacted) is each shard writer's transactional state, one record per
  shard in that shard's partition, read back by the recorder and the auditor: a record
  of another kind there would tie the binding to the verifiable log's format;
- compaction keeps a key's *last* record. Kafka has no compare-and-set, so two processes
  binding a new ledger at the same moment (with two different key stores: the
  misconfiguration this guards against) may both append; the first record must stay the
  one that counts, which retention -1 without compaction guarantees for every reader at
  any time. The id never changes, so compaction would have nothing to do anyway.

Written once: a process appends its id only to an empty binding topic, then reads the
first record back; if another process's id got there first, its key store is not this
ledger's (``KeyStoreMismatch``). Whoever opens the key store next to a new (or adopted)
ledger writes it: `ledger serve` or a command of the Kafka backend; never
`ledger topics ensure`, which has no key store (an id with no key store beside it would
make the first key store look foreign). Its principal needs Write on the binding topic.

The ledger topic *holds data* once any of its partitions ever held a record: every
ledger record is an event of a subject's act, or of the policy register, which a writer
publishes only after the key store beside it was bound.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import closing
from typing import Any, cast
from uuid import UUID

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError

from ledger.config import KafkaSettings
from ledger.crypto.binding import StoreSide
from ledger.errors import BrokerError, KeyStoreError, KeyStoreMismatch
from ledger.kafka.admin import binding_topic_spec, check_topics, ledger_topic_spec
from ledger.kafka.audit_log import holds_records, read_partition

BINDING_KEY = b"ledger-id"
BINDING_FORMAT = 1
_CLIENT_ID = "personal-data-ledger-binding"
_SEND_TIMEOUT_S = 30.0


def kafka_ledger_name(kafka: KafkaSettings) -> str:
    """The Kafka side as messages name it: its topic, never the brokers' address."""
    return f"Kafka ledger topic {kafka.ledger_topic}"


def binding_value(ledger_id: UUID) -> bytes:
    """The binding record's value."""
    return orjson.dumps({"format": BINDING_FORMAT, "ledger_id": str(ledger_id)})


def ledger_id_in(key: bytes | None, value: bytes | None, where: str) -> UUID:
    """The ledger id a binding record names; ``KeyStoreError`` if it is not one."""
    try:
        if key != BINDING_KEY:
            raise ValueError
        document = orjson.loads(value or b"")
        if document.get("format") != BINDING_FORMAT:
            raise ValueError
        return UUID(str(document["ledger_id"]))
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        raise KeyStoreError(
            f"{where} does not start with a ledger binding (key {BINDING_KEY.decode()!r}, "
            f"format {BINDING_FORMAT}): restore it, or configure LEDGER_BINDING_TOPIC"
        ) from None


def check_first(kafka: KafkaSettings, first: UUID, ours: UUID) -> None:
    """``KeyStoreMismatch`` unless the binding topic's first record names ``ours``."""
    if first != ours:
        raise KeyStoreMismatch(
            f"{kafka_ledger_name(kafka)} was bound to ledger {first} (in "
            f"{kafka.binding_topic}) while ledger {ours}'s key store was opened: another "
            "process started another ledger on these topics; this key store is not "
            "theirs (restore the key store backup of that ledger, or use other topics)"
        )


def read_kafka_ledger(kafka: KafkaSettings) -> StoreSide:
    """What the Kafka ledger says: its ledger id (None: unbound), and whether its ledger
    topic holds acts. Reads only; a missing topic is a ``ConfigurationError`` that says
    to create it (`ledger topics ensure`)."""
    check_topics(kafka.bootstrap_servers, [ledger_topic_spec(kafka), binding_topic_spec(kafka)],
                 client_id=_CLIENT_ID)
    return StoreSide(kafka_ledger_name(kafka), first_ledger_id(kafka),
                     holds_data=holds_records(kafka.bootstrap_servers, kafka.ledger_topic,
                                              kafka.partitions))


def bind_kafka_ledger(kafka: KafkaSettings, ledger_id: UUID) -> None:
    """Records ``ledger_id`` as the Kafka ledger's, unless it has one; ``KeyStoreMismatch``
    if another process bound it to another ledger first."""
    first = first_ledger_id(kafka)
    if first is None:
        _append(kafka, ledger_id)
        first = first_ledger_id(kafka)
        if first is None:
            raise BrokerError(f"the ledger binding just recorded on {kafka.binding_topic} "
                              "does not read back")
    check_first(kafka, first, ledger_id)


def first_ledger_id(kafka: KafkaSettings) -> UUID | None:
    """The ledger id the binding topic's first committed record names (None: empty)."""
    records = cast(Generator[Any, None, None], read_partition(
        kafka.bootstrap_servers, kafka.binding_topic, 0, client_id=_CLIENT_ID))
    with closing(records):  # the first record is all it takes: its consumer closes now
        record = next(records, None)
    if record is None:
        return None
    return ledger_id_in(record.key, record.value,
                        f"binding topic {kafka.binding_topic} (offset {record.offset})")


def _append(kafka: KafkaSettings, ledger_id: UUID) -> None:
    try:
        # A retry that appends the same id twice changes nothing: no idempotent producer
        # (and no IdempotentWrite ACL) is needed.
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers,
                                 client_id=_CLIENT_ID, acks="all")
        try:
            producer.send(kafka.binding_topic, key=BINDING_KEY, value=binding_value(ledger_id),
                          partition=0).get(timeout=_SEND_TIMEOUT_S)
        finally:
            producer.close(timeout=10)
    except KafkaError as error:
        raise BrokerError(f"cannot record the ledger binding on {kafka.binding_topic}: "
                          f"{type(error).__name__}") from error
