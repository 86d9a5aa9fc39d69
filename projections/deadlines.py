"""Legal deadlines of data subject requests (GDPR art. 12(3)).

A request is answered "without undue delay and in any event within one month of
receipt", extendable "by two further months where necessary"; the extension is an act
of its own (``RequestDeadlineExtended``), so the deadline is derived, never stored as
a fact. Months are calendar months, clamped to the end of a shorter month.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from ledger.domain.durations import Duration

BASE_MONTHS = 1


def request_due(requested_at: datetime, extended_months: int,
                zone: tzinfo = UTC) -> datetime:
    """When the answer to a request received at ``requested_at`` is due: the same time
    of day, one month (plus extensions) later, counted on the calendar of ``zone`` (the
    jurisdiction's; a request received 1 May 00:30 in Amsterdam is due 1 June 00:30
    there, though it was still 30 April in UTC)."""
    try:
        local = requested_at.astimezone(zone)
    except (OverflowError, ValueError):
        local = requested_at
    return Duration(months=BASE_MONTHS + extended_months).after(local)


def request_due_of(request: dict[str, Any], zone: tzinfo) -> datetime:
    """The due moment of a request as the subject document records it."""
    months = sum(e["months"] for e in request["extensions"])
    return request_due(datetime.fromisoformat(request["at"]), months, zone)


def in_zones(moment: datetime | None, zone: tzinfo) -> dict[str, str | None]:
    """A deadline in the jurisdiction's zone and in UTC, for JSON beside ``due_at``."""
    if moment is None:
        return {"due_at_local": None, "due_at_utc": None}
    try:
        local = moment.astimezone(zone).isoformat()
    except (OverflowError, ValueError):  # the end of time: shown as it is
        local = moment.isoformat()
    return {"due_at_local": local, "due_at_utc": moment.astimezone(UTC).isoformat()}


def is_overdue(due_at: datetime, now: datetime) -> bool:
    return now > due_at
