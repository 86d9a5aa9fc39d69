"""The projector, the subject document and the views, without any store or key.

Events come from the domain aggregate itself; their personal values are swapped for
``SealedValue`` envelopes with made-up ciphertext, as the mapper's sealed read mode
hands them over. Documents are kept in a dict standing in for a store.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Notification

from ledger.domain import events as ev
from ledger.domain.acts import ActContext
from ledger.domain.subject import DataSubject, SubjectState
from ledger.domain.values import Erased
from ledger.persistence.encrypting_mapper import SealedValue
from ledger.policy import load_policy
from projections.deadlines import is_overdue, request_due
from projections.errors import ProjectionError, ProjectionFailed
from projections.html_report import render_report
from projections.projector import Projector, audit_detail, decode_detail
from projections.rows import Changes, RopaKey
from projections.subject_read_model import (
    NOT_PROJECTED,
    SubjectDoc,
    decode_doc,
    encode_doc,
    encode_state,
    evolve,
)
from projections.views import render_subject

POLICY = load_policy()
T0 = datetime(2025, 1, 31, 9, 0, tzinfo=UTC)
CANARY = "CANARY-unit-5d1e"
_ids = itertools.count(1)


def act(days: float = 0) -> ActContext:
    return ActContext(f"u-{next(_ids)}", "crm", T0 + timedelta(days=days))


def sealed(event: Any) -> Any:
    """The event as the mapper's sealed read mode gives it: envelopes, no plaintext."""
    state = dict(vars(event))
    for name in type(event).personal_fields:
        state[name] = {
            c: SealedValue(subject_id=event.originator_id, version=event.originator_version,
                           field=name, category=c, scope=event.scopes[c], key_id=uuid4(),
                           blob=b"\x01sealed\x02")
            for c in state[name]}
    copy = object.__new__(type(event))
    object.__setattr__(copy, "__dict__", state)
    return copy


class Log:
    """A subject's acts as notifications, and a dict of documents as the store."""

    def __init__(self) -> None:
        self.events: dict[int, Any] = {}
        self.docs: dict[UUID, bytes] = {}
        self.next_id = 1

    def record(self, subject: DataSubject, *, seal: bool = True) -> list[Notification]:
        out = []
        for event in subject.collect_events():
            self.events[self.next_id] = sealed(event) if seal else event
            out.append(Notification(id=self.next_id, originator_id=event.originator_id,
                                    originator_version=event.originator_version,
                                    topic=f"{type(event).__module__}:{type(event).__qualname__}",
                                    state=b""))
            self.next_id += 1
        return out

    def project(self, batch: Sequence[Notification]) -> Changes:
        changes = Projector(lambda n: self.events[n.id], POLICY).project(batch, self.load)  # type: ignore[attr-defined]
        self.docs.update({s: row.doc for s, row in changes.subjects.items()})
        return changes

    def load(self, ids: Any) -> Mapping[UUID, bytes]:
        return {i: self.docs[i] for i in ids if i in self.docs}


CUSTOMER = {"name": CANARY, "business-email": f"{CANARY}@example.nl",
            "business-phone": "+31 20 1", "organisation-name": "Bakkerij",
            "invoice-details": "INV-1", "payment-details": "NL91"}


def customer() -> DataSubject:
    s = DataSubject.register(uuid4(), POLICY, act())
    s.collect(POLICY, act(), purpose="service-delivery", values=CUSTOMER,
              source_system="crm", legal_basis="contract")
    return s


# -- the projector -----------------------------------------------------------------------

def test_a_history_becomes_a_document_and_rows_in_one_batch() -> None:
    log, s = Log(), customer()
    s.share(POLICY, act(1), purpose="service-delivery", recipient="PostNL",
            recipient_kind="postal-service", ground="service-delivery",
            categories=["name", "business-address"][:1])
    s.request_access(POLICY, act(2), request_ref="DSAR-1", channel="email")
    changes = log.project(log.record(s))
    assert changes.position == 4
    assert [a.event_type for a in changes.audit] == [
        "SubjectRegistered", "DataCollected", "DataShared", "AccessRequested"]
    assert {v.category for v in changes.values} == set(CUSTOMER)
    assert all(v.blob == b"\x01sealed\x02" for v in changes.values)
    assert [(d.recipient, d.categories) for d in changes.disclosures] == [("PostNL", ("name",))]
    assert changes.ropa[RopaKey("service-delivery", "recipient", "PostNL",
                                "postal-service")].acts == 1
    assert changes.ropa[RopaKey("service-delivery", "legal-basis", "contract")].acts == 1
    (request,) = changes.requests[s.id]
    assert (request.request_ref, request.status) == ("DSAR-1", "open")
    assert {r.scope for r in changes.schedules[s.id]} == {"general-service-delivery",
                                                          "fiscal-2025"}
    assert decode_doc(s.id, changes.subjects[s.id].doc).version == 4


def test_the_audit_detail_holds_category_names_and_no_value() -> None:
    s = customer()
    event = next(e for e in s.collect_events() if isinstance(e, ev.DataCollected))
    detail = audit_detail(event)  # even a plaintext event leaves no value in its detail
    assert CANARY.encode() not in detail
    assert decode_detail(detail)["values"] == sorted(CUSTOMER)


def test_a_missed_event_stops_the_batch_naming_id_and_type() -> None:
    log, s = Log(), customer()
    first = log.record(s)
    log.project(first)
    s.request_access(POLICY, act(1), request_ref="DSAR-1", channel="email")
    s.fulfil_access(POLICY, act(2), request_ref="DSAR-1", export_ref="e-1")
    missing_one = log.record(s)[1:]
    with pytest.raises(ProjectionFailed) as caught:
        log.project(missing_one)
    failed = caught.value
    assert (failed.notification_id, failed.event_type, failed.index) == (
        missing_one[0].id, "AccessFulfilled", 0)
    assert "expected v3, got v4" in str(failed)


def test_a_doubled_event_stops_the_batch() -> None:
    log, s = Log(), customer()
    batch = log.record(s)
    log.project(batch)
    with pytest.raises(ProjectionFailed, match="registered twice"):
        log.project(batch)


def test_a_plaintext_value_is_refused_without_showing_it() -> None:
    log, s = Log(), customer()
    with pytest.raises(ProjectionFailed) as caught:
        log.project(log.record(s, seal=False))
    assert caught.value.index == 1
    assert "unsealed" in str(caught.value)
    assert CANARY not in str(caught.value)


def test_an_event_no_projection_knows_stops_the_batch() -> None:
    log = Log()
    log.events[1] = object()
    with pytest.raises(ProjectionFailed, match="no projection handles"):
        log.project([Notification(id=1, originator_id=uuid4(), originator_version=1,
                                  topic="somewhere:Unknown", state=b"")])


def test_the_failure_index_lets_the_events_before_it_be_kept() -> None:
    log, s, t = Log(), customer(), customer()
    batch = log.record(s) + log.record(t, seal=False)
    with pytest.raises(ProjectionFailed) as caught:
        log.project(batch)
    assert caught.value.index == 3
    kept = log.project(batch[:caught.value.index])
    assert kept.position == batch[2].id


# -- the document --------------------------------------------------------------------

def test_the_codec_covers_every_field_of_the_domain_state() -> None:
    # A field added to the domain state fails here until the codec (or the list of
    # fields deliberately left out) says what to do with it.
    encoded = set(encode_state(SubjectState()))
    assert encoded | NOT_PROJECTED == {f.name for f in fields(SubjectState)}
    assert not encoded & NOT_PROJECTED


def test_a_document_round_trips_to_the_same_bytes() -> None:
    log, s = Log(), customer()
    s.give_consent(POLICY, act(1), purpose="demo-request", channel="web",
                   notice_version="2021-12-24", proof_ref="form/1")
    s.place_legal_hold(POLICY, act(2), hold_ref="H-1", reason="litigation", scopes=["fiscal"])
    s.object(POLICY, act(3), ground="direct-marketing", purpose=None, channel="email")
    s.request_erasure(POLICY, act(4), request_ref="E-1", channel="email")
    s.complete_erasure(POLICY, act(5), request_ref="E-1",
                       plan=s.erasure_plan(POLICY, T0 + timedelta(days=5)),
                       destroyed_key_ids=[])
    data = log.project(log.record(s)).subjects[s.id].doc
    assert encode_doc(decode_doc(s.id, data)) == data
    doc = decode_doc(s.id, data)
    assert doc.state.holdings["service-delivery"]["name"] == Erased(
        "general-service-delivery")
    assert isinstance(doc.state.holdings["service-delivery"]["invoice-details"], SealedValue)


def test_a_document_holding_plaintext_cannot_be_encoded() -> None:
    doc = SubjectDoc(uuid4(), 1, T0.isoformat())
    doc.state.holdings["contact"] = {"name": CANARY}
    with pytest.raises(ProjectionError) as caught:
        encode_doc(doc)
    assert CANARY not in str(caught.value)


# -- deadlines and views ---------------------------------------------------------------

def test_a_request_is_due_a_calendar_month_later_and_extensions_add_months() -> None:
    assert request_due(T0, 0) == datetime(2025, 2, 28, 9, 0, tzinfo=UTC)  # clamped
    assert request_due(T0, 2) == datetime(2025, 4, 30, 9, 0, tzinfo=UTC)
    assert not is_overdue(request_due(T0, 0), datetime(2025, 2, 28, 9, 0, tzinfo=UTC))
    assert is_overdue(request_due(T0, 0), datetime(2025, 2, 28, 9, 1, tzinfo=UTC))


def test_an_extension_moves_the_deadline_in_the_view() -> None:
    log, s = Log(), customer()
    s.request_access(POLICY, act(0), request_ref="DSAR-1", channel="email")
    s.extend_request_deadline(POLICY, act(10), request_ref="DSAR-1", extended_by_months=1,
                              reason_code="number-of-requests")
    changes = log.project(log.record(s))
    (request,) = changes.requests[s.id]
    # Art. 12(3) on Amsterdam's calendar: received 31 January 10:00 (CET), due two
    # months later at 10:00 there, in summer time (CEST): 08:00 UTC.
    assert (request.due_at, request.extended_months, request.reasons) == (
        datetime(2025, 3, 31, 8, 0, tzinfo=UTC), 1, ("number-of-requests",))
    doc = decode_doc(s.id, changes.subjects[s.id].doc)
    late = datetime(2025, 4, 1, tzinfo=UTC)
    (shown,) = render_subject(doc, POLICY, now=late, open_value=None)["requests"]
    assert shown["overdue"] is True
    assert shown["extensions"][0]["reason_code"] == "number-of-requests"


def test_recipients_are_to_be_told_of_later_rectifications_only() -> None:
    s = customer()
    s.rectify(POLICY, act(1), purpose="service-delivery", values={"name": "x"},
              request_ref="R-0")
    s.share(POLICY, act(2), purpose="service-delivery", recipient="Mailhouse",
            recipient_kind="it-supplier", ground="processor", categories=["name"])
    log = Log()
    log.project(log.record(s))
    doc = decode_doc(s.id, log.docs[s.id])
    assert render_subject(doc, POLICY, now=T0, open_value=None)["notify_recipients"] == []
    s.rectify(POLICY, act(3), purpose="service-delivery", values={"name": "y"},
              request_ref="R-1")
    s.rectify(POLICY, act(4), purpose="service-delivery", values={"organisation-name": "z"},
              request_ref="R-2")
    log.project(log.record(s))
    doc = decode_doc(s.id, log.docs[s.id])
    (notice,) = render_subject(doc, POLICY, now=T0, open_value=None)["notify_recipients"]
    assert notice["recipient"] == "Mailhouse"
    assert [(b["act"], b["categories"]) for b in notice["because"]] == [
        ("rectification", ["name"])]


def test_values_are_opened_on_read_and_erased_ones_read_as_erased() -> None:
    log, s = Log(), customer()
    log.project(log.record(s))
    doc = decode_doc(s.id, log.docs[s.id])

    def open_value(value: SealedValue) -> str | Erased:
        return (Erased(value.scope) if value.scope.startswith("general")
                else f"opened-{value.category}")

    shown = {v["category"]: (v["status"], v["value"]) for v in render_subject(
        doc, POLICY, now=T0, open_value=open_value)["personal_data"]}
    assert shown["name"] == ("erased", None)
    assert shown["invoice-details"] == ("held", "opened-invoice-details")
    withheld = render_subject(doc, POLICY, now=T0, open_value=None)["personal_data"]
    assert {(v["status"], v["value"]) for v in withheld} == {("held", None)}


def test_evolve_applies_the_domain_rules_view_of_state() -> None:
    s = customer()
    events = [sealed(e) for e in s.collect_events()]
    doc = SubjectDoc(s.id, 0, T0.isoformat())
    for event in events:
        evolve(doc, event)
    assert doc.version == s.version
    assert doc.state.category_scopes == s.state.category_scopes
    assert set(doc.state.holdings["service-delivery"]) == set(CUSTOMER)


def test_the_html_report_escapes_every_value_and_is_self_contained() -> None:
    hostile = '<script>alert("x")</script> & "quoted"'
    log, s = Log(), customer()
    log.project(log.record(s))
    doc = decode_doc(s.id, log.docs[s.id])
    view = render_subject(doc, POLICY, now=T0, open_value=lambda v: hostile)
    export = {"subject": view, "controller": POLICY.controller, "policy_version": "v<1>",
              "generated_at": T0.isoformat(), "position": 2,
              "recorded_values": [], "acts": []}
    html = render_report(export)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quoted&quot;" in html
    assert "v&lt;1&gt;" in html
    assert "Naam" in html
    assert "Name" in html
    assert "http" not in html.lower().replace('name="viewport"', "")
