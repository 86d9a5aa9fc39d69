"""From notifications to one batch of changes: every projection, in log order.

Pure but for loading the batch's subject documents through the store's transaction.
Each event is decoded *sealed* (personal values stay ciphertext), checked to follow
its subject's previous event exactly (a missed or doubled event stops the projector),
applied to the subject document, and turned into audit, value, disclosure and
register rows. An event that fails raises ``ProjectionFailed`` naming its notification
id and type; nothing is ever skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from ledger.domain import events as ev
from ledger.domain.evolution import ACQUIRER
from ledger.domain.policy import Policy
from ledger.domain.policy_register import (
    POLICY_REGISTER_ID,
    PolicyRegister,
    PolicyVersionPublished,
)
from ledger.domain.retention import hold_refs, purposes_in, retention_due
from ledger.errors import LedgerError
from ledger.persistence.encrypting_mapper import SealedValue
from ledger.persistence.transcoder import ledger_transcoder
from projections.deadlines import request_due_of
from projections.errors import ProjectionError, ProjectionFailed
from projections.rows import (
    NO_PURPOSE,
    AuditRow,
    Changes,
    DisclosureRow,
    RequestRow,
    RopaKey,
    ScheduleRow,
    SubjectRow,
    ValueRow,
)
from projections.subject_read_model import (
    SubjectDoc,
    decode_doc,
    encode_doc,
    evolve,
    iso,
    sealed_values,
)

Decode = Callable[[StoredEvent], object]
LoadDocs = Callable[[Collection[UUID]], Mapping[UUID, bytes]]

_TRANSCODER = ledger_transcoder()
# Kept in the audit row's own columns (not repeated in its detail), or not needed to know
# what was done and large: the policy text is identified by its digest; an act's keyed
# digest only tells the writer a re-delivery from another act under the same id.
_AUDIT_OMITS = frozenset({"originator_id", "originator_version", "timestamp", "act_id",
                          "actor", "policy_version", "document", "act_digest",
                          "act_digest_key_id"})


def event_type_name(cls: type) -> str:
    """The name auditors know an event by (``SubjectRegistered``, not ``Registered``)."""
    for klass in cls.__mro__:
        if klass.__module__ == ev.__name__:
            return klass.__name__
    return cls.__qualname__


def topic_name(topic: str) -> str:
    return topic.rpartition(":")[2] or topic


def failure_reason(error: BaseException) -> str:
    # Ledger errors promise messages without personal values; others may quote input.
    if isinstance(error, LedgerError):
        return f"{type(error).__name__}: {error}"
    return type(error).__name__


def audit_detail(event: object) -> bytes:
    """The event's clear fields, with each personal field reduced to its categories;
    those every act has live in the audit row's columns instead."""
    state = {k: v for k, v in vars(event).items() if k not in _AUDIT_OMITS}
    for name in getattr(type(event), "personal_fields", ()):
        state[name] = sorted(state[name])
    return bytes(_TRANSCODER.encode(state))


def decode_detail(detail: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = _TRANSCODER.decode(detail)
    return decoded


@dataclass
class _Batch:
    stored: Mapping[UUID, bytes]
    changes: Changes
    docs: dict[UUID, SubjectDoc] = field(default_factory=dict)
    last: dict[UUID, tuple[int, int, str]] = field(default_factory=dict)  # index, id, type


class Projector:
    def __init__(self, decode: Decode, policy: Policy) -> None:
        self._decode = decode
        self.policy = policy

    def project(self, notifications: Sequence[Notification], load: LoadDocs) -> Changes:
        """The changes ``notifications`` (in log order, none skipped) make."""
        if not notifications:
            raise ValueError("an empty batch has no position to move to")
        subject_ids = {_uuid(n.originator_id) for n in notifications}
        subject_ids.discard(POLICY_REGISTER_ID)
        batch = _Batch(load(subject_ids), Changes(position=notifications[-1].id))
        for index, notification in enumerate(notifications):
            try:
                self._project_one(notification, batch, index)
            except Exception as error:  # stop, naming the event; never skip
                raise ProjectionFailed(notification.id, topic_name(notification.topic),
                                       failure_reason(error), index) from error
        for subject_id, doc in batch.docs.items():
            index, notification_id, type_name = batch.last[subject_id]
            try:
                self._derive(subject_id, doc, notification_id, batch.changes)
            except Exception as error:  # its subject's last event
                raise ProjectionFailed(notification_id, type_name, failure_reason(error),
                                       index) from error
        return batch.changes

    # -- one event ---------------------------------------------------------------------

    def _project_one(self, notification: Notification, batch: _Batch, index: int) -> None:
        event = self._decode(notification)
        if isinstance(event, PolicyRegister.Opened):
            return  # the register's creation is no act; the publications are
        if isinstance(event, PolicyVersionPublished):
            batch.changes.audit.append(AuditRow(
                notification.id, None, event.originator_version, "PolicyVersionPublished",
                notification.topic, f"policy:{event.version}", event.actor, event.version,
                event.occurred_at, event.timestamp, audit_detail(event)))
            batch.changes.count(RopaKey(NO_PURPOSE, "policy-published", event.version),
                                event.occurred_at)
            return
        if not isinstance(event, ev.SubjectEvent):
            raise ProjectionError("no projection handles this event type; update projections")
        subject_id = event.originator_id
        doc = self._doc(subject_id, event, batch)
        self._require_sealed(event)
        evolve(doc, event)
        batch.last[subject_id] = (index, notification.id, event_type_name(type(event)))
        self._rows(notification, event, doc, batch.changes)

    def _doc(self, subject_id: UUID, event: ev.SubjectEvent, batch: _Batch) -> SubjectDoc:
        doc = batch.docs.get(subject_id)
        if doc is None and subject_id in batch.stored:
            doc = decode_doc(subject_id, batch.stored[subject_id])
        if isinstance(event, ev.SubjectRegistered):
            if doc is not None:
                raise ProjectionError(f"subject {subject_id} is registered twice")
            doc = SubjectDoc(subject_id, 0, iso(event.occurred_at))
        elif doc is None:
            raise ProjectionError(
                f"subject {subject_id} v{event.originator_version} comes before its "
                "registration (a missed event?)")
        if event.originator_version != doc.version + 1:
            raise ProjectionError(
                f"subject {subject_id}: expected v{doc.version + 1}, got "
                f"v{event.originator_version} (a missed or doubled event)")
        batch.docs[subject_id] = doc
        return doc

    @staticmethod
    def _require_sealed(event: ev.SubjectEvent) -> None:
        for name in type(event).personal_fields:
            values = getattr(event, name)
            if not all(isinstance(v, SealedValue) for v in values.values()):
                raise ProjectionError(
                    f"personal field {name!r} arrived unsealed; projections keep sealed "
                    "values only (decode with the mapper's to_sealed_event)")

    # -- rows --------------------------------------------------------------------------

    def _rows(self, notification: Notification, event: ev.SubjectEvent, doc: SubjectDoc,
              changes: Changes) -> None:
        subject_id, at = event.originator_id, event.occurred_at
        type_name = event_type_name(type(event))
        changes.audit.append(AuditRow(
            notification.id, subject_id, event.originator_version, type_name,
            notification.topic, event.act_id, event.actor, event.policy_version, at,
            event.timestamp, audit_detail(event)))
        # Which policy revision judged the act, per purpose (art. 5(2) accountability).
        purpose = getattr(event, "purpose", None)
        changes.count(RopaKey(purpose if isinstance(purpose, str) else NO_PURPOSE,
                              "policy-version", event.policy_version), at)
        self._count_for_controller(event, doc, changes)
        if isinstance(event, ev.DataCollected | ev.DataRectified):
            for category, value in sorted(sealed_values(event).items()):
                changes.values.append(ValueRow(
                    notification.id, subject_id, value.version, value.field, category,
                    event.purpose, value.scope, value.key_id, value.blob, type_name,
                    event.act_id, at))
                changes.count(RopaKey(event.purpose, "category", category), at)
        if isinstance(event, ev.DataCollected):
            changes.count(RopaKey(event.purpose, "legal-basis", event.legal_basis), at)
            changes.count(RopaKey(event.purpose, "source", event.source_system), at)
            for scope in sorted(set(event.scopes.values())):
                changes.count(RopaKey(event.purpose, "scope", scope), at)
        elif isinstance(event, ev.DataProcessed):
            changes.count(RopaKey(event.purpose, "operation", event.operation), at)
            for category in event.categories:
                changes.count(RopaKey(event.purpose, "category", category), at)
        elif isinstance(event, ev.DataShared):
            changes.disclosures.append(DisclosureRow(
                notification.id, subject_id, event.recipient, event.recipient_kind,
                event.purpose, event.ground, tuple(event.categories), event.act_id, at))
            changes.count(RopaKey(event.purpose, "recipient", event.recipient,
                                  event.recipient_kind), at)
            changes.count(RopaKey(event.purpose, "sharing-ground", event.ground), at)
        elif isinstance(event, ev.ContractEnded | ev.PurposeFulfilled):
            trigger = "contract-ended" if isinstance(event, ev.ContractEnded) else (
                "purpose-fulfilled")
            changes.count(RopaKey(event.purpose, "retention-trigger", trigger), at)
        elif isinstance(event, ev.ErasureCompleted):
            self._count_scopes(changes, doc, event.scopes, "erased", at=at)
        elif isinstance(event, ev.ErasureRefusedInPart):
            self._count_scopes(changes, doc, [event.kept_scope], "kept-by-law", at=at,
                               qualifier=event.legal_reason)
        elif isinstance(event, ev.RetentionExpired):
            self._count_scopes(changes, doc, [event.scope], "retention-expired", at=at)
        elif isinstance(event, ev.ControllerTransferred | ev.RequestForwarded):
            self._count_hand_over(notification.id, event, doc, changes)

    @staticmethod
    def _count_hand_over(notification_id: int,
                         event: ev.ControllerTransferred | ev.RequestForwarded,
                         doc: SubjectDoc, changes: Changes) -> None:
        """What goes to another controller: a business transfer (art. 4(7), 30(1): the
        acquirer is the controller of each purpose from now on; art. 19: it received the
        data held for each, a recipient, art. 4(9)) or a request we passed on."""
        at = event.occurred_at
        if isinstance(event, ev.RequestForwarded):
            changes.count(RopaKey(NO_PURPOSE, "request-forwarded", event.forwarded_to,
                                  event.request_kind), at)
            return
        for purpose in sorted(set(event.purposes)):
            changes.count(RopaKey(purpose, "transferred-to", event.new_controller,
                                  event.transfer_kind), at)
            changes.disclosures.append(DisclosureRow(
                notification_id, event.originator_id, event.new_controller, ACQUIRER,
                purpose, event.transfer_kind,
                tuple(sorted(doc.state.holdings.get(purpose, {}))), event.act_id, at))
        changes.count(RopaKey(NO_PURPOSE, "transferred-to", event.new_controller,
                              event.transfer_kind), at)

    @staticmethod
    def _count_for_controller(event: ev.SubjectEvent, doc: SubjectDoc,
                              changes: Changes) -> None:
        """Art. 30(2): what we do as processor, per customer organisation (controller)."""
        purpose = getattr(event, "purpose", None)
        if not isinstance(purpose, str):
            return
        role, controller = doc.state.roles.get(purpose, ("controller", ""))
        if role != "processor" or not controller:
            return
        at = event.occurred_at
        if isinstance(event, ev.DataCollected):
            changes.count(RopaKey(purpose, "controller", controller), at)
            for category in sorted(event.values):
                changes.count(RopaKey(purpose, "controller-category", category,
                                      controller), at)
            changes.count(RopaKey(purpose, "controller-operation", "collect", controller), at)
        elif isinstance(event, ev.DataProcessed):
            changes.count(RopaKey(purpose, "controller-operation", event.operation,
                                  controller), at)
        elif isinstance(event, ev.DataShared):
            changes.count(RopaKey(purpose, "controller-operation", "share", controller), at)
        elif isinstance(event, ev.DataRectified):
            changes.count(RopaKey(purpose, "controller-operation", "rectify", controller), at)

    @staticmethod
    def _count_scopes(changes: Changes, doc: SubjectDoc, scopes: Sequence[str], kind: str,
                      *, at: datetime, qualifier: str = "") -> None:
        """Attributes a scope-wide act to each purpose holding data in the scope."""
        for scope in sorted(set(scopes)):
            for purpose in sorted(purposes_in(doc.state, scope)):
                changes.count(RopaKey(purpose, kind, scope, qualifier), at)

    def _derive(self, subject_id: UUID, doc: SubjectDoc, notification_id: int,
                changes: Changes) -> None:
        """Rows derived from the whole subject state, rewritten for each touched subject."""
        changes.schedules[subject_id] = [
            ScheduleRow(subject_id, scope, due_at,
                        tuple(hold_refs(self.policy, doc.state, scope)))
            for scope, due_at in sorted(retention_due(self.policy, doc.state).items())
        ]
        zone = self.policy.zone
        for r in doc.info["requests"]:
            if r["status"] != "forwarded":  # art. 12(3): a month on Amsterdam's calendar
                r["due_at"] = iso(request_due_of(r, zone))
        changes.requests[subject_id] = [
            RequestRow(
                subject_id, seq, r["request_ref"], r["kind"], r["channel"], r["act_id"],
                datetime.fromisoformat(r["at"]), datetime.fromisoformat(r["due_at"]),
                sum(e["months"] for e in r["extensions"]),
                tuple(e["reason_code"] for e in r["extensions"]), r["status"],
                datetime.fromisoformat(r["closed_at"]) if r["closed_at"] else None,
                r.get("forwarded_to"))
            for seq, r in enumerate(doc.info["requests"])
        ]
        changes.subjects[subject_id] = SubjectRow(
            subject_id, doc.version, notification_id, encode_doc(doc))


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
