"""Legal deadlines of data subject requests (GDPR art. 12(3)).

A request is answered "without undue delay and in any event within one month of
receipt", extendable "by two further months where necessary"; the extension is an act
of its own (``RequestDeadlineExtended``), so the deadline is derived, never stored as
a fact. Months are calendar months, clamped to the end of a shorter month.
"""

from __future__ import annotations

from datetime import datetime

from ledger.domain.durations import Duration

BASE_MONTHS = 1


def request_due(requested_at: datetime, extended_months: int) -> datetime:
    """When the answer to a request received at ``requested_at`` is due."""
    return Duration(months=BASE_MONTHS + extended_months).after(requested_at)


def is_overdue(due_at: datetime, now: datetime) -> bool:
    return now > due_at
