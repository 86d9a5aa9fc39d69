"""``LedgerReader``: the read API the command line and other callers use.

Every view is a JSON-ready dict built from indexed reads of a projection store; the
subject view is one primary-key read plus opening the values it shows. Personal values
are opened here, on read, through the mapper's ``open_value``; everything else the
reader returns holds ids, codes and timestamps only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import resolve_topic

from ledger.domain import events as ev
from ledger.domain.policy import Policy
from ledger.domain.values import Erased, PersonalValue
from ledger.errors import KeyMissing, UnknownSubject
from ledger.persistence.encrypting_mapper import SealedValue
from projections import registers
from projections.notices import access_notice, purpose_notice_extra
from projections.projector import decode_detail
from projections.rows import AuditRow
from projections.store import ProjectionReads
from projections.subject_read_model import SubjectDoc, decode_doc, evolve, iso
from projections.views import JsonObject, Opener, Withheld, render_subject

EXPORT_FORMAT = "personal-data-ledger/dsar-export"
EXPORT_VERSION = 1
# Fields every act has; the audit trail shows them as columns, not as details.
_COMMON = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp",
                     "act_id", "policy_version", "actor", "occurred_at"})


# A subject's events in the verifiable log, with inclusion proofs against a signed
# checkpoint (``consumers.services.audit_log.subject_log_proofs``): read from the store,
# not from the projections, so the proofs are of what is stored.
LogProofs = Callable[[UUID], JsonObject]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LedgerReader:
    def __init__(self, store: ProjectionReads, policy: Policy, open_value: Opener,
                 *, clock: Callable[[], datetime] = _utc_now,
                 log_proofs: LogProofs | None = None) -> None:
        self.store = store
        self.policy = policy
        self._open_value = open_value
        self._clock = clock
        self._log_proofs = log_proofs

    def position(self) -> int:
        """The last notification id the projections include."""
        return self.store.position()

    # -- one subject -------------------------------------------------------------------

    def subject_view(self, subject_id: UUID, *, now: datetime | None = None) -> JsonObject:
        """What is held about the subject now, values opened (erased ones as erased)."""
        opener = _NamingLostKeys(self._open_value)
        view = self._subject_view(subject_id, now or self._clock(), opener)
        opener.check()
        return view

    def _subject_view(self, subject_id: UUID, now: datetime, open_value: Opener
                      ) -> JsonObject:
        view = render_subject(self._doc(subject_id), self.policy, now=now,
                              open_value=open_value)
        view["position"] = self.position()
        return view

    def export(self, subject_id: UUID, *, now: datetime | None = None) -> JsonObject:
        """Everything held about the subject (art. 15 and 20), machine-readable: the
        current view, every value ever recorded (opened or erased), and every act."""
        moment = now or self._clock()
        opener = _NamingLostKeys(self._open_value)
        view = self._subject_view(subject_id, moment, opener)
        recorded: list[JsonObject] = []
        for row in self.store.value_rows(subject_id):
            opened = opener(SealedValue(
                subject_id=row.subject_id, version=row.version, field=row.field,
                category=row.category, scope=row.scope, key_id=row.key_id, blob=row.blob))
            label = self.policy.categories.get(row.category)
            recorded.append({
                "act_id": row.act_id, "event_type": row.event_type,
                "occurred_at": row.occurred_at.isoformat() if row.occurred_at else None,
                "version": row.version, "purpose": row.purpose, "category": row.category,
                "label_nl": label.label_nl if label else row.category,
                "label_en": label.label_en if label else row.category,
                "scope": row.scope,
                "status": "erased" if isinstance(opened, Erased) else "held",
                "value": opened if isinstance(opened, str) else None,
            })
        opener.check()
        purposes = sorted({v["purpose"] for v in recorded} | {
            p["purpose"] for p in view["purposes"]})
        acts = self.audit_trail(subject_id)
        proofs = {} if self._log_proofs is None else {
            # Each act's leaf (metadata and the SHA-256 of its stored form) and its
            # inclusion proof: `ledger audit verify-export` checks them offline.
            "log_proofs": self._log_proofs(subject_id)}
        return {
            "format": EXPORT_FORMAT, "format_version": EXPORT_VERSION,
            "generated_at": iso(moment), "position": view.pop("position"),
            "controller": self.policy.controller, "policy_version": self.policy.version,
            "subject": view,
            "recorded_values": recorded,
            "purposes": [self._purpose_notice(p) for p in purposes],
            "acts": acts,
            # Art. 15(1)(a)-(h), 15(2), 15(3): what the person must be told besides.
            **access_notice(self.policy, view, recorded, acts),
            **proofs,
        }

    def audit_trail(
        self, subject_id: UUID | None = None, *, as_of: datetime | None = None,
        known_at: datetime | None = None, after: int = 0, limit: int | None = None,
    ) -> list[JsonObject]:
        """Acts in log order, without personal values; ``as_of`` keeps those that had
        happened by then, ``known_at`` those recorded by then."""
        rows = self.store.audit_rows(subject_id=subject_id, occurred_until=as_of,
                                     recorded_until=known_at, after=after, limit=limit)
        return [_audit_entry(row) for row in rows]

    def held_as_of(self, subject_id: UUID, as_of: datetime, *,
                   known_at: datetime | None = None) -> JsonObject:
        """What was held about the subject at ``as_of``, and on what grounds, as the
        acts recorded (by ``known_at``, default: now) tell it. No values, only
        categories, purposes, legal bases, consents, objections, restrictions, holds."""
        rows = self.store.audit_rows(subject_id=subject_id, occurred_until=as_of,
                                     recorded_until=known_at)
        if not rows and self.store.subject_doc(subject_id) is None:
            raise UnknownSubject(f"no data subject {subject_id} in the projections")
        doc: SubjectDoc | None = None
        for row in rows:
            event = _hollow_event(row)
            if isinstance(event, ev.SubjectRegistered):
                doc = SubjectDoc(subject_id, 0, iso(event.occurred_at))
            if doc is not None:
                evolve(doc, event)
        result: JsonObject = {
            "subject_id": str(subject_id), "as_of": iso(as_of),
            "known_at": iso(known_at) if known_at else None, "acts_counted": len(rows),
            "policy_versions": sorted({r.policy_version for r in rows}),
            "registered": doc is not None,
        }
        if doc is not None:
            view = render_subject(doc, self.policy, now=as_of, open_value=None)
            result.update({k: v for k, v in view.items() if k not in ("subject_id",)})
        return result

    # -- registers ---------------------------------------------------------------------

    def records_of_processing(self) -> list[JsonObject]:
        return registers.records_of_processing(self.policy, self.store.ropa_rows())

    def record_of_processing(self) -> JsonObject:
        """Art. 30 whole: controller, officer, security, the per-purpose records (the
        list ``records_of_processing`` gives), the processor record, and which policy
        revision the allowances rest on and which revisions judged the acts."""
        return registers.record_of_processing(self.policy, self.store.ropa_rows())

    def disclosure_register(self, recipient: str | None = None) -> list[JsonObject]:
        return registers.disclosure_register(self.store.disclosure_rows(recipient=recipient))

    def retention_schedule(
        self, *, until: datetime | None = None, subject_id: UUID | None = None,
        include_untriggered: bool = True, now: datetime | None = None,
    ) -> list[JsonObject]:
        rows = self.store.schedule_rows(until=until, subject_id=subject_id,
                                        include_untriggered=include_untriggered)
        return registers.retention_schedule(self.policy, rows, now or self._clock())

    def dsar_queue(self, *, now: datetime | None = None,
                   include_closed: bool = False) -> list[JsonObject]:
        rows = self.store.request_rows(open_only=not include_closed)
        return registers.dsar_queue(rows, now or self._clock(), self.policy.zone)

    def registers(self, now: datetime | None = None) -> JsonObject:
        moment = now or self._clock()
        return {
            "position": self.position(), "generated_at": iso(moment),
            "policy_version": self.policy.version,
            **self.record_of_processing(),
            "disclosures": self.disclosure_register(),
            "retention_schedule": self.retention_schedule(now=moment),
            "dsar_queue": self.dsar_queue(now=moment),
        }

    # -- plumbing ----------------------------------------------------------------------

    def _doc(self, subject_id: UUID) -> SubjectDoc:
        data = self.store.subject_doc(subject_id)
        if data is None:
            raise UnknownSubject(f"no data subject {subject_id} in the projections")
        return decode_doc(subject_id, data)

    def _purpose_notice(self, key: str) -> JsonObject:
        spec = self.policy.purposes.get(key)
        if spec is None:
            return {"purpose": key, "in_policy": False}
        return {
            "purpose": key, "in_policy": True, "section": spec.section,
            "title_nl": spec.title_nl, "description": spec.description, "role": spec.role,
            "legal_bases": sorted(spec.legal_bases),
            "retention": {"trigger": spec.retention.trigger,
                          "period": str(spec.retention.period)},
            "recipient_kinds": [
                {"kind": k, "description": self.policy.recipient_kinds.get(k, k),
                 "description_en": self.policy.recipient_labels_en.get(k)}
                for k in sorted(spec.recipient_kinds)],
            **purpose_notice_extra(self.policy, key),
        }


class _NamingLostKeys:
    """Opens values, reading on past a lost key (``KeyMissing``) so that ``check`` can
    name every lost key of the read at once; what it returns for one is never shown."""

    def __init__(self, open_value: Opener) -> None:
        self._open_value = open_value
        self._missing: set[UUID] = set()
        self._subject: UUID | None = None

    def __call__(self, sealed: SealedValue) -> PersonalValue:
        try:
            return self._open_value(sealed)
        except KeyMissing as error:
            self._missing.update(error.key_ids)
            self._subject = sealed.subject_id
            return Erased(sealed.scope)

    def check(self) -> None:
        if self._missing:
            raise KeyMissing(self._missing, self._subject)


def _audit_entry(row: AuditRow) -> JsonObject:
    detail = decode_detail(row.detail)
    return {
        "notification_id": row.notification_id,
        "subject_id": str(row.subject_id) if row.subject_id else None,
        "version": row.version, "type": row.event_type, "act_id": row.act_id,
        "actor": row.actor, "policy_version": row.policy_version,
        "occurred_at": iso(row.occurred_at), "recorded_at": iso(row.recorded_at),
        "details": {k: _plain(v) for k, v in sorted(detail.items()) if k not in _COMMON},
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _hollow_event(row: AuditRow) -> ev.SubjectEvent:
    """The act rebuilt from its audit row, each personal value a ``Withheld`` marker."""
    cls = resolve_topic(row.topic)
    state = decode_detail(row.detail)
    state.update(originator_id=row.subject_id, originator_version=row.version,
                 timestamp=row.recorded_at, act_id=row.act_id, actor=row.actor,
                 policy_version=row.policy_version)
    for name in getattr(cls, "personal_fields", ()):
        scopes = state.get("scopes", {})
        state[name] = {c: Withheld(scopes.get(c, "")) for c in state[name]}
    event = object.__new__(cls)
    object.__setattr__(event, "__dict__", state)
    if not isinstance(event, ev.SubjectEvent):
        raise TypeError(f"audit row {row.notification_id} is not a subject act")
    return event
