"""What an auditor checks offline, with nothing but verifier public keys.

- **An export's proofs** (``ExportProofs``, for ``ledger audit verify-export``): per
  listed event, the leaf's non-secret parts, an inclusion proof and the signed
  checkpoint it leads to. Verified, this shows each listed event is in the signed log
  exactly as summarised; it does not show that no event is missing (only replaying the
  whole log against its checkpoints does).
- **Consistency** (``check_consistency``): an old checkpoint against a newer one of the
  same log with an RFC 9162 consistency proof: the log extends what was signed then, or
  it forked (history rewritten), or it shrank.

JSON form of an export's proofs (hashes in hex, checkpoints as their signed-note text):

    {"format": "personal-data-ledger/inclusion-proofs/v1",
     "checkpoints": ["<signed checkpoint>", ...],
     "entries": [{"leaf": {<LeafSummary.to_json()>}, "proof": ["<hex>", ...],
                  "checkpoint": <index into checkpoints>}, ...]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ledger.audit.checkpoint import Checkpoint, SignedCheckpoint
from ledger.audit.errors import (
    AuditError,
    CheckpointRefused,
    LogForked,
    LogTampered,
    ProofFailed,
)
from ledger.audit.leaves import LeafSummary
from ledger.audit.merkle import verify_consistency, verify_inclusion
from ledger.audit.signing_keys import TrustedKeys
from ledger.audit.tree import MerkleTree

EXPORT_PROOFS_FORMAT = "personal-data-ledger/inclusion-proofs/v1"


@dataclass(frozen=True)
class InclusionEvidence:
    """One event of an export: its leaf's summary and the path to a checkpoint's root."""

    leaf: LeafSummary
    proof: tuple[bytes, ...]
    checkpoint: int  # index into ExportProofs.checkpoints

    def to_json(self) -> dict[str, Any]:
        return {"leaf": self.leaf.to_json(), "proof": [p.hex() for p in self.proof],
                "checkpoint": self.checkpoint}

    @classmethod
    def from_json(cls, document: Any) -> InclusionEvidence:
        if not isinstance(document, dict):
            raise ValueError("an entry is an object")
        proof, checkpoint = document.get("proof"), document.get("checkpoint")
        if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
            raise ValueError("an entry's 'proof' is a list of hex hashes")
        if not isinstance(checkpoint, int) or isinstance(checkpoint, bool):
            raise ValueError("an entry's 'checkpoint' is an index")
        leaf = document.get("leaf")
        if not isinstance(leaf, dict):
            raise ValueError("an entry's 'leaf' is an object")
        return cls(LeafSummary.from_json(leaf),
                   tuple(bytes.fromhex(p) for p in proof), checkpoint)


def evidence_for(leaf: LeafSummary, tree: MerkleTree, checkpoint: int) -> InclusionEvidence:
    """The proof for ``leaf`` in ``tree`` (built at the checkpoint's size)."""
    if not 0 <= leaf.sequence < tree.size or tree.leaf(leaf.sequence) != leaf.leaf_hash():
        raise ProofFailed(f"the tree of size {tree.size} does not hold this leaf at "
                          f"sequence {leaf.sequence}")
    return InclusionEvidence(leaf, tuple(tree.inclusion_proof(leaf.sequence)), checkpoint)


@dataclass(frozen=True)
class ExportProofs:
    checkpoints: tuple[str, ...]
    entries: tuple[InclusionEvidence, ...]

    def to_json(self) -> dict[str, Any]:
        return {"format": EXPORT_PROOFS_FORMAT, "checkpoints": list(self.checkpoints),
                "entries": [e.to_json() for e in self.entries]}

    @classmethod
    def from_json(cls, document: Any) -> ExportProofs:
        """Raises ``ProofFailed`` naming what is malformed."""
        try:
            if not isinstance(document, dict) or document.get("format") != (
                    EXPORT_PROOFS_FORMAT):
                raise ValueError(f"the proofs' format is not {EXPORT_PROOFS_FORMAT}")
            checkpoints, entries = document.get("checkpoints"), document.get("entries")
            if not isinstance(checkpoints, list) or not all(
                    isinstance(c, str) for c in checkpoints):
                raise ValueError("'checkpoints' is a list of signed checkpoints")
            if not isinstance(entries, list):
                raise ValueError("'entries' is a list")
            return cls(tuple(checkpoints),
                       tuple(InclusionEvidence.from_json(e) for e in entries))
        except ValueError as error:
            raise ProofFailed(f"the export's proofs are malformed: {error}") from None


@dataclass(frozen=True)
class ExportVerification:
    checkpoints: tuple[Checkpoint | None, ...]  # None: that checkpoint was refused
    verified: tuple[LeafSummary, ...]
    failures: tuple[str, ...]  # one line per failure: which checkpoint or entry, and why

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.verified)


def verify_export(proofs: ExportProofs, keys: TrustedKeys) -> ExportVerification:
    """Checks every checkpoint's signature and every entry's proof; reports each failure
    (an empty export verifies nothing, and says so)."""
    opened: list[Checkpoint | None] = []
    failures: list[str] = []
    for number, note in enumerate(proofs.checkpoints):
        try:
            opened.append(SignedCheckpoint.parse(note).verify(keys))
        except AuditError as error:
            opened.append(None)
            failures.append(f"checkpoint {number}: {error}")
    verified: list[LeafSummary] = []
    for entry in proofs.entries:
        leaf = entry.leaf
        if not 0 <= entry.checkpoint < len(opened):
            failures.append(f"sequence {leaf.sequence}: names checkpoint "
                            f"{entry.checkpoint}, which the export does not hold")
            continue
        checkpoint = opened[entry.checkpoint]
        if checkpoint is None:
            failures.append(f"sequence {leaf.sequence}: its checkpoint "
                            f"{entry.checkpoint} was refused")
        elif not verify_inclusion(leaf.sequence, checkpoint.size, leaf.leaf_hash(),
                                  entry.proof, checkpoint.root):
            failures.append(f"{checkpoint.origin}: sequence {leaf.sequence}: the proof does "
                            f"not lead to the root signed at size {checkpoint.size} (the "
                            "event or its proof was altered)")
        else:
            verified.append(leaf)
    if not proofs.entries:
        failures.append("the export lists no events to verify")
    return ExportVerification(tuple(opened), tuple(verified), tuple(failures))


class Consistency(StrEnum):
    EXTENDS = "extends"
    FORKED = "forked"
    TRUNCATED = "truncated"


@dataclass(frozen=True)
class ConsistencyVerdict:
    outcome: Consistency
    old: Checkpoint
    new: Checkpoint

    def describe(self) -> str:
        old, new = self.old, self.new
        if self.outcome is Consistency.EXTENDS:
            return f"{new.origin}: size {new.size} extends the checkpoint of size {old.size}"
        if self.outcome is Consistency.TRUNCATED:
            return (f"{new.origin}: the log shrank from the signed size {old.size} "
                    f"to {new.size}")
        return (f"{new.origin}: the log at size {new.size} does not extend the checkpoint "
                f"of size {old.size}: history was rewritten (forked)")

    def raise_unless_extends(self) -> None:
        if self.outcome is Consistency.FORKED:
            raise LogForked(self.describe())
        if self.outcome is Consistency.TRUNCATED:
            raise LogTampered(self.describe())


def check_consistency(old: Checkpoint, new: Checkpoint,
                      proof: Sequence[bytes]) -> ConsistencyVerdict:
    """Does ``new`` extend ``old`` (both already verified), by an RFC 9162 proof?

    A proof that does not verify is reported as a fork: the log's operator supplies the
    proof, and a log that cannot prove it extends a signed checkpoint has not.
    """
    if old.origin != new.origin:
        raise CheckpointRefused(f"checkpoints of {old.origin} and {new.origin} are of "
                                "different logs")
    if old.size > new.size:
        return ConsistencyVerdict(Consistency.TRUNCATED, old, new)
    ok = verify_consistency(old.size, new.size, old.root, new.root, proof)
    return ConsistencyVerdict(Consistency.EXTENDS if ok else Consistency.FORKED, old, new)
