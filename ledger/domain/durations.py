"""Calendar durations (ISO 8601 ``PnYnMnWnD``) as retention law states them.

Retention is counted in calendar years and months ("7 jaar"), which ``timedelta`` cannot
express, so a small value type does it; adding one clamps to the last day of a month.

Every date the ledger derives (deadlines, retention ends) is a duration after a moment,
and saturates at ``END_OF_TIME`` instead of overflowing: a derived date is read on every
projection of every subject, so one that raised would stop them all, for good.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

_PATTERN = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")

# What a derived date past it becomes: "never, in practice". The start of the last day a
# datetime holds, not datetime.max, so that it stays representable in every time zone
# (a store or a PostgreSQL session that converts it to local time cannot overflow).
END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True, order=True)
class Duration:
    years: int = 0
    months: int = 0
    days: int = 0

    def __str__(self) -> str:
        parts = [f"{n}{u}" for n, u in ((self.years, "Y"), (self.months, "M"),
                                         (self.days, "D")) if n]
        return "P" + ("".join(parts) or "0D")

    def after(self, moment: datetime) -> datetime:
        """The moment this duration after ``moment``, in calendar terms; ``END_OF_TIME``
        if that would lie past it (never an OverflowError)."""
        try:
            shifted = add_months(moment.date(), self.years * 12 + self.months)
            later = datetime.combine(shifted, moment.timetz()) + timedelta(days=self.days)
        except (OverflowError, ValueError):  # past year 9999: date() refuses, + overflows
            return END_OF_TIME
        return min(later, END_OF_TIME)


def parse_duration(text: str) -> Duration:
    match = _PATTERN.match(text)
    if not match or text == "P":
        raise ValueError(f"not an ISO 8601 duration of years/months/weeks/days: {text!r}")
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    return Duration(years=years, months=months, days=weeks * 7 + days)


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))

