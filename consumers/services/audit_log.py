"""The verifiable log's use cases: verify it, hand out its checkpoints, prove a subject's
events for an export, check an export offline.

``AuditedLog`` is the port: the embedded store
(``ledger.persistence.sqlite_audited.EmbeddedAuditLog``) and the Kafka topics
(``ledger.kafka.audit_log.KafkaAuditLog``) read their shards back through it, raw: the
events as stored, never through the application or the projections, so what is
verified is what is stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import orjson

from ledger.audit.checkpoint import Checkpoint, SignedCheckpoint
from ledger.audit.errors import AuditError
from ledger.audit.evidence import subject_proofs
from ledger.audit.signing_keys import TrustedKeys
from ledger.audit.verify import LeafRecord, ShardReport, ShardVerifier, StoredTree
from ledger.errors import ConfigurationError

CHECKPOINTS_FORMAT = "personal-data-ledger/checkpoints/v1"
# shard, events read so far, events the shard holds (about), events/s so far
Progress = Callable[[int, int, int, float], None]
_PROGRESS_EVERY = 5000


class AuditedLog(Protocol):
    def shards(self) -> list[int]: ...

    def shard_of(self, subject_id: UUID) -> int: ...

    def origin(self, shard: int) -> str: ...

    def stored_tree(self, shard: int) -> StoredTree: ...

    def checkpoints(self, shard: int) -> list[str]: ...

    def latest_checkpoint(self, shard: int) -> str | None: ...

    def size_hint(self, shard: int) -> int: ...

    def records(self, shard: int) -> Iterator[LeafRecord]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Verification:
    shards: tuple[ShardReport, ...]
    refused: tuple[str, ...]  # given checkpoints that prove nothing here, and why
    events: int
    seconds: float

    @property
    def intact(self) -> bool:
        return not self.refused and all(report.intact for report in self.shards)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"intact": self.intact, "events": self.events,
                "seconds": round(self.seconds, 3),
                "events_per_second": round(self.events_per_second),
                "shards": [report.to_json() for report in self.shards],
                "refused_checkpoints": list(self.refused)}


def read_checkpoint_file(path: Path) -> list[str]:
    """Signed checkpoints from a file: ``ledger audit checkpoint --out``'s JSON, an
    export (its ``log_proofs``), or one signed note as it is."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"no checkpoint file at {path}") from None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return [data.decode("utf-8", "replace")]
    if isinstance(document, dict) and isinstance(document.get("log_proofs"), dict):
        document = document["log_proofs"]
    notes = document.get("checkpoints") if isinstance(document, dict) else None
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes) or not notes:
        raise ConfigurationError(f"{path} holds no signed checkpoints (give the file "
                                 "`ledger audit checkpoint --out` wrote, or an export)")
    return notes


def checkpoints_document(notes: Sequence[str]) -> dict[str, Any]:
    return {"format": CHECKPOINTS_FORMAT, "checkpoints": list(notes)}


def verify_log(log: AuditedLog, keys: TrustedKeys, *, earlier: Sequence[str] = (),
               progress: Progress | None = None) -> Verification:
    """Recomputes every shard's tree from its stored events, checks every stored
    checkpoint against it, and proves each ``earlier`` checkpoint (an auditor's) is
    extended by today's log (RFC 9162 consistency proofs)."""
    started = time.monotonic()
    by_origin: dict[str, list[Checkpoint]] = {}
    refused: list[str] = []
    for note in earlier:
        try:
            checkpoint = SignedCheckpoint.parse(note).verify(keys)
        except AuditError as error:
            refused.append(f"a checkpoint you gave: {error}")
            continue
        by_origin.setdefault(checkpoint.origin, []).append(checkpoint)
    reports = []
    total = 0
    for shard in log.shards():
        origin = log.origin(shard)
        stored = log.stored_tree(shard)
        verifier = ShardVerifier(shard, origin, log.checkpoints(shard), keys,
                                 earlier=by_origin.pop(origin, []), stored=stored)
        hint = log.size_hint(shard) if progress is not None else 0
        for count, record in enumerate(log.records(shard), start=1):
            verifier.add(record)
            if progress is not None and count % _PROGRESS_EVERY == 0:
                progress(shard, count, hint, (total + count) / max(
                    time.monotonic() - started, 1e-9))
        report = verifier.finish()
        total += report.events
        reports.append(report)
    refused += [f"a checkpoint you gave is of {origin}, not of this ledger"
                for origin in by_origin]
    return Verification(tuple(reports), tuple(refused), total, time.monotonic() - started)


def latest_checkpoints(log: AuditedLog) -> list[str]:
    """The latest signed checkpoint of each shard (shards never signed are left out)."""
    return [note for note in (log.latest_checkpoint(s) for s in log.shards())
            if note is not None]


def subject_log_proofs(log: AuditedLog, subject_id: UUID) -> dict[str, Any]:
    """The ``log_proofs`` of an export: the subject's events in its shard, each with an
    inclusion proof against the shard's latest checkpoint."""
    shard = log.shard_of(subject_id)
    note = log.latest_checkpoint(shard)
    return {"shard": shard, **subject_proofs(note, log.records(shard), str(subject_id))}
