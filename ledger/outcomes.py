"""What became of an act: the answer every backend gives, whichever way the act went.

On the embedded backend the act is applied in process; on Kafka it goes through the
intake topic and the shard's writer answers with the events it recorded or a
rejection. Either way the caller gets an ``ActOutcome`` whose events are summaries
of the stored events: their type and clear fields, never the sealed values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

Status = Literal["recorded", "duplicate", "rejected", "failed", "pending"]

# Fields of a stored event that hold sealed personal values: never in a summary.
_SEALED_FIELDS = frozenset({"values"})


@dataclass
class ActOutcome:
    act_id: str
    status: Status
    events: list[dict[str, Any]] = field(default_factory=list)  # type and clear fields
    rule: str | None = None
    reason: str | None = None


def event_summary(topic: str, state: bytes) -> dict[str, Any] | None:
    """A stored event's type and clear fields (tagged values unwrapped: a datetime as
    its ISO text); None if ``state`` is not a ledger event's JSON object."""
    try:
        document = orjson.loads(state)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    event_type = topic.rpartition(":")[2] or topic.rpartition(".")[2]
    return {"type": event_type, **{k: _plain(v) for k, v in document.items()
                                   if k not in _SEALED_FIELDS}}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return _plain(value["_data_"])
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
