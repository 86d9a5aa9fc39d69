"""The tables and statements both SQL adapters run, and the conversion of their rows.

SQLite and PostgreSQL differ here only in placeholders, how ids and timestamps are
stored (16-byte blobs and UTC text in SQLite; ``uuid`` and ``timestamptz`` in
PostgreSQL), column type names and a few function names, so one ``Dialect`` covers
both and the contract tests hold them to the same results. Every statement is a
constant text per dialect (with parameters), so both drivers can keep them prepared.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
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
_Row = TypeVar("_Row")


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
    types: Mapping[str, str]  # the column types of ``create_statements`` by kind, and
    # ``without_rowid``: SQLite's clause for tables keyed on their primary key alone

    def q(self, text: str) -> str:
        """``text`` with ``?`` placeholders in this dialect's style."""
        return text if self.param == "?" else text.replace("?", self.param)

    def opt_uuid(self, value: Any) -> UUID | None:
        return None if value is None else self.uuid_out(value)

    def opt_time(self, value: Any) -> datetime | None:
        return None if value is None else self.time_out(value)

    def opt_time_in(self, moment: datetime | None) -> Any:
        return None if moment is None else self.time_in(moment)


# The tables, with column types by kind: {uuid} {int} {text} {time} {bytes}.
_DDL = """
CREATE TABLE IF NOT EXISTS projection_meta (
    name {text} PRIMARY KEY, value {int} NOT NULL){without_rowid};
CREATE TABLE IF NOT EXISTS subjects (
    subject_id {uuid} PRIMARY KEY, version {int} NOT NULL,
    notification_id {int} NOT NULL, doc {bytes} NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    notification_id {int} PRIMARY KEY, subject_id {uuid}, version {int} NOT NULL,
    event_type {text} NOT NULL, topic {text} NOT NULL, act_id {text} NOT NULL,
    actor {text} NOT NULL, policy_version {text} NOT NULL, occurred_at {time} NOT NULL,
    recorded_at {time} NOT NULL, detail {bytes} NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit (subject_id, notification_id);
CREATE TABLE IF NOT EXISTS value_log (
    notification_id {int} NOT NULL, subject_id {uuid} NOT NULL, version {int} NOT NULL,
    field {text} NOT NULL, category {text} NOT NULL, purpose {text} NOT NULL,
    scope {text} NOT NULL, key_id {uuid} NOT NULL, blob {bytes} NOT NULL,
    event_type {text} NOT NULL, act_id {text} NOT NULL, occurred_at {time},
    PRIMARY KEY (notification_id, field, category));
CREATE INDEX IF NOT EXISTS value_log_by_subject ON value_log (subject_id, notification_id);
CREATE TABLE IF NOT EXISTS disclosures (
    notification_id {int} NOT NULL, subject_id {uuid} NOT NULL, recipient {text} NOT NULL,
    recipient_kind {text} NOT NULL, purpose {text} NOT NULL, ground {text} NOT NULL,
    categories {text} NOT NULL, act_id {text} NOT NULL, occurred_at {time} NOT NULL,
    PRIMARY KEY (notification_id, purpose));
CREATE INDEX IF NOT EXISTS disclosures_by_recipient
    ON disclosures (recipient, subject_id, notification_id);
CREATE INDEX IF NOT EXISTS disclosures_by_subject ON disclosures (subject_id, notification_id);
CREATE TABLE IF NOT EXISTS retention_schedule (
    subject_id {uuid} NOT NULL, scope {text} NOT NULL, due_at {time}, holds {text} NOT NULL,
    PRIMARY KEY (subject_id, scope)){without_rowid};
CREATE INDEX IF NOT EXISTS retention_by_due ON retention_schedule (due_at);
CREATE TABLE IF NOT EXISTS requests (
    subject_id {uuid} NOT NULL, seq {int} NOT NULL, request_ref {text} NOT NULL,
    kind {text} NOT NULL, channel {text} NOT NULL, act_id {text} NOT NULL,
    requested_at {time} NOT NULL, due_at {time} NOT NULL, extended_months {int} NOT NULL,
    reasons {text} NOT NULL, status {text} NOT NULL, closed_at {time}, forwarded_to {text},
    PRIMARY KEY (subject_id, seq)){without_rowid};
CREATE INDEX IF NOT EXISTS requests_by_status_due ON requests (status, due_at);
CREATE TABLE IF NOT EXISTS ropa (
    purpose {text} NOT NULL, kind {text} NOT NULL, item {text} NOT NULL,
    qualifier {text} NOT NULL, acts {int} NOT NULL, first_at {time} NOT NULL,
    last_at {time} NOT NULL, PRIMARY KEY (purpose, kind, item, qualifier)){without_rowid};
INSERT INTO projection_meta (name, value) VALUES ('position', 0) ON CONFLICT DO NOTHING
"""


def create_statements(d: Dialect) -> list[str]:
    """The DDL, one statement each; ``projection_meta`` (with the schema version) first."""
    return [s for s in _DDL.format_map(d.types).split(";") if s.strip()]


AUDIT_COLUMNS = ("notification_id, subject_id, version, event_type, topic, act_id, actor,"
                 " policy_version, occurred_at, recorded_at, detail")
VALUE_COLUMNS = ("notification_id, subject_id, version, field, category, purpose, scope,"
                 " key_id, blob, event_type, act_id, occurred_at")
DISCLOSURE_COLUMNS = ("notification_id, subject_id, recipient, recipient_kind, purpose,"
                      " ground, categories, act_id, occurred_at")
SCHEDULE_COLUMNS = "subject_id, scope, due_at, holds"
REQUEST_COLUMNS = ("subject_id, seq, request_ref, kind, channel, act_id, requested_at,"
                   " due_at, extended_months, reasons, status, closed_at, forwarded_to")
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
             d.opt_time_in(v.occurred_at))
            for v in changes.values]
    if changes.disclosures:
        yield d.q(_INSERT_DISCLOSURE), [
            (x.notification_id, d.uuid_in(x.subject_id), x.recipient, x.recipient_kind,
             x.purpose, x.ground, json.dumps(list(x.categories)), x.act_id,
             d.time_in(x.occurred_at)) for x in changes.disclosures]
    if changes.schedules:
        yield from _replace_per_subject(d, "retention_schedule", _INSERT_SCHEDULE,
                                        changes.schedules, lambda r: (
            d.uuid_in(r.subject_id), r.scope, d.opt_time_in(r.due_at),
            json.dumps(list(r.holds))))
    if changes.requests:
        yield from _replace_per_subject(d, "requests", _INSERT_REQUEST,
                                        changes.requests, lambda r: (
            d.uuid_in(r.subject_id), r.seq, r.request_ref, r.kind, r.channel, r.act_id,
            d.time_in(r.requested_at), d.time_in(r.due_at), r.extended_months,
            json.dumps(list(r.reasons)), r.status, d.opt_time_in(r.closed_at),
            r.forwarded_to))
    if changes.ropa:
        yield d.q(_upsert_ropa(d)), [
            (k.purpose, k.kind, k.item, k.qualifier, c.acts, d.time_in(c.first_at),
             d.time_in(c.last_at)) for k, c in sorted(changes.ropa.items(), key=_ropa_order)]
    yield d.q("UPDATE projection_meta SET value = ? WHERE name = 'position'"), [
        (changes.position,)]


def _replace_per_subject(
    d: Dialect, table: str, insert: str, by_subject: Mapping[UUID, Sequence[_Row]],
    params: Callable[[_Row], Params],
) -> Iterator[tuple[str, list[Params]]]:
    # Derived per subject: the touched subjects' rows are replaced as a whole.
    subjects = sorted(by_subject)
    yield d.q(f"DELETE FROM {table} WHERE subject_id = ?"), [  # noqa: S608 - constant names
        (d.uuid_in(s),) for s in subjects]
    rows = [row for s in subjects for row in by_subject[s]]
    if rows:
        yield d.q(insert), [params(row) for row in rows]


def _ropa_order(item: tuple[RopaKey, RopaCount]) -> RopaKey:
    return item[0]


# -- reads -------------------------------------------------------------------------------

def audit_query(
    d: Dialect, *, subject_id: UUID | None, occurred_until: datetime | None,
    recorded_until: datetime | None, after: int, limit: int | None,
) -> tuple[str, Params]:
    where = _Where(d)
    where.add("notification_id > ?", after)
    where.subject(subject_id)
    if occurred_until is not None:
        where.add("occurred_at <= ?", d.time_in(occurred_until))
    if recorded_until is not None:
        where.add("recorded_at <= ?", d.time_in(recorded_until))
    select = f"SELECT {AUDIT_COLUMNS} FROM audit"  # noqa: S608 - constant fragments
    text, params = where.query(select, "notification_id")
    if limit is None:
        return text, params
    return text + d.q(" LIMIT ?"), (*params, limit)


class _Where:
    """The clauses of a filtered read and their parameters, in order."""

    def __init__(self, d: Dialect) -> None:
        self.d = d
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def subject(self, subject_id: UUID | None) -> None:
        if subject_id is not None:
            self.add("subject_id = ?", self.d.uuid_in(subject_id))

    def query(self, select: str, order: str) -> tuple[str, Params]:
        where = f" WHERE {' AND '.join(self.clauses)}" if self.clauses else ""
        return self.d.q(f"{select}{where} ORDER BY {order}"), tuple(self.params)


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
                      d.opt_time(r[11]), r[12])


def ropa_row(d: Dialect, r: Params) -> RopaRow:
    return RopaRow(RopaKey(r[0], r[1], r[2], r[3]),
                   RopaCount(r[4], d.time_out(r[5]), d.time_out(r[6])))


def subject_row(d: Dialect, r: Params) -> SubjectRow:
    return SubjectRow(d.uuid_out(r[0]), r[1], r[2], bytes(r[3]))


def disclosure_query(d: Dialect, recipient: str | None,
                     subject_id: UUID | None) -> tuple[str, Params]:
    where = _Where(d)
    if recipient is not None:
        where.add("recipient = ?", recipient)
    where.subject(subject_id)
    return where.query(f"SELECT {DISCLOSURE_COLUMNS} FROM disclosures",  # noqa: S608
                       "recipient, subject_id, notification_id")


def schedule_query(d: Dialect, until: datetime | None, subject_id: UUID | None,
                   include_untriggered: bool) -> tuple[str, Params]:
    where = _Where(d)
    if until is not None:
        where.add("(due_at <= ? OR due_at IS NULL)" if include_untriggered else "due_at <= ?",
                  d.time_in(until))
    elif not include_untriggered:
        where.add("due_at IS NOT NULL")
    where.subject(subject_id)
    return where.query(f"SELECT {SCHEDULE_COLUMNS} FROM retention_schedule",  # noqa: S608
                       f"{d.due_order}, subject_id, scope")


def request_query(d: Dialect, open_only: bool,
                  subject_id: UUID | None) -> tuple[str, Params]:
    where = _Where(d)
    if open_only:  # what the queue shows: open requests, and those we passed on
        where.add("status IN ('open', 'forwarded')")
    where.subject(subject_id)
    return where.query(f"SELECT {REQUEST_COLUMNS} FROM requests",  # noqa: S608
                       "due_at, subject_id, seq")


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
