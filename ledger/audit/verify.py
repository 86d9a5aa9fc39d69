"""Verify one shard's log as stored: recompute its tree, hold it against every stored
checkpoint, and, given checkpoints an auditor kept, prove that today's log extends them.

The store (the embedded SQLite file, a Kafka partition) is read by its adapter, which
feeds ``ShardVerifier.add`` one ``LeafRecord`` per stored event in stored order. The
signed roots are the proof; the sequence numbers stored with the events (and, on the
embedded store, the leaf hash recorded when each event was written) only *name* what
went wrong (``ledger.audit.replay``). Every problem names the shard (the checkpoint
origin), the sequence numbers and what failed, never an event's content:

- ``changed``: an event differs from what was signed (or, on the embedded store, from
  the leaf recorded when it was written: then the very sequence is named);
- ``missing``: a sequence number never seen;
- ``inserted``: an event without a sequence number (the ledger never appended it), a
  sequence seen twice, or sequences beyond the tree the writer recorded;
- ``reordered``: a sequence seen after a later one;
- ``truncated``: the log starts past sequence 0, or ends before what was signed or
  what the writer's tree records;
- ``forked``: today's log does not extend a checkpoint signed earlier (an RFC 9162
  consistency proof fails), or two checkpoints sign different roots at one size;
- ``bad-signature``: a stored checkpoint no trusted key signed (altered, forged, of
  another log). One signed only by a *retired* key is set aside and listed, not failed:
  retiring a key is the operator's statement that it proves nothing any more.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ledger.audit.checkpoint import Checkpoint, SignedCheckpoint
from ledger.audit.errors import CheckpointMalformed, CheckpointRefused
from ledger.audit.frontier import Frontier
from ledger.audit.leaves import EventLeaf
from ledger.audit.merkle import consistency_proof
from ledger.audit.proofs import Consistency, check_consistency
from ledger.audit.replay import FindingKind, LogReplay
from ledger.audit.signing_keys import TrustedKeys

MAX_PROBLEMS = 100  # per shard, listed in full; the rest are counted


class ProblemKind(StrEnum):
    CHANGED = "changed"
    MISSING = "missing"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    FORKED = "forked"
    BAD_SIGNATURE = "bad-signature"


@dataclass(frozen=True)
class Problem:
    """What failed, at which sequences (``first``..``last``; None: no sequence to name)."""

    kind: ProblemKind
    first: int | None
    last: int | None
    detail: str

    def where(self) -> str:
        if self.first is None or self.last is None:
            return ""
        if self.first == self.last:
            return f"sequence {self.first}"
        return f"sequences {self.first}-{self.last}"

    def __str__(self) -> str:
        where = self.where()
        return f"{self.kind}: {where + ': ' if where else ''}{self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "first": self.first, "last": self.last,
                "detail": self.detail}


@dataclass(frozen=True)
class LeafRecord:
    """One stored event, as its store holds it. ``sequence`` is the number stored with
    it (None: it carries none); ``where`` names its place in the store (a notification
    id, an offset); ``recorded_leaf`` is the leaf hash the writer recorded for it, where
    the store keeps one."""

    sequence: int | None
    originator_id: str
    originator_version: int
    topic: str
    state: bytes = field(repr=False)
    where: str = ""
    recorded_leaf: bytes | None = None

    def event_leaf(self, sequence: int) -> EventLeaf:
        return EventLeaf(sequence, self.originator_id, self.originator_version, self.topic,
                         self.state)


@dataclass(frozen=True)
class StoredTree:
    """What a store says about its own tree, beside its events: the writer's frontier
    (None: none kept), how many leaves it says it appended, whether that was read in one
    snapshot with the events (``exact``), and what its adapter found wrong on its own
    (a Kafka partition whose start was deleted)."""

    frontier: Frontier | None
    expected_size: int
    exact: bool = False
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class ConsistencyResult:
    """An auditor's earlier checkpoint against today's log."""

    checkpoint: Checkpoint
    outcome: Consistency
    proof: tuple[bytes, ...]

    def describe(self) -> str:
        old = self.checkpoint
        if self.outcome is Consistency.EXTENDS:
            return (f"extends the checkpoint of size {old.size} you gave (RFC 9162 "
                    f"consistency proof of {len(self.proof)} hashes verified)")
        if self.outcome is Consistency.TRUNCATED:
            return f"holds fewer events than the checkpoint of size {old.size} you gave"
        return f"does not extend the checkpoint of size {old.size} you gave: forked"

    def to_json(self) -> dict[str, Any]:
        return {"size": self.checkpoint.size, "root": self.checkpoint.root.hex(),
                "outcome": str(self.outcome), "proof": [p.hex() for p in self.proof]}


@dataclass(frozen=True)
class ShardReport:
    shard: int
    origin: str
    events: int  # stored events read
    size: int  # leaves of the recomputed tree
    root: bytes
    checkpoints: int  # stored checkpoints whose signature verified
    latest_signed: int | None  # the largest size a verified checkpoint signed
    set_aside: tuple[str, ...]  # checkpoints signed only by retired keys
    problems: tuple[Problem, ...]
    unlisted: int  # problems beyond MAX_PROBLEMS
    consistency: tuple[ConsistencyResult, ...]

    @property
    def intact(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"shard": self.shard, "origin": self.origin, "intact": self.intact,
                "events": self.events, "size": self.size, "root": self.root.hex(),
                "checkpoints_verified": self.checkpoints,
                "latest_signed_size": self.latest_signed,
                "set_aside": list(self.set_aside),
                "problems": [p.to_json() for p in self.problems],
                "unlisted_problems": self.unlisted,
                "consistency": [c.to_json() for c in self.consistency]}


class ShardVerifier:
    """Feed a shard's stored events in stored order (``add``), then ``finish``.

    ``notes``: the signed checkpoints stored for the shard. ``earlier``: checkpoints an
    auditor kept, already opened with their trusted keys, of this shard. ``stored``:
    what the store says of its tree (the larger of its frontier's size and its expected
    size is what the log must hold; read in one snapshot with the events, more than
    that were appended behind the writer's back).
    """

    def __init__(self, shard: int, origin: str, notes: Iterable[str], keys: TrustedKeys, *,
                 earlier: Sequence[Checkpoint] = (),
                 stored: StoredTree | None = None) -> None:
        self.shard = shard
        self.origin = origin
        self._problems: list[Problem] = list(stored.problems) if stored is not None else []
        self._unlisted = 0
        self._set_aside: list[str] = []
        self._signed: dict[int, bytes] = {}
        self._open_checkpoints(notes, keys)
        self._replay = LogReplay(origin, self._signed)
        self._earlier = tuple(earlier)
        self._stored = stored.frontier if stored is not None else None
        self._expected = 0 if stored is None else max(
            stored.expected_size, stored.frontier.size if stored.frontier is not None else 0)
        self._exact = stored is not None and stored.exact
        self._frontier = Frontier()
        self._stored_root_seen: bytes | None = None
        self._leaves: list[bytes] | None = [] if self._earlier else None
        self._changed: dict[int, str] = {}  # sequence -> where, of leaves not as recorded
        self._events = 0
        self._last_sequence: int | None = None
        self._reached = 0  # one past the largest sequence seen

    # -- the stored checkpoints -------------------------------------------------------

    def _open_checkpoints(self, notes: Iterable[str], keys: TrustedKeys) -> None:
        retired = {(k.name, k.key_id) for k in keys.retired}
        self._verified = 0
        for note in notes:
            try:
                signed = SignedCheckpoint.parse(note)
            except CheckpointMalformed as error:
                self._problem(ProblemKind.BAD_SIGNATURE, None, None,
                              f"a stored checkpoint is malformed ({error})")
                continue
            size = signed.checkpoint.size
            try:
                checkpoint = signed.verify(keys, origin=self.origin)
            except CheckpointRefused as error:
                signers = {(s.name, s.key_id) for s in signed.note.signatures}
                if signed.checkpoint.origin == self.origin and signers <= retired:
                    self._set_aside.append(f"the checkpoint at size {size}: signed only by "
                                           "a retired key")
                else:
                    self._problem(ProblemKind.BAD_SIGNATURE, None, None,
                                  f"the checkpoint at size {size}: {error}")
                continue
            self._verified += 1
            known = self._signed.get(size)
            if known is not None and not hmac.compare_digest(known, checkpoint.root):
                self._problem(ProblemKind.FORKED, None, None,
                              f"two checkpoints sign different roots at size {size}: the "
                              "log was rewritten and signed again")
                continue
            self._signed[size] = checkpoint.root

    # -- the stored events ------------------------------------------------------------

    def add(self, record: LeafRecord) -> None:
        self._events += 1
        sequence = record.sequence
        if sequence is None:
            after = ("before any sequenced event" if self._last_sequence is None
                     else f"after sequence {self._last_sequence}")
            self._problem(ProblemKind.INSERTED, None, None,
                          f"the event at {record.where} ({after}) carries no sequence "
                          "number: the ledger never appended it")
            return
        leaf = record.event_leaf(sequence).leaf_hash()
        if record.recorded_leaf is not None and not hmac.compare_digest(
                record.recorded_leaf, leaf):
            self._changed.setdefault(sequence, record.where)
        self._replay.add(leaf, sequence)
        self._frontier.append(leaf)
        if self._leaves is not None:
            self._leaves.append(leaf)
        if self._stored is not None and self._frontier.size == self._stored.size:
            self._stored_root_seen = self._frontier.root()
        self._last_sequence = sequence
        self._reached = max(self._reached, sequence + 1)

    def finish(self) -> ShardReport:
        report = self._replay.finish()
        mismatch = report.root_mismatch
        placed: set[int] = set()
        for finding in report.findings:
            if finding.kind is FindingKind.CHANGED:
                hits = sorted(s for s in self._changed if finding.first <= s <= finding.last)
                for sequence in hits:
                    placed.add(sequence)
                    self._problem(ProblemKind.CHANGED, sequence, sequence,
                                  f"the event at {self._changed[sequence]} is not the one "
                                  f"appended at this sequence; {finding.detail}")
                if hits:
                    continue
            self._problem(ProblemKind(str(finding.kind)), finding.first, finding.last,
                          finding.detail)
        for sequence in sorted(set(self._changed) - placed):
            self._problem(ProblemKind.CHANGED, sequence, sequence,
                          f"the event at {self._changed[sequence]} is not the one appended "
                          "at this sequence (its recorded leaf differs)")
        if mismatch is not None and not report.findings and not self._changed:
            self._problem(ProblemKind.CHANGED, None, None,
                          f"the root signed at size {mismatch.size} is not the log's")
        unlisted = report.unlisted_findings
        self._check_stored_tree(report.findings == ())
        consistency = tuple(self._consistency(old) for old in self._earlier)
        return ShardReport(
            self.shard, self.origin, self._events, report.size, report.root,
            self._verified, max(self._signed, default=None), tuple(self._set_aside),
            tuple(self._problems), self._unlisted + unlisted, consistency)

    def _check_stored_tree(self, quiet: bool) -> None:
        reached = self._reached
        named = {(p.kind, p.first) for p in self._problems}
        if self._expected > reached:
            if not any(p.kind in (ProblemKind.TRUNCATED, ProblemKind.MISSING)
                       and p.first is not None and p.last is not None
                       and p.first <= reached <= p.last for p in self._problems):
                self._problem(ProblemKind.TRUNCATED, reached, self._expected - 1,
                              f"the writer appended {self._expected} events; the log "
                              f"ends at sequence {reached - 1}")
        elif self._exact and reached > self._expected and (
                (ProblemKind.INSERTED, self._expected) not in named):
            self._problem(ProblemKind.INSERTED, self._expected, reached - 1,
                          f"sequences beyond the {self._expected} events the writer "
                          "appended")
        stored, seen = self._stored, self._stored_root_seen
        if (quiet and not self._problems and stored is not None and seen is not None
                and not hmac.compare_digest(seen, stored.root())):
            self._problem(ProblemKind.CHANGED, None, None,
                          f"the tree the writer keeps at size {stored.size} is not the "
                          "log's")

    def _consistency(self, old: Checkpoint) -> ConsistencyResult:
        size, root = self._frontier.size, self._frontier.root()
        today = Checkpoint(self.origin, size, root)
        if old.size > size:
            result = ConsistencyResult(old, Consistency.TRUNCATED, ())
            self._problem(ProblemKind.TRUNCATED, size, old.size - 1,
                          f"the log holds {size} events; the checkpoint you gave signed "
                          f"{old.size}")
            return result
        leaves = self._leaves if self._leaves is not None else []
        proof = tuple(consistency_proof(old.size, leaves))
        verdict = check_consistency(old, today, proof)
        if verdict.outcome is Consistency.FORKED:
            signed = old.timestamp
            when = f", signed {signed:%Y-%m-%dT%H:%M:%SZ}" if signed is not None else ""
            self._problem(ProblemKind.FORKED, None, None,
                          f"the log does not extend the checkpoint of size {old.size} you "
                          f"gave (root {old.root.hex()[:16]}{when}): history before "
                          f"sequence {old.size} was rewritten")
        return ConsistencyResult(old, verdict.outcome, proof)

    def _problem(self, kind: ProblemKind, first: int | None, last: int | None,
                 detail: str) -> None:
        if len(self._problems) < MAX_PROBLEMS:
            self._problems.append(Problem(kind, first, last, detail))
        else:
            self._unlisted += 1
