"""The read queries both projection stores share; each store supplies its dialect and
how it runs a query (``_fetch``)."""

from __future__ import annotations

from dataclasses import astuple
from datetime import datetime
from uuid import UUID

from projections import sql
from projections.rows import AuditRow, DisclosureRow, RequestRow, RopaRow, ScheduleRow, ValueRow


class StoreReads:
    dialect: sql.Dialect

    def _fetch(self, text: str, params: sql.Params, what: str = "read") -> list[sql.Params]:
        raise NotImplementedError

    def subject_doc(self, subject_id: UUID) -> bytes | None:
        d = self.dialect
        rows = self._fetch(d.q("SELECT doc FROM subjects WHERE subject_id = ?"),
                           (d.uuid_in(subject_id),), "read a subject")
        return bytes(rows[0][0]) if rows else None

    def subject_count(self) -> int:
        rows = self._fetch("SELECT count(*) FROM subjects", (), "count subjects")
        return int(rows[0][0]) if rows else 0

    def audit_rows(
        self, *, subject_id: UUID | None = None, occurred_until: datetime | None = None,
        recorded_until: datetime | None = None, after: int = 0, limit: int | None = None,
    ) -> list[AuditRow]:
        text, params = sql.audit_query(self.dialect, subject_id=subject_id,
                                       occurred_until=occurred_until,
                                       recorded_until=recorded_until, after=after, limit=limit)
        return [sql.audit_row(self.dialect, r) for r in self._fetch(text, params)]

    def value_rows(self, subject_id: UUID) -> list[ValueRow]:
        text = self.dialect.q(f"SELECT {sql.VALUE_COLUMNS} FROM value_log"  # noqa: S608
                              " WHERE subject_id = ? ORDER BY notification_id, field, category")
        rows = self._fetch(text, (self.dialect.uuid_in(subject_id),))
        return [sql.value_row(self.dialect, r) for r in rows]

    def disclosure_rows(
        self, *, recipient: str | None = None, subject_id: UUID | None = None
    ) -> list[DisclosureRow]:
        text, params = sql.disclosure_query(self.dialect, recipient, subject_id)
        return [sql.disclosure_row(self.dialect, r) for r in self._fetch(text, params)]

    def schedule_rows(
        self, *, until: datetime | None = None, subject_id: UUID | None = None,
        include_untriggered: bool = True,
    ) -> list[ScheduleRow]:
        text, params = sql.schedule_query(self.dialect, until, subject_id, include_untriggered)
        return [sql.schedule_row(self.dialect, r) for r in self._fetch(text, params)]

    def request_rows(
        self, *, open_only: bool = True, subject_id: UUID | None = None
    ) -> list[RequestRow]:
        text, params = sql.request_query(self.dialect, open_only, subject_id)
        return [sql.request_row(self.dialect, r) for r in self._fetch(text, params)]

    def ropa_rows(self) -> list[RopaRow]:
        text = sql.SNAPSHOT_QUERIES["ropa"][0]
        return [sql.ropa_row(self.dialect, r) for r in self._fetch(text, ())]

    def snapshot(self) -> dict[str, list[tuple[object, ...]]]:
        return {
            table: [astuple(convert(self.dialect, r))  # type: ignore[call-overload]
                    for r in self._fetch(text, ())]
            for table, (text, convert) in sql.SNAPSHOT_QUERIES.items()
        }
