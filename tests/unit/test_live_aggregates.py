"""A shard's sole writer keeps its aggregates live in memory, never stale.

``LedgerApplication(sole_writer=True)`` replays a subject once and then acts on the live
aggregate. A command that fails after changing it, or a batch that is not recorded,
must not leave those changes behind for the next act to build on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from consumers.composition import open_key_store
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.crypto.keys import KeyStore
from ledger.errors import ConflictingWrite
from ledger.intake.acts import act_from_document, apply_act
from ledger.policy import load_policy


@pytest.fixture
def key_store(tmp_path: Path) -> Iterator[KeyStore]:
    store = open_key_store(Settings().with_data_dir(tmp_path))
    yield store
    store.close()


def open_app(tmp_path: Path, key_store: KeyStore, *, sole_writer: bool) -> LedgerApplication:
    return LedgerApplication(load_policy(), key_store=key_store, sole_writer=sole_writer,
                             env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                  "SQLITE_DBNAME": str(tmp_path / "events.sqlite")})


def act(subject: UUID, n: int, **document: Any) -> dict[str, Any]:
    return {"act_id": f"crm-{n}", "subject_id": str(subject), "actor": "crm",
            "occurred_at": "2025-03-03T09:00:00Z", **document}


def collected(subject: UUID, n: int = 1) -> dict[str, Any]:
    return act(subject, n, type="data-collected", purpose="contact", source_system="crm",
               legal_basis="legitimate-interest", values={"name": "Sanne de Vries"})


def processed(subject: UUID, n: int) -> dict[str, Any]:
    return act(subject, n, type="data-processed", purpose="contact", operation="use",
               categories=["name"])


def record(app: LedgerApplication, document: dict[str, Any]) -> None:
    apply_act(app, act_from_document(document))


def test_only_a_sole_writer_keeps_aggregates_live(tmp_path: Path,
                                                  key_store: KeyStore) -> None:
    assert open_app(tmp_path, key_store, sole_writer=False).repository.cache is None
    writer = open_app(tmp_path, key_store, sole_writer=True)
    subject = uuid4()
    record(writer, collected(subject))
    assert writer.subject(subject) is writer.subject(subject)  # live, not copied


def test_a_save_that_fails_leaves_no_change_in_memory(
        tmp_path: Path, key_store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = open_app(tmp_path, key_store, sole_writer=True)
    subject = uuid4()
    record(writer, collected(subject))
    version = writer.subject(subject).version

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise IntegrityError("another writer came first")

    with monkeypatch.context() as patched:
        patched.setattr(writer.recorder, "insert_events", refuse)
        with pytest.raises(ConflictingWrite):
            record(writer, processed(subject, 2))
    # The command had applied its event to the live aggregate before the save failed.
    assert writer.subject(subject).version == version
    record(writer, processed(subject, 2))  # and the act records once it can
    assert writer.subject(subject).version == version + 1
    reader = open_app(tmp_path, key_store, sole_writer=False)
    assert reader.subject(subject).version == version + 1


def test_forgetting_live_aggregates_reads_them_from_the_log_again(
        tmp_path: Path, key_store: KeyStore) -> None:
    writer = open_app(tmp_path, key_store, sole_writer=True)
    subject = uuid4()
    record(writer, collected(subject))
    live = writer.subject(subject)
    live.version += 5  # as a batch that was never recorded would have left it
    writer.forget_live_aggregates()
    again = writer.subject(subject)
    assert again is not live
    assert again.version == live.version - 5
