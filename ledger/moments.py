"""One way to give a moment, for every option and entry point that takes one.

Accepted: RFC 3339 with an offset (``2025-03-01T09:00:00+01:00``, ``...Z``), or a bare
date (``2025-03-01``), which means the start or the end of that day in UTC, as the
option says: ``--now``/``--at`` take the start, ``--as-of``/``--known-at``/``--until``
the end (everything that happened that day is included).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Literal

from ledger.errors import ConfigurationError

BareDate = Literal["start", "end"]
_DATE_LENGTH = len("2025-03-01")


def parse_moment(text: str, *, bare_date: BareDate) -> datetime:
    """The moment ``text`` names; ``ConfigurationError`` says which forms are accepted."""
    text = text.strip()
    try:
        if len(text) == _DATE_LENGTH:
            day = date.fromisoformat(text)
            return datetime.combine(day, time.min if bare_date == "start" else time.max, UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(
            f"not a date or moment: {text!r}; give RFC 3339 with an offset "
            "(2025-03-01T09:00:00+01:00) or a date (2025-03-01)") from None
    if moment.tzinfo is None:
        raise ConfigurationError(f"{text!r} needs a UTC offset, e.g. {text}+00:00")
    return moment
