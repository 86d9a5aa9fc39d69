"""The read queries both projection stores share; each store supplies its dialect and
how it runs a query (``_fetch``)."""

from __future__ import annotations

from dataclasses import astuple
from datetime import datetime
from uuid import UUID

from projections import sql
from projections.rows import DisclosureRow, RequestRow, RopaRow, ScheduleRow


class StoreReads:
    dialect: sql.Dialect

    def _fetch(self, text: str, params: sql.Params) -> list[sql.Params]:
        raise NotImplementedError

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
