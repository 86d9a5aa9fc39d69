"""The statements both SQL adapters run, and the conversion of their rows.

SQLite and PostgreSQL differ here only in placeholders, how ids and timestamps are
stored (16-byte blobs and UTC text in SQLite; ``uuid`` and ``timestamptz`` in
PostgreSQL) and a few function names, so one ``Dialect`` covers both and the contract
tests hold them to the same results. Every statement is a constant text per dialect
(with parameters), so both drivers can keep them prepared.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from projections.rows import (
    AuditRow,
    Changes,
    DisclosureRow,
    RequestRow,
    RopaCount,
    RopaKey,
    RopaRow,
    ScheduleRow,
    SubjectRow,
    ValueRow,
)

Params = tuple[Any, ...]


@dataclass(frozen=True)
class Dialect:
    param: str
    uuid_in: Callable[[UUID], Any]
    uuid_out: Callable[[Any], UUID]
    time_in: Callable[[datetime], Any]
    time_out: Callable[[Any], datetime]
    least: str
    greatest: str
    due_order: str  # due dates first, untriggered (NULL) last

    def q(self, text: str) -> str:
        """``text`` with ``?`` placeholders in this dialect's style."""
        return text if self.param == "?" else text.replace("?", self.param)

    def opt_uuid(self, value: Any) -> UUID | None:
        return None if value is None else self.uuid_out(value)

    def opt_time(self, value: Any) -> datetime | None:
        return None if value is None else self.time_out(value)


AUDIT_COLUMNS = ("notification_id, subject_id, version, event_type, topic, act_id, actor,"
                 " policy_version, occurred_at, recorded_at, detail")
VALUE_COLUMNS = ("notification_id, subject_id, version, field, category, purpose, scope,"
                 " key_id, blob, event_type, act_id, occurred_at")
DISCLOSURE_COLUMNS = ("notification_id, subject_id, recipient, recipient_kind, purpose,"
                      " ground, categories, act_id, occurred_at")
SCHEDULE_COLUMNS = "subject_id, scope, due_at, holds"
REQUEST_COLUMNS = ("subject_id, seq, request_ref, kind, channel, act_id, requested_at,"
                   " due_at, extended_months, reasons, status, closed_at")
ROPA_COLUMNS = "purpose, kind, item, qualifier, acts, first_at, last_at"
SUBJECT_COLUMNS = "subject_id, version, notification_id, doc"


def _marks(columns: str) -> str:
    return ", ".join("?" for _ in columns.split(","))


def _insert(table: str, columns: str, on_conflict: str = "") -> str:
    # Only module constants go in here; every value travels as a parameter.
    return f"INSERT INTO {table} ({columns}) VALUES ({_marks(columns)}){on_conflict}"  # noqa: S608


_UPSERT_SUBJECT = _insert(
    "subjects", SUBJECT_COLUMNS,
    " ON CONFLICT (subject_id) DO UPDATE SET version = excluded.version,"
    " notification_id = excluded.notification_id, doc = excluded.doc")
_INSERT_AUDIT = _insert("audit", AUDIT_COLUMNS)
_INSERT_VALUE = _insert("value_log", VALUE_COLUMNS)
_INSERT_DISCLOSURE = _insert("disclosures", DISCLOSURE_COLUMNS)
_INSERT_SCHEDULE = _insert("retention_schedule", SCHEDULE_COLUMNS)
_INSERT_REQUEST = _insert("requests", REQUEST_COLUMNS)


def _upsert_ropa(d: Dialect) -> str:
    return _insert(
        "ropa", ROPA_COLUMNS,
        " ON CONFLICT (purpose, kind, item, qualifier) DO UPDATE SET"
        " acts = ropa.acts + excluded.acts,"
        f" first_at = {d.least}(ropa.first_at, excluded.first_at),"
        f" last_at = {d.greatest}(ropa.last_at, excluded.last_at)")


def write_statements(d: Dialect, changes: Changes) -> Iterator[tuple[str, list[Params]]]:
    """(statement, rows) pairs that stage ``changes``; the position comes last."""
    if changes.subjects:
        yield d.q(_UPSERT_SUBJECT), [
            (d.uuid_in(s.subject_id), s.version, s.notification_id, s.doc)
            for s in changes.subjects.values()]
    if changes.audit:
        yield d.q(_INSERT_AUDIT), [
            (a.notification_id, None if a.subject_id is None else d.uuid_in(a.subject_id),
             a.version, a.event_type, a.topic, a.act_id, a.actor, a.policy_version,
             d.time_in(a.occurred_at), d.time_in(a.recorded_at), a.detail)
            for a in changes.audit]
    if changes.values:
        yield d.q(_INSERT_VALUE), [
            (v.notification_id, d.uuid_in(v.subject_id), v.version, v.field, v.category,
             v.purpose, v.scope, d.uuid_in(v.key_id), v.blob, v.event_type, v.act_id,
             None if v.occurred_at is None else d.time_in(v.occurred_at))
            for v in changes.values]
    if changes.disclosures:
        yield d.q(_INSERT_DISCLOSURE), [
            (x.notification_id, d.uuid_in(x.subject_id), x.recipient, x.recipient_kind,
             x.purpose, x.ground, json.dumps(list(x.categories)), x.act_id,
             d.time_in(x.occurred_at)) for x in changes.disclosures]
    if changes.schedules:
        # Derived per subject: the touched subjects' rows are replaced as a whole.
        yield d.q("DELETE FROM retention_schedule WHERE subject_id = ?"), [
            (d.uuid_in(s),) for s in sorted(changes.schedules)]
        schedule = [r for s in sorted(changes.schedules) for r in changes.schedules[s]]
        if schedule:
            yield d.q(_INSERT_SCHEDULE), [
                (d.uuid_in(r.subject_id), r.scope,
                 None if r.due_at is None else d.time_in(r.due_at), json.dumps(list(r.holds)))
                for r in schedule]
    if changes.requests:
        yield d.q("DELETE FROM requests WHERE subject_id = ?"), [
            (d.uuid_in(s),) for s in sorted(changes.requests)]
        requests = [r for s in sorted(changes.requests) for r in changes.requests[s]]
        if requests:
            yield d.q(_INSERT_REQUEST), [
                (d.uuid_in(r.subject_id), r.seq, r.request_ref, r.kind, r.channel, r.act_id,
                 d.time_in(r.requested_at), d.time_in(r.due_at), r.extended_months,
                 json.dumps(list(r.reasons)), r.status,
                 None if r.closed_at is None else d.time_in(r.closed_at)) for r in requests]
    if changes.ropa:
        yield d.q(_upsert_ropa(d)), [
            (k.purpose, k.kind, k.item, k.qualifier, c.acts, d.time_in(c.first_at),
             d.time_in(c.last_at)) for k, c in sorted(changes.ropa.items(), key=_ropa_order)]
    yield d.q("UPDATE projection_meta SET value = ? WHERE name = 'position'"), [
        (changes.position,)]


def _ropa_order(item: tuple[RopaKey, RopaCount]) -> RopaKey:
    return item[0]


# -- reads -------------------------------------------------------------------------------

def audit_query(
    d: Dialect, *, subject_id: UUID | None, occurred_until: datetime | None,
    recorded_until: datetime | None, after: int, limit: int | None,
) -> tuple[str, Params]:
    clauses, params = ["notification_id > ?"], [after]
    if subject_id is not None:
        clauses.append("subject_id = ?")
        params.append(d.uuid_in(subject_id))
    if occurred_until is not None:
        clauses.append("occurred_at <= ?")
        params.append(d.time_in(occurred_until))
    if recorded_until is not None:
        clauses.append("recorded_at <= ?")
        params.append(d.time_in(recorded_until))
    text = (f"SELECT {AUDIT_COLUMNS} FROM audit WHERE {' AND '.join(clauses)}"  # noqa: S608 - constant fragments
            " ORDER BY notification_id")
    if limit is not None:
        text += " LIMIT ?"
        params.append(limit)
    return d.q(text), tuple(params)


def audit_row(d: Dialect, r: Params) -> AuditRow:
    return AuditRow(r[0], d.opt_uuid(r[1]), r[2], r[3], r[4], r[5], r[6], r[7],
                    d.time_out(r[8]), d.time_out(r[9]), bytes(r[10]))


def value_row(d: Dialect, r: Params) -> ValueRow:
    return ValueRow(r[0], d.uuid_out(r[1]), r[2], r[3], r[4], r[5], r[6], d.uuid_out(r[7]),
                    bytes(r[8]), r[9], r[10], d.opt_time(r[11]))


def disclosure_row(d: Dialect, r: Params) -> DisclosureRow:
    return DisclosureRow(r[0], d.uuid_out(r[1]), r[2], r[3], r[4], r[5],
                         tuple(json.loads(r[6])), r[7], d.time_out(r[8]))


def schedule_row(d: Dialect, r: Params) -> ScheduleRow:
    return ScheduleRow(d.uuid_out(r[0]), r[1], d.opt_time(r[2]), tuple(json.loads(r[3])))


def request_row(d: Dialect, r: Params) -> RequestRow:
    return RequestRow(d.uuid_out(r[0]), r[1], r[2], r[3], r[4], r[5], d.time_out(r[6]),
                      d.time_out(r[7]), r[8], tuple(json.loads(r[9])), r[10],
                      d.opt_time(r[11]))


def ropa_row(d: Dialect, r: Params) -> RopaRow:
    return RopaRow(RopaKey(r[0], r[1], r[2], r[3]),
                   RopaCount(r[4], d.time_out(r[5]), d.time_out(r[6])))


def subject_row(d: Dialect, r: Params) -> SubjectRow:
    return SubjectRow(d.uuid_out(r[0]), r[1], r[2], bytes(r[3]))


def disclosure_query(d: Dialect, recipient: str | None,
                     subject_id: UUID | None) -> tuple[str, Params]:
    clauses, params = [], []
    if recipient is not None:
        clauses.append("recipient = ?")
        params.append(recipient)
    if subject_id is not None:
        clauses.append("subject_id = ?")
        params.append(d.uuid_in(subject_id))
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return d.q(f"SELECT {DISCLOSURE_COLUMNS} FROM disclosures{where}"  # noqa: S608 - constant fragments
               " ORDER BY recipient, subject_id, notification_id"), tuple(params)


def schedule_query(d: Dialect, until: datetime | None, subject_id: UUID | None,
                   include_untriggered: bool) -> tuple[str, Params]:
    clauses, params = [], []
    if until is not None:
        clauses.append("(due_at <= ? OR due_at IS NULL)" if include_untriggered
                       else "due_at <= ?")
        params.append(d.time_in(until))
    elif not include_untriggered:
        clauses.append("due_at IS NOT NULL")
    if subject_id is not None:
        clauses.append("subject_id = ?")
        params.append(d.uuid_in(subject_id))
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return d.q(f"SELECT {SCHEDULE_COLUMNS} FROM retention_schedule{where}"  # noqa: S608 - constant fragments
               f" ORDER BY {d.due_order}, subject_id, scope"), tuple(params)


def request_query(d: Dialect, open_only: bool,
                  subject_id: UUID | None) -> tuple[str, Params]:
    clauses, params = [], []
    if open_only:
        clauses.append("status = 'open'")
    if subject_id is not None:
        clauses.append("subject_id = ?")
        params.append(d.uuid_in(subject_id))
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return d.q(f"SELECT {REQUEST_COLUMNS} FROM requests{where}"  # noqa: S608 - constant fragments
               " ORDER BY due_at, subject_id, seq"), tuple(params)


SNAPSHOT_QUERIES: dict[str, tuple[str, Callable[[Dialect, Params], object]]] = {
    "subjects": (f"SELECT {SUBJECT_COLUMNS} FROM subjects ORDER BY subject_id", subject_row),  # noqa: S608
    "audit": (f"SELECT {AUDIT_COLUMNS} FROM audit ORDER BY notification_id", audit_row),  # noqa: S608
    "value_log": (f"SELECT {VALUE_COLUMNS} FROM value_log"  # noqa: S608
                  " ORDER BY notification_id, field, category", value_row),
    "disclosures": (f"SELECT {DISCLOSURE_COLUMNS} FROM disclosures"  # noqa: S608
                    " ORDER BY notification_id", disclosure_row),
    "retention_schedule": (f"SELECT {SCHEDULE_COLUMNS} FROM retention_schedule"  # noqa: S608
                           " ORDER BY subject_id, scope", schedule_row),
    "requests": (f"SELECT {REQUEST_COLUMNS} FROM requests ORDER BY subject_id, seq",  # noqa: S608
                 request_row),
    "ropa": (f"SELECT {ROPA_COLUMNS} FROM ropa"  # noqa: S608
             " ORDER BY purpose, kind, item, qualifier", ropa_row),
}
