"""The Kafka ledger's side of the key store binding, without a broker: the binding
record, the first-one-wins check, and what is refused before anything is created next
to a Kafka ledger (the broker paths: tests/e2e/test_kafka_key_store_binding.py)."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import orjson
import pytest

from ledger.config import KafkaSettings, Settings
from ledger.crypto.binding import StoreSide, settle
from ledger.crypto.key_store_sqlite import require_for
from ledger.crypto.master_key import master_key_from_settings
from ledger.errors import ConfigurationError, KeyStoreError, KeyStoreMismatch
from ledger.kafka.binding import (
    BINDING_KEY,
    binding_value,
    check_first,
    kafka_ledger_name,
    ledger_id_in,
)

KAFKA = KafkaSettings(bootstrap_servers="broker.internal:9093", ledger_topic="acme.events")


def kafka_side(ledger_id: UUID | None, *, holds_data: bool) -> StoreSide:
    return StoreSide(kafka_ledger_name(KAFKA), ledger_id, holds_data=holds_data)


def test_a_binding_record_names_its_ledger_id() -> None:
    ledger_id = uuid4()
    assert ledger_id_in(BINDING_KEY, binding_value(ledger_id), "here") == ledger_id


@pytest.mark.parametrize(("key", "value"), [
    (b"shard-0", None),  # another kind of record
    (BINDING_KEY, b"not json"),
    (BINDING_KEY, b"[]"),
    (BINDING_KEY, orjson.dumps({"format": 2, "ledger_id": str(uuid4())})),
    (BINDING_KEY, orjson.dumps({"format": 1})),
    (BINDING_KEY, orjson.dumps({"format": 1, "ledger_id": "not-an-id"})),
    (BINDING_KEY, None),
])
def test_anything_else_first_on_the_binding_topic_is_refused(
    key: bytes, value: bytes | None,
) -> None:
    with pytest.raises(KeyStoreError, match=r"binding topic acme\.binding") as refused:
        ledger_id_in(key, value, "binding topic acme.binding (offset 0)")
    assert not isinstance(refused.value, KeyStoreMismatch)


def test_the_first_binding_wins_and_a_later_one_is_another_ledger() -> None:
    ours, theirs = uuid4(), uuid4()
    check_first(KAFKA, ours, ours)
    with pytest.raises(KeyStoreMismatch) as refused:
        check_first(KAFKA, theirs, ours)
    message = str(refused.value)
    assert str(ours) in message
    assert str(theirs) in message
    assert "acme.events" in message
    assert "acme.binding" in message
    assert "broker.internal" not in message


def test_the_kafka_side_is_named_by_its_topic_never_its_brokers() -> None:
    assert kafka_ledger_name(KAFKA) == "Kafka ledger topic acme.events"


def test_a_kafka_ledger_with_acts_refuses_an_empty_key_store_saying_what_to_restore(
) -> None:
    ledger_id = uuid4()
    for kafka, names in ((kafka_side(ledger_id, holds_data=True), f"ledger {ledger_id}'s"),
                         (kafka_side(None, holds_data=True), "a ledger's")):
        with pytest.raises(KeyStoreMismatch) as refused:
            settle(kafka, StoreSide("key store /data/keys.sqlite", None, holds_data=False))
        message = str(refused.value)
        assert "key store /data/keys.sqlite is empty" in message
        assert f"Kafka ledger topic acme.events holds {names} acts" in message
        assert "restore the key store backup" in message


def test_a_kafka_ledger_from_before_the_binding_is_adopted_and_a_new_one_bound() -> None:
    key_store = uuid4()
    # Acts on Kafka, keys in the store, no id anywhere: a ledger from before binding.
    adopted = settle(kafka_side(None, holds_data=True),
                     StoreSide("key store k", None, holds_data=True))
    assert isinstance(adopted, UUID)
    # The key store bound (by an earlier open), the Kafka side not yet: its id.
    assert settle(kafka_side(None, holds_data=True),
                  StoreSide("key store k", key_store, holds_data=True)) == key_store
    assert isinstance(settle(kafka_side(None, holds_data=False),
                             StoreSide("key store k", None, holds_data=False)), UUID)


def test_a_key_store_with_keys_next_to_empty_topics_points_at_the_topic_setting() -> None:
    with pytest.raises(KeyStoreMismatch, match="LEDGER_LEDGER_TOPIC"):
        settle(kafka_side(None, holds_data=False),
               StoreSide("key store k", uuid4(), holds_data=True))


def test_a_missing_key_store_file_is_refused_before_it_or_a_master_key_is_made(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.sqlite"
    with pytest.raises(KeyStoreMismatch, match="is missing"):
        require_for(path, kafka_side(uuid4(), holds_data=True))
    path.touch()  # an empty file is no key store either
    with pytest.raises(KeyStoreMismatch, match="is empty"):
        require_for(path, kafka_side(None, holds_data=True))
    path.unlink()
    require_for(path, kafka_side(None, holds_data=False))  # a new ledger: fine
    assert list(tmp_path.iterdir()) == []


def test_no_master_key_is_generated_next_to_a_kafka_ledger(tmp_path: Path) -> None:
    settings = Settings().with_data_dir(tmp_path)
    with pytest.raises(ConfigurationError, match=r"Kafka ledger topic acme\.events"):
        master_key_from_settings(settings, ledger_elsewhere=kafka_ledger_name(KAFKA))
    assert not (tmp_path / "master.key").exists()
    master_key_from_settings(settings)  # a new ledger still gets one
    assert (tmp_path / "master.key").exists()
