"""Crypto-shredding as an auditor would check it: after an erasure, nothing readable is left.

Two subjects get unique canaries; one is erased. Every store file (with -wal, -shm and
free pages) and the log are scanned raw, and every stored event is decoded and
decrypted; the erased subject's canaries are gone everywhere while the other subject's
are still found (the positive control).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from consumers.composition import open_embedded, open_ledger, open_office_key
from consumers.services.office import enforce_retention
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.domain.acts import ActContext
from ledger.domain.events import SubjectEvent
from ledger.domain.values import Erased, PersonalValues
from ledger.errors import TamperedCiphertext
from tests.canary_scan import raw_hits, store_files, text_hits
from tests.cli_helpers import canaries

pytestmark = pytest.mark.e2e

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
# Kept under fiscal law (invoice details) and erasable (the rest).
COLLECTED = ("name", "business-email", "invoice-details")


def act(n: int) -> ActContext:
    return ActContext(f"scan-{uuid4().hex[:8]}-{n}", "crm", T0)


def enrol(app: LedgerApplication, values: dict[str, str]) -> UUID:
    subject = uuid4()
    app.collect_data(subject, act(1), purpose="service-delivery", values=values,
                     source_system="crm", legal_basis="contract")
    app.rectify_data(subject, act(2), purpose="service-delivery",
                     values={"name": values["name"] + "-RECTIFIED"}, request_ref="R-1")
    return subject


def decoded_texts(app: LedgerApplication) -> Iterator[str]:
    """Every personal value a reader of the whole log gets back, decrypted."""
    for notification in app.recorder.select_notifications(1, limit=100_000):
        event = app.mapper.to_domain_event(notification)
        if not isinstance(event, SubjectEvent):
            continue
        for name in type(event).personal_fields:
            values: PersonalValues = getattr(event, name)
            yield from (v for v in values.values() if isinstance(v, str))


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[Path]:
    log_file = tmp_path / "ledger.log"
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield log_file
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


def test_erased_subject_is_unreadable_everywhere_and_the_other_is_intact(
    tmp_path: Path, logged: Path
) -> None:
    settings = Settings().with_data_dir(tmp_path / "data")
    erased_values, kept_values = canaries("ERASED", *COLLECTED), canaries("KEPT", *COLLECTED)
    with open_ledger(settings) as app:
        erased, kept = enrol(app, erased_values), enrol(app, kept_values)
        # The invoice canary of the erased subject is fiscal: kept for now, shredded later.
        erased_general = [erased_values["name"], erased_values["business-email"],
                          erased_values["name"] + "-RECTIFIED"]
        before = text_hits(decoded_texts(app), erased_general)
        assert all(before.values()), "the scan must see the values before the erasure"
        app.request_erasure(erased, act(3), request_ref="DSAR-1", channel="email")
        app.carry_out_erasure(erased, act(4), request_ref="DSAR-1")
        assert app.find_subject("email", erased_values["business-email"]) is None
        assert app.find_subject("email", kept_values["business-email"]) == kept

        decoded = list(decoded_texts(app))

    all_canaries = [*erased_values.values(), *kept_values.values(),
                    erased_values["name"] + "-RECTIFIED", kept_values["name"] + "-RECTIFIED"]
    files = [*store_files(settings.event_store_path, settings.key_store_path), logged]
    assert {p.name for p in files} >= {"events.sqlite", "keys.sqlite", "ledger.log"}

    # Raw: no canary of anyone in any store or log file: only ciphertext is at rest.
    raw = raw_hits(files, [c.encode() for c in all_canaries])
    assert {c.decode(): names for c, names in raw.items() if names} == {}
    # Positive control for the raw scan: the same scanner finds them in a plaintext file.
    intake = tmp_path / "acts.jsonl"
    intake.write_text("\n".join(all_canaries), encoding="utf-8")
    assert all(raw_hits([intake], [c.encode() for c in all_canaries]).values())

    # Decoded: the erased subject's general values are gone; the other's are all there.
    hits = text_hits(decoded, all_canaries)
    assert [c for c in erased_general if hits[c]] == []
    assert hits[erased_values["invoice-details"]] == 1, "fiscal record must be kept"
    assert all(hits[c] >= 1 for c in kept_values.values()), "positive control"

    # A full replay from the files, by a fresh process' worth of objects.
    with open_ledger(settings) as replay:
        erased_now = replay.subject(erased).state.holdings["service-delivery"]
        kept_now = replay.subject(kept).state.holdings["service-delivery"]
    assert erased_now["name"] == Erased("general-service-delivery")
    assert erased_now["business-email"] == Erased("general-service-delivery")
    assert erased_now["invoice-details"] == erased_values["invoice-details"]
    assert kept_now["name"] == kept_values["name"] + "-RECTIFIED"
    assert kept_now["business-email"] == kept_values["business-email"]


def test_kept_fiscal_scope_is_shredded_when_its_retention_ends(tmp_path: Path) -> None:
    settings = Settings().with_data_dir(tmp_path / "data")
    values = canaries("FISCAL", *COLLECTED)
    with open_embedded(settings) as backend:
        app = backend.app
        subject = enrol(app, values)
        app.request_erasure(subject, act(3), request_ref="DSAR-2", channel="email")
        plan = app.carry_out_erasure(subject, act(4), request_ref="DSAR-2")
        due = plan.keep["fiscal-2025"].until
        # 1 January 2033 00:00 in Amsterdam: 31 December 2032 23:00 UTC.
        assert due == datetime(2032, 12, 31, 23, 0, tzinfo=UTC)
        office = open_office_key(settings)
        early = enforce_retention(backend, office, datetime(2032, 12, 31, tzinfo=UTC), wait_s=0)
        assert early.expired == []
        # The day the fiscal period ends, as the wall clock says (an injected clock).
        app.time_gate = replace(app.time_gate, clock=lambda: due)
        report = enforce_retention(backend, office, due, wait_s=0)
        assert [(e["subject_id"], e["scope"]) for e in report.expired] == [
            (str(subject), "fiscal-2025")]
        assert text_hits(decoded_texts(app), [values["invoice-details"]]) == {
            values["invoice-details"]: 0}
        trail = [type(e).__name__ for e in app.history(subject)]
    # The audit trail shows both steps: kept with a reason, then shredded when due.
    assert trail[-3:] == ["ErasureRefusedInPart", "ErasureCompleted", "RetentionExpired"]


def test_ciphertext_moved_to_another_subject_fails_to_decrypt(tmp_path: Path) -> None:
    settings = Settings().with_data_dir(tmp_path / "data")
    with open_ledger(settings) as app:
        victim = enrol(app, canaries("VICTIM", *COLLECTED))
        other = enrol(app, canaries("OTHER", *COLLECTED))
        stolen = app.recorder.select_events(victim, lte=2)[-1]
        target = app.recorder.select_events(other, lte=2)[-1]
        assert stolen.topic == target.topic
        forged = StoredEvent(originator_id=other, originator_version=target.originator_version,
                             topic=stolen.topic, state=stolen.state)
        with pytest.raises(TamperedCiphertext) as caught:
            app.mapper.to_domain_event(forged)
        assert "CANARY" not in str(caught.value)
        # The untouched record still decrypts: the failure is the move, not the key.
        assert app.mapper.to_domain_event(target) is not None
