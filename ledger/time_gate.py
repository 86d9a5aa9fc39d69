"""The gate on time every act the application records passes: when it says it happened.

The log cannot be edited, so a date that gets in stays forever: one in year 9999 made
every derived deadline overflow, and one dated ahead would let deadlines and retention
run early. An act's ``occurred_at`` must lie in the accepted range (``ledger.moments``)
and at most ``max_future_skew`` past the wall clock (upstream clocks drift a little).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ledger.domain.acts import ActContext
from ledger.errors import InvalidAct, PolicyViolation
from ledger.moments import ACCEPTED_RANGE, in_range

DEFAULT_MAX_FUTURE_SKEW = timedelta(minutes=5)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TimeGate:
    max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW
    clock: Callable[[], datetime] = field(default=utc_now)

    def check(self, act: ActContext) -> None:
        """Refuses ``act`` if it claims a time the ledger must not accept; it names the
        act id, the range or the allowed skew, never the moment given."""
        if not in_range(act.occurred_at):
            raise InvalidAct(f"outside the accepted range, {ACCEPTED_RANGE}",
                             field="occurred_at", act_id=act.act_id)
        if act.occurred_at > self.clock() + self.max_future_skew:
            raise PolicyViolation(
                "occurred-in-future",
                f"act {act.act_id} occurred later than the ledger's clock allows (at most "
                f"{_seconds(self.max_future_skew)} seconds ahead)")


def _seconds(span: timedelta) -> str:
    return f"{span.total_seconds():g}"
