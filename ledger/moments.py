"""One way to give a moment, for every option and entry point that takes one.

Accepted: RFC 3339 with an offset (``2025-03-01T09:00:00+01:00``, ``...Z``), or a bare
date (``2025-03-01``), which means the start or the end of that day in UTC, as the
option says: ``--now``/``--at`` take the start, ``--as-of``/``--known-at``/``--until``
the end (everything that happened that day is included).

Every moment the ledger accepts, from an option or as an act's ``occurred_at``, lies in
``[EARLIEST, LATEST)``: 1970-01-01T00:00:00Z up to, not including, 2200-01-01T00:00:00Z.
Nothing real happens outside it, and the bound keeps every date derived from an accepted
moment (deadlines, retention ends years later) far inside what a ``datetime`` can hold.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Literal

from ledger.errors import ConfigurationError

BareDate = Literal["start", "end"]
_DATE_LENGTH = len("2025-03-01")

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)  # excluded
ACCEPTED_RANGE = "1970-01-01T00:00:00Z up to (not including) 2200-01-01T00:00:00Z"


def in_range(moment: datetime) -> bool:
    """Whether ``moment`` (timezone-aware) lies in the accepted range."""
    # Aware datetimes compare by their UTC instant without converting, so a moment at
    # the very edge of what datetime holds (0001-01-01T00:30+01:00) cannot overflow here.
    return EARLIEST <= moment < LATEST


def check_in_range(moment: datetime, what: str) -> datetime:
    """``moment`` if it lies in the accepted range; else ``ConfigurationError`` naming
    ``what`` (an option or field name) and the range, never the moment itself."""
    if not in_range(moment):
        raise ConfigurationError(f"{what} lies outside the accepted range, {ACCEPTED_RANGE}")
    return moment


def parse_moment(text: str, *, bare_date: BareDate) -> datetime:
    """The moment ``text`` names; ``ConfigurationError`` says which forms are accepted."""
    text = text.strip()
    try:
        if len(text) == _DATE_LENGTH:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min if bare_date == "start" else time.max, UTC)
            return check_in_range(moment, "the date")
        moment = datetime.fromisoformat(text)
    except ValueError:
        # The text is not echoed: whatever was typed there may be personal.
        raise ConfigurationError(
            "not a date or moment; give RFC 3339 with an offset "
            "(2025-03-01T09:00:00+01:00) or a date (2025-03-01)") from None
    if moment.tzinfo is None:
        raise ConfigurationError("the moment needs a UTC offset, e.g. 2025-03-01T09:00:00+00:00")
    return check_in_range(moment, "the moment")
