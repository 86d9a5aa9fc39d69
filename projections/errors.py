"""What the projections raise: ids, event types and counts in messages, never a value."""

from __future__ import annotations

from ledger.errors import LedgerError


class ProjectionError(LedgerError, rule="projection-error"):
    """A projection store cannot be opened, read or written."""


class ProjectionFailed(ProjectionError, rule="projection-failed"):
    """An event could not be projected: the projector stops here and never skips it.

    ``index`` is the event's place in its batch, so the caller can commit the events
    before it and resume exactly at this one once the cause is fixed.
    """

    def __init__(self, notification_id: int, event_type: str, reason: str, index: int = 0):
        super().__init__(
            f"projection stopped at notification {notification_id} ({event_type}): {reason}; "
            "nothing after it was projected"
        )
        self.notification_id = notification_id
        self.event_type = event_type
        self.reason = reason
        self.index = index


class PositionMoved(ProjectionError, rule="position-moved"):
    """Another projector committed first; re-read the position and go on from there."""
